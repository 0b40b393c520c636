"""Blur with a kernel per sample, and unsharp masking, as grouped convolutions.

Kernels of different sizes are zero-padded, centred, to the largest; each sample is padded by
reflecting its own edges, so the result is the CPU applier's (a true convolution with
BORDER_REFLECT_101) to float rounding. Each op in three parts (see ``steps``).
"""

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from lightsr.degrade.batched.canvas import reflect_pad
from lightsr.degrade.kernels import make_kernel
from lightsr.degrade.ops.blur import _TOLERANCE, _crop


def _grouped(x, weight, pad_y, pad_x, hs, ws):
    """Correlate channel j of sample i with weight[i] (B, kh, kw), edges reflected per sample."""
    b, c, h, w = x.shape
    padded = reflect_pad(x, hs, ws, pad_y, pad_x)
    kernels = weight.unsqueeze(1).expand(b, c, *weight.shape[1:]).reshape(b * c, 1, *weight.shape[1:])
    # full float32: cuDNN may use TF32 on Ampere and newer GPUs (~1e-3 relative), far from the CPU applier
    with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
        out = F.conv2d(padded.reshape(1, b * c, *padded.shape[2:]), kernels, groups=b * c)
    return out.view(b, c, h, w)


_DELTA = np.ones((1, 1), dtype=np.float32)  # a sample the op leaves as it is (static rounds)


def blur_prepare(params, hs, ws):
    """Host work of the ``blur`` op: each sample's kernel from make_kernel(its params), cropped to
    its significant weights as the CPU applier does (None: an identity kernel)."""
    kernels = [_DELTA if p is None else _crop(make_kernel(p), _TOLERANCE / 2) for p in params]
    return kernels, {"k": max(k.shape[0] for k in kernels)}, None


def blur_pack(kernels, dims):
    """The kernels, flipped (conv2d correlates) and zero-padded, centred, to dims["k"]."""
    size = dims["k"]
    weight = np.zeros((len(kernels), size, size), dtype=np.float32)
    for i, k in enumerate(kernels):
        o = (size - k.shape[0]) // 2
        weight[i, o:o + k.shape[0], o:o + k.shape[0]] = k[::-1, ::-1]
    return {"weight": weight}


def blur_execute(x, hs, ws, t, dims):
    size = t["weight"].shape[1]
    return _grouped(x, t["weight"], size // 2, size // 2, hs, ws)


@functools.lru_cache(maxsize=64)
def _gaussian_1d(k):
    """OpenCV's own Gaussian for ksize k and sigma 0 (what cv2.GaussianBlur(img, (k, k), 0) uses)."""
    return cv2.getGaussianKernel(k, 0, ktype=cv2.CV_64F).ravel().astype(np.float32)


def _gaussian_blur(x, hs, ws, g):
    """Separable blur with a 1-D kernel per sample, g (B, k)."""
    b, k = g.shape
    x = _grouped(x, g.view(b, k, 1), k // 2, 0, hs, ws)
    return _grouped(x, g.view(b, 1, k), 0, k // 2, hs, ws)


def usm_prepare(params, hs, ws):
    """Host work of Real-ESRGAN's unsharp mask (see ops.sharpen): each sample's window (odd), weight
    and threshold (None: a sample the op leaves as it is)."""
    rows = [(1, 0.0, 0.0) if p is None else (int(p["radius"]) + (1 - int(p["radius"]) % 2), float(p["weight"]),
                                              float(p["threshold"])) for p in params]
    return rows, {"k": max(r[0] for r in rows)}, None


def usm_pack(rows, dims):
    """Each sample's OpenCV Gaussian (its own window) zero-padded, centred, to dims["k"]."""
    size = dims["k"]
    g = np.zeros((len(rows), size), dtype=np.float32)
    for i, (k, _, _) in enumerate(rows):
        o = (size - k) // 2
        g[i, o:o + k] = _gaussian_1d(k)
    return {"g": g, "weight": np.array([r[1] for r in rows], dtype=np.float32),
            "threshold": np.array([r[2] for r in rows], dtype=np.float32)}


def usm_execute(x, hs, ws, t, dims):
    b = x.shape[0]
    blurred = _gaussian_blur(x, hs, ws, t["g"])
    residual = x - blurred
    mask = ((residual.abs() * 255.0) > t["threshold"].view(b, 1, 1, 1)).to(x.dtype)
    soft = _gaussian_blur(mask, hs, ws, t["g"])
    sharp = (x + t["weight"].view(b, 1, 1, 1) * residual).clamp(0.0, 1.0)
    return x + (sharp - x) * soft
