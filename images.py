"""Reading and writing images robustly.

Images inside lightsr are ``float32`` arrays, ``H x W x 3``, RGB, values in [0, 1].
Files are decoded with OpenCV from bytes (so paths with any characters work, and so a
truncated file can be detected before the decoder silently pads it).

Before anything is decoded, the file's own header is read here (PNG, JPEG, BMP, TIFF, WebP,
PNM): OpenCV has no header-only call in Python, and its own guard (``OPENCV_IO_MAX_IMAGE_PIXELS``,
2**30 by default, read once per process from the environment) lets a 124 KB 1-bit PNG of
32000 x 32000 allocate gigabytes, and answers larger ones with a bare ``cv2.error``. A file whose
header claims more than ``max_pixels`` (default :data:`MAX_PIXELS`) is refused by name, without
allocating; formats not parsed here are checked right after decoding (OpenCV's guard applies).

EXIF orientation is honoured, as cameras, browsers and PIL's ``exif_transpose`` do: JPEG, PNG
(``eXIf``) and WebP files are turned upright here (OpenCV's ``IMREAD_UNCHANGED``, needed for 16-bit
and alpha, ignores the tag); OpenCV turns TIFF files upright itself.
"""

import os
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from lightsr.errors import ImageError
from lightsr.files import atomic_write_bytes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
WRITE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
ALPHA_POLICIES = ("drop", "white", "black", "error")
# 134 MP: a 16384 x 8192 panorama or a 100 MP camera frame fits; as float32 RGB it is 1.6 GB.
MAX_PIXELS = 2**27


@dataclass(frozen=True)
class ImageInfo:
    """What a file held before conversion to float RGB."""

    bit_depth: int  # 8 or 16 (32 for float files)
    channels: int  # channels in the file: 1, 3 or 4
    had_alpha: bool


@dataclass(frozen=True)
class Header:
    """What a file's header says, read without decoding any pixel."""

    format: str  # png, jpeg, bmp, tiff, webp, pnm
    width: int
    height: int
    orientation: int = 1  # EXIF orientation (1: upright) that lightsr must apply itself; TIFF: 1 (OpenCV applies it)


def list_images(folder):
    """Image files directly in ``folder``, sorted by name (the order defines sample indices)."""
    if not os.path.isdir(folder):
        raise ImageError(folder, "not a folder")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."))
    return [os.path.join(folder, n) for n in names]


# ---------------------------------------------------------------- headers


def _tiff_tags(data, start, wanted):
    """{tag: first value} of the first IFD of the TIFF structure at ``data[start:]`` (TIFF files and EXIF blocks)."""
    order = data[start:start + 2]
    if order not in (b"II", b"MM"):
        return {}
    e = "<" if order == b"II" else ">"
    magic = struct.unpack_from(e + "H", data, start + 2)[0]
    if magic == 42:
        ifd = start + struct.unpack_from(e + "I", data, start + 4)[0]
        count_fmt, entry, count_size = "H", 12, 2
    elif magic == 43:  # BigTIFF
        ifd = start + struct.unpack_from(e + "Q", data, start + 8)[0]
        count_fmt, entry, count_size = "Q", 20, 8
    else:
        return {}
    n = struct.unpack_from(e + count_fmt, data, ifd)[0]
    out = {}
    for k in range(min(n, 4096)):
        pos = ifd + count_size + k * entry
        tag, kind = struct.unpack_from(e + "HH", data, pos)
        if tag in wanted:
            value_at = pos + (8 if entry == 12 else 12)  # after tag, type and count
            if kind == 3:  # SHORT
                out[tag] = struct.unpack_from(e + "H", data, value_at)[0]
            elif kind == 4:  # LONG
                out[tag] = struct.unpack_from(e + "I", data, value_at)[0]
            elif kind == 16:  # LONG8
                out[tag] = struct.unpack_from(e + "Q", data, value_at)[0]
    return out


def _exif_orientation(block):
    """The orientation tag of an EXIF block (optionally after its "Exif" header, then a TIFF structure); 1 if absent."""
    if block.startswith(b"Exif\0\0"):
        block = block[6:]
    try:
        value = _tiff_tags(block, 0, (0x0112,)).get(0x0112, 1)
    except struct.error:
        return 1
    return value if 1 <= value <= 8 else 1


def _png_header(data):
    width, height = struct.unpack_from(">II", data, 16)
    orientation, pos = 1, 8
    while pos + 8 <= len(data):  # chunk headers only: an eXIf chunk may sit anywhere before IEND
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"eXIf":
            orientation = _exif_orientation(data[pos + 8:pos + 8 + length])
        if kind == b"IEND":
            break
        pos += 12 + length
    return Header("png", width, height, orientation)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(data):
    pos, orientation = 2, 1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("marker expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # markers without a length
            pos += 2
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\0\0" and orientation == 1:
            orientation = _exif_orientation(data[pos + 4:pos + 2 + length])
        if marker in _SOF:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return Header("jpeg", width, height, orientation)
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        pos += 2 + length
    raise ValueError("no frame header")


def _webp_header(data):
    pos, found, orientation = 12, None, 1
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if kind == b"VP8X":
            w = int.from_bytes(data[body + 4:body + 7], "little") + 1
            h = int.from_bytes(data[body + 7:body + 10], "little") + 1
            found = found or (w, h)
        elif kind == b"VP8 ":
            w, h = struct.unpack_from("<HH", data, body + 6)
            found = found or (w & 0x3FFF, h & 0x3FFF)
        elif kind == b"VP8L":
            bits = struct.unpack_from("<I", data, body + 1)[0]
            found = found or ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        elif kind == b"EXIF":
            orientation = _exif_orientation(data[body:body + length])
        pos = body + length + (length & 1)
    if found is None:
        raise ValueError("no VP8/VP8L/VP8X chunk")
    return Header("webp", found[0], found[1], orientation)


def _pnm_header(data):
    tokens, pos = [], 2
    if data[:2] == b"P7":  # PAM: WIDTH / HEIGHT lines
        text = data[:4096].split(b"ENDHDR")[0].split()
        keys = dict(zip(text[1::2], text[2::2]))
        return Header("pnm", int(keys[b"WIDTH"]), int(keys[b"HEIGHT"]))
    while len(tokens) < 2 and pos < min(len(data), 4096):
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
        elif data[pos:pos + 1].isspace():
            pos += 1
        else:
            end = pos
            while end < len(data) and not data[end:end + 1].isspace() and data[end:end + 1] != b"#":
                end += 1
            tokens.append(int(data[pos:end]))
            pos = end
    return Header("pnm", abs(tokens[0]), abs(tokens[1]))


def read_header(data):
    """The :class:`Header` of encoded image bytes, or None for a format not parsed here.

    Raises ``ValueError`` when the bytes start like a known format but its header is broken."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png_header(data)
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_header(data)
        if data[:2] == b"BM":
            if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER
                w, h = struct.unpack_from("<HH", data, 18)
            else:
                w, h = struct.unpack_from("<ii", data, 18)
            return Header("bmp", abs(w), abs(h))
        if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
            tags = _tiff_tags(data, 0, (256, 257))
            return Header("tiff", tags[256], tags[257])  # orientation: OpenCV applies it for TIFF
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_header(data)
        if data[:1] == b"P" and data[1:2] in b"1234567fF" and len(data) > 2:
            return _pnm_header(data)
    except (struct.error, KeyError, IndexError, ValueError) as e:
        raise ValueError(f"broken header ({e})") from None
    return None


def check_pixels(path, width, height, max_pixels=None):
    """Refuse an image of more than ``max_pixels`` pixels (None: :data:`MAX_PIXELS`; 0: no limit)."""
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    if width <= 0 or height <= 0:
        raise ImageError(path, f"header says {width}x{height} pixels")
    if limit > 0 and width * height > limit:
        raise ImageError(path, f"is {width}x{height} ({width * height / 1e6:,.0f} MP), more than the limit of "
                               f"{limit / 1e6:,.0f} MP (--max-pixels)")


def check_min_size(path, img, min_side, what):
    """Refuse an image whose height or width is below ``min_side`` (``what`` says who needs it)."""
    h, w = img.shape[:2]
    if h < min_side or w < min_side:
        raise ImageError(path, f"is {w}x{h}, too small for {what} (at least {min_side}x{min_side})")


def _orient(img, orientation):
    """Apply an EXIF orientation to H x W (x C) pixels, as PIL's ``ImageOps.exif_transpose`` does."""
    if orientation in (5, 6, 7, 8):
        img = np.swapaxes(img, 0, 1)  # transpose
    flips = {2: (False, True), 3: (True, True), 4: (True, False), 5: (False, False), 6: (False, True),
             7: (True, True), 8: (True, False)}.get(orientation, (False, False))
    if flips[0]:
        img = img[::-1]
    if flips[1]:
        img = img[:, ::-1]
    return np.ascontiguousarray(img)


def _check_complete(path, data):
    """libjpeg and libpng decode many truncated files with only a warning; refuse them."""
    if data[:3] == b"\xff\xd8\xff":
        # a JPEG ends with the EOI marker (some writers add padding after it)
        if b"\xff\xd9" not in data[-64:]:
            raise ImageError(path, "truncated JPEG (no end-of-image marker)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in data[-32:]:
            raise ImageError(path, "truncated PNG (no IEND chunk)")


def decode_image(data, path="<bytes>", alpha="drop", max_pixels=None):
    """Decode encoded image bytes to (float32 RGB in [0, 1], ImageInfo)."""
    if alpha not in ALPHA_POLICIES:
        raise ValueError(f"alpha policy must be one of {ALPHA_POLICIES}, got {alpha!r}")
    rgb, a, info = decode_image_with_alpha(data, path, max_pixels)
    if a is not None:
        if alpha == "error":
            raise ImageError(path, "has an alpha channel (choose an alpha policy: drop, white or black)")
        if alpha == "white":
            rgb = rgb * a + (1.0 - a)
        elif alpha == "black":
            rgb = rgb * a
    return np.ascontiguousarray(rgb, dtype=np.float32), info


def decode_image_with_alpha(data, path="<bytes>", max_pixels=None):
    """Decode to (float32 RGB, alpha as H x W x 1 float32 or None, ImageInfo).

    Every failure is an :class:`ImageError` naming ``path``: a broken or truncated file, one
    larger than ``max_pixels``, one that does not fit in memory, a float file holding NaN/inf."""
    if len(data) == 0:
        raise ImageError(path, "empty file")
    _check_complete(path, data)
    try:
        header = read_header(data)
    except ValueError as e:
        raise ImageError(path, f"not a readable image: {e}") from None
    if header is not None:
        check_pixels(path, header.width, header.height, max_pixels)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ImageError(path, "not an image OpenCV can decode (corrupt or unsupported format)")
        if header is None:
            check_pixels(path, img.shape[1], img.shape[0], max_pixels)
        return _to_float_rgb(path, img, header.orientation if header else 1)
    except cv2.error as e:
        raise ImageError(path, f"OpenCV cannot decode it ({_first_line(e)})") from None
    except MemoryError:
        raise ImageError(path, "does not fit in memory once decoded (lower --max-pixels or use a smaller image)") from None


def _first_line(e):
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else type(e).__name__


def _to_float_rgb(path, img, orientation):
    if img.dtype == np.uint8:
        bit_depth, scale = 8, 255.0
    elif img.dtype == np.uint16:
        bit_depth, scale = 16, 65535.0
    elif img.dtype == np.float32:
        bit_depth, scale = 32, 1.0
        bad = int(np.count_nonzero(~np.isfinite(img)))
        if bad:
            raise ImageError(path, f"holds {bad} NaN or infinite sample(s) of {img.size} (a float image must be finite)")
    else:
        raise ImageError(path, f"unsupported sample type {img.dtype}")
    if orientation != 1:
        img = _orient(img, orientation)
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


def read_image_with_alpha(path, max_pixels=None):
    """(float32 RGB, alpha H x W x 1 or None, ImageInfo): transparency kept apart from the colour."""
    return decode_image_with_alpha(_read_bytes(path), path, max_pixels)


def read_image(path, alpha="drop", max_pixels=None):
    """Read a file as float32 RGB in [0, 1]; returns (image, ImageInfo).

    8- and 16-bit, gray, gray+alpha, RGB and RGBA files are accepted. ``alpha`` says what
    happens to transparency: ``drop`` keeps the colour values, ``white``/``black``
    composite over that background, ``error`` refuses the file. Files larger than
    ``max_pixels`` (None: :data:`MAX_PIXELS`; 0: no limit of lightsr's own) are refused
    from their header, before any pixel is decoded.
    """
    return decode_image(_read_bytes(path), path, alpha, max_pixels)


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
    if ext not in WRITE_EXTENSIONS + (".ppm", ".pgm"):
        raise ImageError(path, f"unsupported image extension {ext!r} (use {', '.join(WRITE_EXTENSIONS)})")
    try:
        data = encode_image(img, ext, bit_depth, alpha=alpha)
    except cv2.error as e:
        raise ImageError(path, f"OpenCV cannot encode it as {ext} ({_first_line(e)})") from None
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        raise ImageError(path, f"cannot write ({e.strerror or e})") from None
