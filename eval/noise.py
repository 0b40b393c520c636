"""Noise left in an SR output, estimated without a reference.

scikit-image's ``estimate_sigma`` (Donoho & Johnstone: the median absolute value of the finest
diagonal wavelet coefficients / 0.6745) measured at the *input's* size: an upscaler spreads each
input pixel over s x s output pixels, so noise that bicubic interpolation carries over becomes
smooth blobs a fine-scale estimator cannot see (0.1 where the input had 10). Bringing the output
back to the LR size (pixel area averaging) puts that noise where the estimator looks again, so a
model that amplifies or sharpens noise scores above bicubic and one that removes it below.
"""

import cv2
import numpy as np


def noise_sigma(sr, scale=1):
    """Estimated noise standard deviation of ``sr`` (H x W x C float in [0, 1]) in 0-255 units,
    the mean over channels, at 1/``scale`` of its size."""
    from skimage.restoration import estimate_sigma

    img = np.asarray(sr, dtype=np.float32)
    if scale > 1:
        h, w = img.shape[0] // scale, img.shape[1] // scale
        img = cv2.resize(img, (max(w, 1), max(h, 1)), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = img[:, :, None]
    return float(estimate_sigma(img, channel_axis=-1, average_sigmas=True)) * 255.0
