"""Robust image reading: bit depths, gray, alpha, broken files; atomic writes."""

import os

import cv2
import numpy as np
import pytest

from lightsr.errors import ImageError
from lightsr.images import read_image, write_image


def save(path, arr):
    assert cv2.imwrite(str(path), arr)
    return path


def test_8bit_rgb_is_converted_from_bgr(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's order
    img, info = read_image(save(tmp_path / "r.png", bgr))
    assert img.dtype == np.float32 and img.shape == (4, 5, 3)
    assert np.allclose(img[0, 0], [1, 0, 0]) and info.bit_depth == 8 and not info.had_alpha


def test_16bit_keeps_its_precision(tmp_path):
    arr = (np.arange(60, dtype=np.uint16).reshape(4, 5, 3) * 1000)
    img, info = read_image(save(tmp_path / "d.png", arr))
    assert info.bit_depth == 16
    assert np.allclose(img[..., ::-1] * 65535, arr, atol=0.01)


def test_gray_becomes_three_equal_channels(tmp_path):
    img, info = read_image(save(tmp_path / "g.png", np.full((3, 3), 128, np.uint8)))
    assert img.shape == (3, 3, 3) and info.channels == 1 and np.allclose(img, 128 / 255)


@pytest.mark.parametrize("policy,expected", [("drop", 1.0), ("white", 1.0 * 0.2 + 0.8), ("black", 0.2)])
def test_alpha_policies(tmp_path, policy, expected):
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 1] = 255  # green
    bgra[..., 3] = 51  # alpha 0.2
    img, info = read_image(save(tmp_path / "a.png", bgra), alpha=policy)
    assert info.had_alpha
    assert img[0, 0, 1] == pytest.approx(expected, abs=1e-6)


def test_alpha_error_policy(tmp_path):
    with pytest.raises(ImageError, match="alpha"):
        read_image(save(tmp_path / "a.png", np.zeros((2, 2, 4), np.uint8)), alpha="error")


def test_truncated_jpeg_is_refused(tmp_path, photo):
    path = tmp_path / "p.jpg"
    write_image(str(path), photo)
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated JPEG") as e:
        read_image(cut)
    assert "cut.jpg" in str(e.value)


def test_truncated_png_is_refused(tmp_path, photo):
    path = tmp_path / "p.png"
    write_image(str(path), photo)
    cut = tmp_path / "cut.png"
    cut.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ImageError, match="truncated PNG"):
        read_image(cut)


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"hello, not an image", "not an image")])
def test_non_images_are_refused_with_the_file_name(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as e:
        read_image(path)
    assert str(path) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")


def test_write_roundtrip_8_and_16_bit(tmp_path, photo):
    for depth, tol in ((8, 0.5 / 255 + 1e-6), (16, 0.5 / 65535 + 1e-7)):
        path = str(tmp_path / f"x{depth}.png")
        write_image(path, photo, bit_depth=depth)
        back, info = read_image(path)
        assert info.bit_depth == depth and np.abs(back - photo).max() <= tol
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_written_files_get_the_usual_permissions(tmp_path, photo):
    path = tmp_path / "p.png"
    write_image(str(path), photo)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
