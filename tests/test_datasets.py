"""Torch datasets: same batches for any worker count; paired folders; albumentations interop."""

import albumentations as A
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lightsr.degrade import load_pipeline
from lightsr.degrade.datasets import DegradedPatches, PairedFolders, collate
from lightsr.degrade.interop import LightSRDegradation
from lightsr.errors import LightSRError
from lightsr.images import write_image


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("hr")
    for i, (y, x) in enumerate([(0, 0), (100, 200), (300, 50)]):
        write_image(str(d / f"img{i}.png"), astronaut[y:y + 150, x:x + 170])
    return d


def batches(ds, workers):
    loader = DataLoader(ds, batch_size=4, num_workers=workers, collate_fn=collate)
    return [b for b in loader]


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_same_batches_for_any_number_of_workers(hr_dir):
    ds = DegradedPatches(str(hr_dir), load_pipeline("realesrgan"), patch_size=64, seed=3, samples_per_image=3)
    ref = batches(ds, 0)
    for workers in (1, 4):
        got = batches(ds, workers)
        for a, b in zip(ref, got):
            assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
            assert a["record"] == b["record"]
    assert ref[0]["lr"].shape == (4, 3, 16, 16) and ref[0]["hr"].shape == (4, 3, 64, 64)


def test_items_replay_from_their_records(hr_dir):
    pipe = load_pipeline("realesrgan")
    ds = DegradedPatches(str(hr_dir), pipe, patch_size=64, seed=1)
    item = ds[2]
    plain = item["hr_plain"].numpy().transpose(1, 2, 0)
    lr = pipe.replay(plain, item["record"])
    assert np.array_equal(lr, item["lr"].numpy().transpose(1, 2, 0))


def test_epochs_draw_new_patches(hr_dir):
    ds = DegradedPatches(str(hr_dir), load_pipeline("bicubic"), patch_size=64, seed=1)
    a = ds[0]["hr"]
    ds.set_epoch(1)
    assert not torch.equal(a, ds[0]["hr"])


def test_small_images_are_padded_to_the_patch(tmp_path, photo):
    write_image(str(tmp_path / "small.png"), photo[:40, :50])
    ds = DegradedPatches(str(tmp_path), load_pipeline("bicubic"), patch_size=64)
    assert ds[0]["hr"].shape == (3, 64, 64)


def test_patch_must_be_a_multiple_of_the_scale(hr_dir):
    with pytest.raises(LightSRError, match="multiple"):
        DegradedPatches(str(hr_dir), load_pipeline("realesrgan"), patch_size=66)


def test_paired_folders_align_and_augment(tmp_path, photo):
    pipe = load_pipeline("bicubic")
    (tmp_path / "lr").mkdir()
    (tmp_path / "hr").mkdir()
    for i in range(2):
        hr = photo[i * 16:i * 16 + 128, :128]
        lr, _ = pipe(hr, seed=0, index=i)
        write_image(str(tmp_path / "hr" / f"p{i}.png"), hr)
        write_image(str(tmp_path / "lr" / f"p{i}.png"), lr)
    ds = PairedFolders(str(tmp_path / "lr"), str(tmp_path / "hr"), scale=4, patch_size=64, seed=0)
    for i in range(len(ds)):
        item = ds[i]
        lr, hr = item["lr"].numpy().transpose(1, 2, 0), item["hr"].numpy().transpose(1, 2, 0)
        assert lr.shape == (16, 16, 3) and hr.shape == (64, 64, 3)
        # the crop and flips are the same on both: the bicubic LR of the HR crop is close to the LR crop
        down = pipe(np.ascontiguousarray(hr), 0, 0)[0]
        assert np.abs(down[2:-2, 2:-2] - lr[2:-2, 2:-2]).mean() < 0.01


def test_paired_folders_report_missing_partners(tmp_path, photo):
    (tmp_path / "lr").mkdir()
    (tmp_path / "hr").mkdir()
    write_image(str(tmp_path / "hr" / "only_hr.png"), photo[:64, :64])
    write_image(str(tmp_path / "lr" / "only_lr.png"), photo[:16, :16])
    with pytest.raises(LightSRError, match="no LR for only_hr.*no HR for only_lr"):
        PairedFolders(str(tmp_path / "lr"), str(tmp_path / "hr"), scale=4)


def test_albumentations_compose_step(photo):
    u8 = np.rint(photo * 255).astype(np.uint8)
    t = A.Compose([A.RandomCrop(128, 128), LightSRDegradation(load_pipeline("realesrgan"))], seed=4, save_applied_params=True)
    out = t(image=u8)
    assert out["image"].shape == (32, 32, 3) and out["image"].dtype == np.uint8
    t2 = A.Compose([A.RandomCrop(128, 128), LightSRDegradation(load_pipeline("realesrgan"))], seed=4)
    assert np.array_equal(t2(image=u8)["image"], out["image"])
    record = dict(out["applied_transforms"])["LightSRDegradation"]["record"]
    assert record["pipeline"] == "realesrgan" and record["hr_shape"] == [128, 128]
