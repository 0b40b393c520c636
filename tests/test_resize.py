"""MATLAB bicubic against basicsr's imresize (the reference), and the OpenCV modes."""

import numpy as np
import pytest

from lightsr.degrade.resize import MODES, imresize_matlab, resize


@pytest.fixture(scope="module")
def matlab(basicsr):
    from basicsr.utils.matlab_functions import imresize

    return imresize


@pytest.mark.parametrize("shape,scale", [
    ((256, 256, 3), 1 / 4), ((120, 88, 3), 1 / 2), ((99, 75, 3), 1 / 3), ((40, 56, 3), 1 / 8),
    ((32, 48, 3), 2), ((31, 17, 3), 3), ((20, 24, 3), 4), ((50, 60, 3), 0.7),
])
def test_matlab_bicubic_matches_basicsr(matlab, shape, scale):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    ours, ref = imresize_matlab(x, scale), matlab(x, scale)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-5  # required: < 1/255


def test_matlab_bicubic_on_a_photo_matches_basicsr_within_1_over_255(matlab, photo):
    ours, ref = imresize_matlab(photo, 0.25), matlab(photo, 0.25)
    assert np.abs(ours - ref).max() < 1 / 255


def test_matlab_bicubic_to_a_size_equals_by_scale_when_divisible():
    x = np.random.default_rng(1).random((64, 48, 3)).astype(np.float32)
    assert np.array_equal(imresize_matlab(x, size=(16, 12)), imresize_matlab(x, 0.25))


def test_matlab_bicubic_gray_2d():
    x = np.random.default_rng(2).random((30, 20)).astype(np.float32)
    assert imresize_matlab(x, 0.5).shape == (15, 10)


def test_constant_image_stays_constant_in_every_mode():
    x = np.full((37, 53, 3), 0.3, np.float32)
    for mode in MODES:
        y = resize(x, 11, 19, mode)
        assert y.shape == (11, 19, 3)
        assert np.allclose(y, 0.3, atol=1e-6), mode
