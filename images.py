"""Reading and writing images robustly.

Images inside lightsr are ``float32`` arrays, ``H x W x 3``, RGB, values in [0, 1].
Files are decoded with OpenCV from bytes (so paths with any characters work, and so a
truncated file can be detected before the decoder silently pads it).
"""

import os
from dataclasses import dataclass

import cv2
import numpy as np

from lightsr.errors import ImageError
from lightsr.files import atomic_write_bytes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
ALPHA_POLICIES = ("drop", "white", "black", "error")


@dataclass(frozen=True)
class ImageInfo:
    """What a file held before conversion to float RGB."""

    bit_depth: int  # 8 or 16 (32 for float files)
    channels: int  # channels in the file: 1, 3 or 4
    had_alpha: bool


def list_images(folder):
    """Image files directly in ``folder``, sorted by name (the order defines sample indices)."""
    if not os.path.isdir(folder):
        raise ImageError(folder, "not a folder")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."))
    return [os.path.join(folder, n) for n in names]


def _check_complete(path, data):
    """libjpeg and libpng decode many truncated files with only a warning; refuse them."""
    if data[:3] == b"\xff\xd8\xff":
        # a JPEG ends with the EOI marker (some writers add padding after it)
        if b"\xff\xd9" not in data[-64:]:
            raise ImageError(path, "truncated JPEG (no end-of-image marker)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in data[-32:]:
            raise ImageError(path, "truncated PNG (no IEND chunk)")


def decode_image(data, path="<bytes>", alpha="drop"):
    """Decode encoded image bytes to (float32 RGB in [0, 1], ImageInfo)."""
    if alpha not in ALPHA_POLICIES:
        raise ValueError(f"alpha policy must be one of {ALPHA_POLICIES}, got {alpha!r}")
    rgb, a, info = decode_image_with_alpha(data, path)
    if a is not None:
        if alpha == "error":
            raise ImageError(path, "has an alpha channel (choose an alpha policy: drop, white or black)")
        if alpha == "white":
            rgb = rgb * a + (1.0 - a)
        elif alpha == "black":
            rgb = rgb * a
    return np.ascontiguousarray(rgb, dtype=np.float32), info


def decode_image_with_alpha(data, path="<bytes>"):
    """Decode to (float32 RGB, alpha as H x W x 1 float32 or None, ImageInfo)."""
    if len(data) == 0:
        raise ImageError(path, "empty file")
    _check_complete(path, data)
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(path, "not an image OpenCV can decode (corrupt or unsupported format)")
    if img.dtype == np.uint8:
        bit_depth, scale = 8, 255.0
    elif img.dtype == np.uint16:
        bit_depth, scale = 16, 65535.0
    elif img.dtype == np.float32:
        bit_depth, scale = 32, 1.0
    else:
        raise ImageError(path, f"unsupported sample type {img.dtype}")
    channels = 1 if img.ndim == 2 else img.shape[2]
    if img.ndim == 2:
        img = img[:, :, None]
    out = img.astype(np.float32) / np.float32(scale)
    if bit_depth == 32:
        out = np.clip(out, 0.0, 1.0)
    if channels == 1:
        rgb = np.repeat(out, 3, axis=2)
    elif channels == 2:  # gray + alpha
        rgb, a = np.repeat(out[:, :, :1], 3, axis=2), out[:, :, 1:2]
    elif channels in (3, 4):
        rgb = out[:, :, 2::-1]  # BGR(A) -> RGB
        a = out[:, :, 3:4] if channels == 4 else None
    else:
        raise ImageError(path, f"unsupported channel count {channels}")
    had_alpha = channels in (2, 4)
    alpha = np.ascontiguousarray(a, dtype=np.float32) if had_alpha else None
    return np.ascontiguousarray(rgb, dtype=np.float32), alpha, ImageInfo(bit_depth, channels, had_alpha)


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not an image") from None
    except OSError as e:
        raise ImageError(path, f"cannot read ({e.strerror})") from None


def read_image_with_alpha(path):
    """(float32 RGB, alpha H x W x 1 or None, ImageInfo): transparency kept apart from the colour."""
    return decode_image_with_alpha(_read_bytes(path), path)


def read_image(path, alpha="drop"):
    """Read a file as float32 RGB in [0, 1]; returns (image, ImageInfo).

    8- and 16-bit, gray, gray+alpha, RGB and RGBA files are accepted. ``alpha`` says what
    happens to transparency: ``drop`` keeps the colour values, ``white``/``black``
    composite over that background, ``error`` refuses the file.
    """
    return decode_image(_read_bytes(path), path, alpha)


def to_uint(img, bit_depth=8):
    """float [0, 1] -> uint8/uint16 with rounding (values outside [0, 1] are clipped)."""
    if bit_depth == 8:
        return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    if bit_depth == 16:
        return np.rint(np.clip(img, 0.0, 1.0) * 65535.0).astype(np.uint16)
    raise ValueError(f"bit depth must be 8 or 16, got {bit_depth}")


def encode_image(img, ext=".png", bit_depth=8, params=(), alpha=None):
    """Encode float RGB (or gray HxW), with an optional H x W x 1 alpha, to bytes of the given format."""
    if alpha is not None:
        img = np.concatenate([img, alpha.reshape(img.shape[0], img.shape[1], 1)], axis=2)
    arr = to_uint(img, bit_depth)
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[:, :, ::-1]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, [2, 1, 0, 3]]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(arr), list(params))
    if not ok:
        raise ImageError(f"<{ext}>", "OpenCV could not encode the image")
    return buf.tobytes()


def write_image(path, img, bit_depth=8, alpha=None):
    """Write float RGB in [0, 1] (and an optional alpha) atomically; the format follows the extension."""
    ext = os.path.splitext(path)[1].lower() or ".png"
    try:
        atomic_write_bytes(path, encode_image(img, ext, bit_depth, alpha=alpha))
    except OSError as e:
        raise ImageError(path, f"cannot write ({e.strerror})") from None
