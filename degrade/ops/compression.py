"""Lossy compression through OpenCV's codecs: JPEG (libjpeg) and WebP (libwebp)."""

import cv2
import numpy as np

from lightsr.degrade.ops.base import Op, check_choice, dist, register_op
from lightsr.errors import OpError

_JPEG_SAMPLING = {
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
}


def _to_bgr8(img):
    """Round to 8 bits (values clipped to [0, 1], ties to even as np.rint) in OpenCV's channel order."""
    return cv2.cvtColor(cv2.convertScaleAbs(np.clip(img, 0.0, 1.0), alpha=255.0), cv2.COLOR_RGB2BGR)


def _codec_roundtrip(op, img, ext, flags):
    ok, buf = cv2.imencode(ext, _to_bgr8(img), flags)
    if not ok:
        raise OpError(op, f"OpenCV could not encode {ext}")
    out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out.astype(np.float32) / np.float32(255.0)


@register_op
class JPEG(Op):
    """JPEG compression at an integer ``quality`` (libjpeg's scale, 1-100)."""

    name = "jpeg"

    def __init__(self, *, quality, sampling="420"):
        self.quality = dist(quality, "quality", low=1, high=100, integer=True)
        self.sampling = check_choice(str(sampling), "sampling", tuple(_JPEG_SAMPLING))

    def sample(self, rng, shape, ctx):
        return {"quality": int(self.quality.sample(rng)), "sampling": self.sampling}

    @staticmethod
    def apply(img, params):
        flags = [cv2.IMWRITE_JPEG_QUALITY, int(params["quality"]),
                 cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _JPEG_SAMPLING[params.get("sampling", "420")]]
        return _codec_roundtrip("jpeg", img, ".jpg", flags)


@register_op
class WebP(Op):
    """Lossy WebP compression at an integer ``quality`` (1-100)."""

    name = "webp"

    def __init__(self, *, quality):
        self.quality = dist(quality, "quality", low=1, high=100, integer=True)

    def sample(self, rng, shape, ctx):
        return {"quality": int(self.quality.sample(rng))}

    @staticmethod
    def apply(img, params):
        return _codec_roundtrip("webp", img, ".webp", [cv2.IMWRITE_WEBP_QUALITY, int(params["quality"])])
