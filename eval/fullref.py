"""PSNR and SSIM as the SR literature computes them (basicsr's calculate_psnr / calculate_ssim).

Images are float RGB in [0, 1] (H x W x 3); values are compared on the 0-255 scale, on all
channels or on the BT.601 Y channel (``y=True``), with ``crop_border`` pixels removed on each
side (the convention: crop border = scale). basicsr's own functions need BGR input and its
torchvision shim; these are the same formulas on RGB, tested equal to basicsr's.
"""

import cv2
import numpy as np

from lightsr.color import rgb_to_y
from lightsr.errors import LightSRError


def _prepare(img, ref, crop_border, y):
    if img.shape != ref.shape:
        raise LightSRError(f"image is {img.shape[1]}x{img.shape[0]}, reference {ref.shape[1]}x{ref.shape[0]}: sizes differ")
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
        ref = ref[crop_border:-crop_border, crop_border:-crop_border]
    if y:
        img, ref = rgb_to_y(img)[:, :, None], rgb_to_y(ref)[:, :, None]
    return img.astype(np.float64) * 255.0, ref.astype(np.float64) * 255.0


def psnr(img, ref, crop_border=0, y=False):
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    a, b = _prepare(img, ref, crop_border, y)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


_WINDOW = None


def _ssim_channel(a, b):
    """SSIM of one 2-D channel on the 0-255 scale (Wang et al.; 11x11 Gaussian, sigma 1.5, valid region)."""
    global _WINDOW
    if _WINDOW is None:
        k = cv2.getGaussianKernel(11, 1.5)
        _WINDOW = k @ k.T
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filt(x):
        return cv2.filter2D(x, -1, _WINDOW)[5:-5, 5:-5]

    mu_a, mu_b = filt(a), filt(b)
    mu_aa, mu_bb, mu_ab = mu_a**2, mu_b**2, mu_a * mu_b
    s_aa, s_bb, s_ab = filt(a * a) - mu_aa, filt(b * b) - mu_bb, filt(a * b) - mu_ab
    ssim_map = ((2 * mu_ab + c1) * (2 * s_ab + c2)) / ((mu_aa + mu_bb + c1) * (s_aa + s_bb + c2))
    return float(ssim_map.mean())


def ssim(img, ref, crop_border=0, y=False):
    """Structural similarity, averaged over channels."""
    a, b = _prepare(img, ref, crop_border, y)
    if min(a.shape[:2]) < 11:
        raise LightSRError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[1]}x{a.shape[0]}")
    return float(np.mean([_ssim_channel(a[:, :, c], b[:, :, c]) for c in range(a.shape[2])]))
