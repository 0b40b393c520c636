"""JPEG/WebP equal OpenCV's codecs; USM equals basicsr's."""

import cv2
import numpy as np
import pytest

from lightsr.degrade.ops import OPS
from lightsr.degrade.ops.sharpen import unsharp_mask


@pytest.mark.parametrize("quality", [30, 55, 95])
def test_jpeg_equals_opencv_at_the_same_quality(photo, quality):
    u8 = np.rint(photo * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    ref = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255
    out = OPS["jpeg"].apply(u8.astype(np.float32) / 255, {"quality": quality, "sampling": "420"})
    assert np.array_equal(out, ref)


def test_jpeg_quality_orders_the_error(photo):
    errors = [np.abs(OPS["jpeg"].apply(photo, {"quality": q}) - photo).mean() for q in (20, 50, 90)]
    assert errors[0] > errors[1] > errors[2] > 0


def test_webp_roundtrip_is_lossy_and_close(photo):
    out = OPS["webp"].apply(photo, {"quality": 60})
    err = np.abs(out - photo).mean()
    assert out.shape == photo.shape and 0 < err < 0.05


def test_usm_equals_basicsr(basicsr, photo):
    from basicsr.utils.img_process_util import usm_sharp

    ref = usm_sharp(photo.copy(), weight=0.5, radius=50, threshold=10)
    ours = unsharp_mask(photo, 0.5, 50, 10)
    assert np.abs(ours - ref).max() < 1e-5


def test_usm_equals_basicsr_torch_module(basicsr, photo):
    import torch
    from basicsr.utils.img_process_util import USMSharp

    ref = USMSharp()(torch.from_numpy(photo.transpose(2, 0, 1).copy())[None])[0].numpy().transpose(1, 2, 0)
    assert np.abs(unsharp_mask(photo, 0.5, 50, 10) - ref).max() < 1e-4


@pytest.mark.parametrize("threshold", [0, 1, 10, 37.5, 254])
def test_usm_mask_bound_is_real_esrgans_comparison(threshold):
    from lightsr.degrade.ops.sharpen import _level_bound

    bound = np.float32(_level_bound(threshold))
    near = np.float32(threshold / 255.0)
    x = np.concatenate([near + np.arange(-64, 65, dtype=np.float32) * np.spacing(near),
                        np.random.default_rng(0).random(10_000, dtype=np.float32)])
    assert np.array_equal(x > bound, x * np.float32(255) > threshold)


def test_usm_with_an_unreachable_threshold_leaves_the_image_alone(photo):
    img = np.ascontiguousarray(photo[:40, :40])
    for threshold in (float("inf"), 1e39):  # beyond float32: nothing is sharpened (and nothing hangs)
        assert np.array_equal(unsharp_mask(img, 0.5, 50, threshold), img)
