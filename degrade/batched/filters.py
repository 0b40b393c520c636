"""Blur with a kernel per sample, and unsharp masking, as grouped convolutions.

Kernels of different sizes are zero-padded, centred, to the largest; each sample is padded by
reflecting its own edges, so the result is the CPU applier's (a true convolution with
BORDER_REFLECT_101) to float rounding.
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


def blur_batch(x, hs, ws, params):
    """The ``blur`` op: each sample convolved with make_kernel(its params), each window cropped
    to its significant weights as the CPU applier does (the batch runs at the largest of them)."""
    kernels = [_crop(make_kernel(p), _TOLERANCE / 2) for p in params]
    size = max(k.shape[0] for k in kernels)
    weight = np.zeros((len(kernels), size, size), dtype=np.float32)
    for i, k in enumerate(kernels):
        o = (size - k.shape[0]) // 2
        weight[i, o:o + k.shape[0], o:o + k.shape[0]] = k[::-1, ::-1]  # conv2d correlates: flip for a convolution
    return _grouped(x, torch.from_numpy(weight).to(x.device), size // 2, size // 2, hs, ws)


@functools.lru_cache(maxsize=64)
def _gaussian_1d(k):
    """OpenCV's own Gaussian for ksize k and sigma 0 (what cv2.GaussianBlur(img, (k, k), 0) uses)."""
    return cv2.getGaussianKernel(k, 0, ktype=cv2.CV_64F).ravel().astype(np.float32)


def _gaussian_blur(x, hs, ws, k):
    g = torch.from_numpy(_gaussian_1d(k)).to(x.device)
    b = x.shape[0]
    x = _grouped(x, g.view(1, k, 1).expand(b, k, 1), k // 2, 0, hs, ws)
    return _grouped(x, g.view(1, 1, k).expand(b, 1, k), 0, k // 2, hs, ws)


def usm_batch(x, hs, ws, params):
    """Real-ESRGAN's unsharp mask (see ops.sharpen), grouped by window size."""
    out = torch.empty_like(x)
    radii = [int(p["radius"]) + (1 - int(p["radius"]) % 2) for p in params]
    for k in sorted(set(radii)):
        sel = [i for i, r in enumerate(radii) if r == k]
        idx = torch.tensor(sel, device=x.device)
        img, h_sel, w_sel = x[idx], hs[idx.cpu()], ws[idx.cpu()]
        blurred = _gaussian_blur(img, h_sel, w_sel, k)
        residual = img - blurred
        threshold = torch.tensor([params[i]["threshold"] for i in sel], device=x.device).view(-1, 1, 1, 1)
        weight = torch.tensor([params[i]["weight"] for i in sel], device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)
        mask = ((residual.abs() * 255.0) > threshold).to(x.dtype)
        soft = _gaussian_blur(mask, h_sel, w_sel, k)
        sharp = (img + weight * residual).clamp(0.0, 1.0)
        out[idx] = img + (sharp - img) * soft
    return out
