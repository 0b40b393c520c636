"""Resizing as two matrix products, out = Wy @ x @ Wx^T, per sample.

Every mode the CPU appliers use (OpenCV's nearest/bilinear/bicubic/area/lanczos on float32,
MATLAB bicubic) is separable, so its weights are found by resizing with the CPU applier itself:
column j of Wy is the resize of an image whose rows are all e_j (its rows' weights sum to 1, so
the other axis leaves it unchanged), and likewise for Wx. The whole (h, w) -> (oh, ow) call is
reproduced, because OpenCV's weights along one axis can depend on the other (INTER_AREA switches
method when either axis is enlarged). The result is that applier's output to float rounding;
matrices are cached per call and device; zero padding serves samples of other sizes.
"""

import functools

import numpy as np
import torch

from lightsr.degrade.resize import resize

_MAX_CHANNELS = 4  # OpenCV resizes at most 4 channels in some modes (INTER_AREA)


@functools.lru_cache(maxsize=256)
def _matrices_np(mode, h, w, oh, ow):
    """(Wy (oh, h), Wx^T (w, ow)) of the CPU applier resizing (h, w) to (oh, ow) with ``mode``."""
    def axis(n, picks):
        parts = []
        for start in range(0, n, _MAX_CHANNELS):
            basis = np.zeros((h, w, min(_MAX_CHANNELS, n - start)), dtype=np.float32)
            for j in range(basis.shape[2]):
                picks(basis, start + j, j)
            parts.append(resize(basis, oh, ow, mode))
        return np.concatenate(parts, axis=2)

    def row(basis, i, j):
        basis[i, :, j] = 1.0

    def col(basis, i, j):
        basis[:, i, j] = 1.0

    wy = axis(h, row)[:, 0, :]  # (oh, h)
    wxt = axis(w, col)[0, :, :].T  # (w, ow)
    return np.ascontiguousarray(wy), np.ascontiguousarray(wxt)


@functools.lru_cache(maxsize=256)
def _matrices(mode, h, w, oh, ow, device):
    wy, wxt = _matrices_np(mode, h, w, oh, ow)
    return torch.from_numpy(wy).to(device), torch.from_numpy(wxt).to(device)


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
