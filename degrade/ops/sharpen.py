"""Unsharp masking (Real-ESRGAN sharpens its ground truth with it; also usable on the LQ)."""

import cv2
import numpy as np

from lightsr.degrade.distributions import check_number
from lightsr.degrade.ops.base import Op, dist, register_op


def unsharp_mask(img, weight, radius, threshold):
    """Real-ESRGAN's USM: sharpen where |x - blur(x)| * 255 > threshold, with a soft mask.

    sharp = clip(x + weight * (x - blur(x)), 0, 1); mask = blur(|residual| * 255 > threshold);
    out = mask * sharp + (1 - mask) * x. ``radius`` is the Gaussian window (made odd).
    """
    k = int(radius) + (1 - int(radius) % 2)
    blurred = cv2.GaussianBlur(img, (k, k), 0).reshape(img.shape)
    residual = img - blurred
    level = cv2.absdiff(img, blurred)
    level *= np.float32(255.0)
    mask = cv2.threshold(level, threshold, 1.0, cv2.THRESH_BINARY)[1]  # |residual| * 255 > threshold
    soft = cv2.GaussianBlur(mask, (k, k), 0).reshape(img.shape)
    sharp = np.clip(img + np.float32(weight) * residual, 0.0, 1.0)
    # soft * sharp + (1 - soft) * img, with one temporary less
    sharp -= img
    sharp *= soft
    sharp += img
    return sharp


@register_op
class USM(Op):
    """Unsharp mask with ``weight`` (may be a distribution), ``radius`` and ``threshold``."""

    name = "usm"

    def __init__(self, *, weight=0.5, radius=50, threshold=10):
        self.weight = dist(weight, "weight", low=0)
        self.radius = int(check_number(radius, "radius", low=1))
        self.threshold = float(check_number(threshold, "threshold", low=0))

    def sample(self, rng, shape, ctx):
        return {"weight": float(self.weight.sample(rng)), "radius": self.radius, "threshold": self.threshold}

    @staticmethod
    def apply(img, params):
        return unsharp_mask(img, params["weight"], params["radius"], params["threshold"])
