"""Blur application: every way ``convolve`` may take equals scipy's float64 convolution."""

import numpy as np
import pytest
from scipy import ndimage

from lightsr.degrade import load_pipeline
from lightsr.degrade.kernels import make_kernel
from lightsr.degrade.ops import blur

# the 1e-6 error budget of the method choice plus float32 rounding of the image and output
TOLERANCE = 2e-6


def reference(img, kernel):
    """scipy.ndimage.convolve in float64; its 'mirror' edges are OpenCV's reflect-101."""
    img = img.astype(np.float64)
    return np.stack([ndimage.convolve(img[:, :, c], kernel, mode="mirror") for c in range(img.shape[2])], axis=2)


def preset_kernels(name, n):
    pipe = load_pipeline(name)
    out = []
    for i in range(n):
        for step in pipe.sample((96, 96, 3), 0, i)["lq"]:
            if step["op"] == "blur":
                out.append(step["params"])
    return out


FORCE = {  # cost constants that make one method win
    "fft": {"_FFT_COST": -1},
    "direct": {"_FFT_COST": 10**9, "_SEPARABLE_OVERHEAD": 10**9},
    "separable": {"_FFT_COST": 10**9, "_CALL_OVERHEAD": 10**9},
}


@pytest.mark.parametrize("method", sorted(FORCE))
def test_each_method_equals_scipy_on_preset_kernels(photo, monkeypatch, method):
    for name, value in FORCE[method].items():
        monkeypatch.setattr(blur, name, value)
    img = np.ascontiguousarray(photo[:80, :72])
    params = preset_kernels("realesrgan", 12)[:14] + preset_kernels("bsrgan_plus", 6)[:6]
    families = {p["family"] for p in params}
    assert len(families) >= 3  # kernels of several shapes, sizes 7..21
    for p in params:
        k = make_kernel(p)
        ours = blur.convolve(img, k)
        assert ours.shape == img.shape and ours.dtype == np.float32
        assert np.abs(ours - reference(img, k)).max() < TOLERANCE, (method, p)


def test_asymmetric_kernels_are_flipped_as_a_convolution(photo):
    img = np.ascontiguousarray(photo[:64, :64])
    rng = np.random.default_rng(0)
    for n in (3, 9, 15, 21):
        k = rng.random((n, n))
        k[: n // 2] *= 0.1  # clearly not point-symmetric
        k /= k.sum()
        assert np.abs(blur.convolve(img, k) - reference(img, k)).max() < TOLERANCE


def test_the_window_is_cropped_only_where_the_weights_are_negligible():
    k = make_kernel({"family": "iso", "size": 21, "sigma": 1.0})
    cropped = blur._crop(k, 5e-7)
    assert cropped.shape[0] < 21 and cropped.shape[0] % 2 == 1
    assert k.sum() - cropped.sum() <= 5e-7
    wide = make_kernel({"family": "iso", "size": 21, "sigma": 3.0})
    assert blur._crop(wide, 5e-7).shape == (21, 21)


def test_sparse_tiles_keep_every_significant_weight():
    k = make_kernel({"family": "aniso", "size": 21, "sigma_x": 3.0, "sigma_y": 0.3, "theta": 0.8})
    sparse = blur._sparse(k, 5e-7)
    assert np.abs(k - sparse).sum() <= 5e-7 and np.count_nonzero(sparse) < k.size / 2
    tiles = blur._tiles(sparse)
    assert all(t.shape[0] <= blur._MAX_DIRECT and t.shape[1] <= blur._MAX_DIRECT for _, _, t in tiles)
    rebuilt = np.zeros_like(k)
    for r, c, t in tiles:
        rebuilt[r:r + t.shape[0], c:c + t.shape[1]] = t
    assert np.abs(rebuilt - sparse).max() < 1e-7  # float32 tiles


def test_low_rank_split_is_within_its_budget():
    for p in preset_kernels("realesrgan", 10):
        k = make_kernel(p)
        terms = blur._separable_terms(k, 5e-7)
        approx = sum(np.outer(col, row) for col, row in terms)
        assert np.abs(k - approx).sum() <= 5e-7 + 1e-12
    iso = make_kernel({"family": "iso", "size": 15, "sigma": 2.0})
    assert len(blur._separable_terms(iso, 5e-7)) == 1


@pytest.mark.parametrize("method", sorted(FORCE))
def test_gray_tiny_and_single_channel_images_keep_their_shape(monkeypatch, method):
    for name, value in FORCE[method].items():
        monkeypatch.setattr(blur, name, value)
    rng = np.random.default_rng(1)
    k = make_kernel({"family": "aniso", "size": 21, "sigma_x": 2.5, "sigma_y": 0.8, "theta": 0.6})
    for shape in [(1, 1, 3), (2, 5, 1), (7, 3, 3), (30, 25)]:
        img = rng.random(shape, dtype=np.float32)
        out = blur.convolve(img, k)
        assert out.shape == img.shape
        ref = reference(img.reshape(*shape[:2], -1), k).reshape(shape)
        assert np.abs(out - ref).max() < TOLERANCE, (method, shape)
