"""Resizing as two matrix products, out = Wy @ x @ Wx^T, per sample.

Every mode the CPU appliers use (OpenCV's nearest/bilinear/bicubic/area/lanczos on float32,
MATLAB bicubic) is separable: one matrix per axis. Each is found by resizing an identity image
with the CPU applier itself along that axis, so it is that applier's weights to float rounding,
whatever OpenCV does inside. One exception: OpenCV's INTER_AREA switches method when either axis
is enlarged, to linear interpolation with area-style coefficients; that matrix is built from
OpenCV's formula (resize.cpp) and checked against OpenCV by the tests. Matrices are cached per
(mode, lengths, device); zero padding serves samples of other sizes.
"""

import functools
import math

import numpy as np
import torch

from lightsr.degrade.resize import resize


def _area_linear(n, on):
    """OpenCV's INTER_AREA weights along an axis when the other axis is enlarged."""
    inv = on / n
    scale, m = 1.0 / inv, np.zeros((on, n), dtype=np.float32)  # computed as OpenCV does (floors depend on it)
    for d in range(on):
        s = math.floor(d * scale)
        f = float(np.float32((d + 1) - (s + 1) * inv))
        f = 0.0 if f <= 0 else f - math.floor(f)
        if s < 0:
            s, f = 0, 0.0
        if s >= n - 1:
            s, f = n - 1, 0.0
        m[d, s] += np.float32(1.0 - f)
        if f:
            m[d, s + 1] += np.float32(f)
    return m


@functools.lru_cache(maxsize=1024)
def _axis_np(mode, n, on, area_linear):
    """(on, n) weights of resizing a length-n axis to on."""
    if mode == "area" and area_linear:
        return _area_linear(n, on)
    return resize(np.eye(n, dtype=np.float32)[:, :, None], on, n, mode)[:, :, 0]


@functools.lru_cache(maxsize=1024)
def _axis(mode, n, on, area_linear, device):
    return torch.from_numpy(_axis_np(mode, n, on, area_linear)).to(device)


def _matrices(mode, h, w, oh, ow, device):
    if (h, w) == (oh, ow) and mode != "nearest":  # the CPU applier returns a copy
        return torch.eye(h, device=device), torch.eye(w, device=device)
    area_linear = oh > h or ow > w
    return _axis(mode, h, oh, area_linear, device), _axis(mode, w, ow, area_linear, device).T


def resize_batch(x, hs, ws, out_hs, out_ws, modes, clips):
    """Resize sample i of ``x`` from (hs[i], ws[i]) to (out_hs[i], out_ws[i]) with modes[i]."""
    b, c, h, w = x.shape
    oh, ow = max(out_hs), max(out_ws)
    wy = x.new_zeros(b, 1, oh, h)
    wxt = x.new_zeros(b, 1, w, ow)
    for i in range(b):
        my, mxt = _matrices(modes[i], hs[i], ws[i], out_hs[i], out_ws[i], x.device)
        wy[i, 0, : out_hs[i], : hs[i]] = my
        wxt[i, 0, : ws[i], : out_ws[i]] = mxt
    out = torch.matmul(torch.matmul(wy, x), wxt)
    clip = torch.tensor(clips, device=x.device).view(b, 1, 1, 1)
    return torch.where(clip, out.clamp(0.0, 1.0), out)
