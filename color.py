"""BT.601 YCbCr as MATLAB's rgb2ycbcr defines it (the SR literature's Y channel).

Y = 16 + 65.481 R + 128.553 G + 24.966 B (R, G, B in [0, 1], Y in [16, 235] on the 0-255
scale); returned here in [0, 1] (divided by 255), the range SR models on Y are trained on.
"""

import numpy as np

_RGB2YCBCR = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_YCBCR2RGB = np.linalg.inv(_RGB2YCBCR)


def rgb_to_ycbcr(img):
    """H x W x 3 RGB in [0, 1] -> YCbCr in [0, 1] (float32)."""
    return (img.astype(np.float64) @ _RGB2YCBCR.T + _OFFSET).astype(np.float32)


def ycbcr_to_rgb(img):
    return ((img.astype(np.float64) - _OFFSET) @ _YCBCR2RGB.T).astype(np.float32)


def rgb_to_y_tensor(x):
    """The same luma of an N x 3 x H x W torch tensor in [0, 1] (differentiable), N x 1 x H x W."""
    w = x.new_tensor(_RGB2YCBCR[0]).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True) + float(_OFFSET[0])


def rgb_to_y(img):
    """The Y channel (H x W) of an RGB image in [0, 1]."""
    return (img.astype(np.float64) @ _RGB2YCBCR[0] + _OFFSET[0]).astype(np.float32)
