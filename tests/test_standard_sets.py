"""Standard datasets laid out as they ship: discovery, pairing, mod-crop, LR generation, the paper table."""

import json
import subprocess
import sys

import numpy as np
import pytest

from lightsr.degrade.resize import imresize_matlab
from lightsr.errors import LightSRError
from lightsr.eval.standard_sets import load_pairs, locate
from lightsr.images import write_image


@pytest.fixture(scope="module")
def root(tmp_path_factory, astronaut):
    r = tmp_path_factory.mktemp("datasets")

    def img(rel, y, x, h=50, w=62, scale=1):
        path = r / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        patch = astronaut[y:y + h, x:x + w]
        if scale > 1:
            patch = np.clip(imresize_matlab(patch[: h - h % scale, : w - w % scale], 1 / scale), 0, 1)
        write_image(str(path), patch)

    # EDSR benchmark layout: HR + LR_bicubic/X4/<name>x4.png
    for i, n in enumerate(("baby", "bird")):
        img(f"Set5/HR/{n}.png", 10 * i, 0)
        img(f"Set5/LR_bicubic/X4/{n}x4.png", 10 * i, 0, scale=4)
    # BasicSR layout: GTmod12 + LRbicx4
    img("Set14/GTmod12/comic.png", 0, 100, 48, 60)
    img("Set14/LRbicx4/comic.png", 0, 100, 48, 60, scale=4)
    # Huang et al.'s layout: image_SRF_4/img_001_SRF_4_HR.png / _LR.png
    img("BSD100/image_SRF_4/img_001_SRF_4_HR.png", 200, 200, 48, 48)
    img("BSD100/image_SRF_4/img_001_SRF_4_LR.png", 200, 200, 48, 48, scale=4)
    # HR only (LR made by MATLAB bicubic)
    img("Urban100/img_001.png", 300, 10, 53, 61)
    img("Manga109/HR/AisazuNihaIrarenai.png", 100, 300)
    img("DIV2K/DIV2K_train_HR/0001.png", 0, 0)
    img("DIV2K/DIV2K_train_LR_bicubic/X4/0001x4.png", 0, 0, scale=4)
    img("Flickr2K/Flickr2K_HR/000001.png", 5, 5)
    img("Flickr1024/Train/0001_L.png", 5, 5)
    img("Flickr1024/Train/0001_R.png", 5, 9)
    img("OutdoorSceneTraining/animal/animal_0001.png", 5, 5)
    img("RealSR(V3)/Canon/Test/4/Canon_001_HR.png", 40, 40, 64, 64)
    img("RealSR(V3)/Canon/Test/4/Canon_001_LR4.png", 41, 40, 64, 64)  # the same size as the HR, as V3 ships
    img("DRealSR/x4/Test_x4/test_HR/DSC_1454_x1.png", 60, 60, 64, 64)
    img("DRealSR/x4/Test_x4/test_LR/DSC_1454_x4.png", 60, 60, 64, 64, scale=4)
    return r


@pytest.mark.parametrize("name,count,has_lr", [
    ("set5", 2, True), ("set14", 1, True), ("b100", 1, True), ("bsd100", 1, True), ("urban100", 1, False),
    ("manga109", 1, False), ("div2k", 1, True), ("flickr2k", 1, False), ("flickr1024", 2, False), ("ost", 1, False),
    ("realsr", 1, True), ("drealsr", 1, True),
])
def test_every_dataset_is_found_in_its_shipped_layout(root, name, count, has_lr):
    _, pairs = locate(name, str(root), 4)
    assert len(pairs) == count
    assert all((lr is not None) == has_lr for _, _, lr in pairs)


def test_pairs_are_mod_cropped_and_lr_is_matlab_bicubic(root):
    (stem, lr, hr), = load_pairs("urban100", str(root), 4)
    assert stem == "img_001" and hr.shape == (52, 60, 3) and lr.shape == (13, 15, 3)
    expected = np.rint(np.clip(imresize_matlab(hr, 0.25), 0, 1) * 255) / 255
    assert np.abs(lr - expected).max() < 1e-6
    pairs = load_pairs("set5", str(root), 4)
    assert [p[0] for p in pairs] == ["baby", "bird"] and pairs[0][1].shape == (12, 15, 3)
    assert load_pairs("b100", str(root), 4)[0][0] == "img_001"
    (_, lr, hr), = load_pairs("realsr", str(root), 4)
    assert lr.shape == (16, 16, 3) and hr.shape == (64, 64, 3)


def test_mis_laid_datasets_say_what_was_expected_where(root, tmp_path):
    with pytest.raises(LightSRError, match=r"set5: expected a folder Set5 in"):
        locate("set5", str(tmp_path), 4)
    (tmp_path / "Set14" / "images").mkdir(parents=True)
    with pytest.raises(LightSRError, match=r"set14: no HR images in .*Set14: expected HR/\* or GTmod12/\*"):
        locate("set14", str(tmp_path), 4)
    with pytest.raises(LightSRError, match="unknown dataset 'set6'"):
        locate("set6", str(root), 4)


def test_wrong_lr_size_is_reported(root, tmp_path):
    (tmp_path / "Set5" / "HR").mkdir(parents=True)
    (tmp_path / "Set5" / "LR_bicubic" / "X4").mkdir(parents=True)
    write_image(str(tmp_path / "Set5" / "HR" / "x.png"), np.zeros((40, 40, 3), np.float32))
    write_image(str(tmp_path / "Set5" / "LR_bicubic" / "X4" / "xx4.png"), np.zeros((8, 10, 3), np.float32))
    with pytest.raises(LightSRError, match="xx4.png: is 10x8, the x4 LR of x.png"):
        load_pairs("set5", str(tmp_path), 4)


def test_paper_style_table(root, tmp_path):
    from lightsr.models import create_model
    from lightsr.models.weights import save_model

    model = tmp_path / "fsrcnn.safetensors"
    save_model(create_model("fsrcnn", scale=4), str(model))
    cmd = [sys.executable, "-m", "lightsr", "eval", "--benchmark", "set5,set14,b100,urban100,manga109", "--root", str(root),
           "--model", str(model), "--quiet"]
    res = subprocess.run(cmd + ["--format", "md"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "| method | Set5 (2) | Set14 (1) | B100 (1) | Urban100 (1) | Manga109 (1) |"
    assert lines[2].startswith("| fsrcnn x4 (this run) |")
    assert lines[3].startswith("| fsrcnn x4 (published: SAFMN") and "30.71/0.8657" in lines[3]
    assert lines[4].startswith("| bicubic x4 (this run) |")
    data = json.loads(subprocess.run(cmd + ["--format", "json"], capture_output=True, text=True).stdout)
    assert set(data["results"]) == {"set5", "set14", "b100", "urban100", "manga109"}
    assert data["published"]["Set5"] == [30.71, 0.8657]
