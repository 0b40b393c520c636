"""Unsharp masking (Real-ESRGAN sharpens its ground truth with it; also usable on the LQ)."""

import functools

import cv2
import numpy as np

from lightsr.degrade.distributions import check_number
from lightsr.degrade.kernels import MAX_KERNEL_SIZE
from lightsr.degrade.ops.base import Op, dist, register_op


@functools.lru_cache(maxsize=16)
def _level_bound(threshold):
    """The largest float32 x with float32(x * 255) <= threshold: |r| > it exactly when
    |r| * 255 > threshold as Real-ESRGAN computes it (rounding is monotone), one pass less."""
    if not threshold < float(np.finfo(np.float32).max):  # beyond float32 (or nan): no |r| * 255 exceeds it
        return float("inf")
    t = np.float32(threshold)
    x = np.float32(threshold / 255.0)
    while np.float32(x * np.float32(255.0)) > t:
        x = np.nextafter(x, np.float32(-np.inf))
    while np.float32(np.nextafter(x, np.float32(np.inf)) * np.float32(255.0)) <= t:
        x = np.nextafter(x, np.float32(np.inf))
    return float(x)


def unsharp_mask(img, weight, radius, threshold):
    """Real-ESRGAN's USM: sharpen where |x - blur(x)| * 255 > threshold, with a soft mask.

    sharp = clip(x + weight * (x - blur(x)), 0, 1); mask = blur(|residual| * 255 > threshold);
    out = mask * sharp + (1 - mask) * x. ``radius`` is the Gaussian window (made odd).
    """
    k = int(radius) + (1 - int(radius) % 2)
    blurred = cv2.GaussianBlur(img, (k, k), 0).reshape(img.shape)
    # the 0/1 mask as bytes: OpenCV filters 8-bit input into float a third faster, same sums
    mask = np.greater(cv2.absdiff(img, blurred), _level_bound(threshold)).view(np.uint8)
    gauss = cv2.getGaussianKernel(k, 0, cv2.CV_32F)
    soft = cv2.sepFilter2D(mask, cv2.CV_32F, gauss, gauss, borderType=cv2.BORDER_REFLECT_101).reshape(img.shape)
    sharp = cv2.addWeighted(img, 1.0 + weight, blurred, -weight, 0.0).reshape(img.shape)  # x + w (x - blur)
    np.clip(sharp, 0.0, 1.0, out=sharp)
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
        self.radius = int(check_number(radius, "radius", low=1, high=MAX_KERNEL_SIZE))  # the window is radius (made odd) wide
        self.threshold = float(check_number(threshold, "threshold", low=0))

    def sample(self, rng, shape, ctx):
        return {"weight": float(self.weight.sample(rng)), "radius": self.radius, "threshold": self.threshold}

    @staticmethod
    def apply(img, params):
        return unsharp_mask(img, params["weight"], params["radius"], params["threshold"])
