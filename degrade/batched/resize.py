"""Resizing as two matrix products, out = Wy @ x @ Wx^T, per sample.

Every mode the CPU appliers use (OpenCV's nearest/bilinear/bicubic/area/lanczos on float32,
MATLAB bicubic) is separable: one matrix per axis. Each is found by resizing an identity image
with the CPU applier itself along that axis, so it is that applier's weights to float rounding,
whatever OpenCV does inside. One exception: OpenCV's INTER_AREA switches method when either axis
is enlarged, to linear interpolation with area-style coefficients; that matrix is built from
OpenCV's formula (resize.cpp) and checked against OpenCV by the tests. Matrices are cached per
(mode, lengths) as bands (the non-zero run of each row) and rebuilt on the device for the whole
batch at once; zero padding serves samples of other sizes.
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


def _half_support(mode, n, on):
    """A bound on how far (in input pixels) from an output's centre its weights reach."""
    shrink = max(1.0, n / on)
    if mode in ("area", "nearest"):  # OpenCV's nearest takes floor(d * n / on), off-centre by up to n / on
        return shrink / 2 + 1.5
    if mode == "matlab_bicubic":  # antialiased: the cubic stretched by the shrink factor
        return 2 * shrink + 1
    return {"bilinear": 1.0, "bicubic": 2.0, "lanczos": 4.0}[mode]


def _axis_np(mode, n, on, area_linear):
    """(on, n) weights of resizing a length-n axis to on.

    The CPU applier's impulse responses, read from one resize of a comb: column j of an n x k
    image holds impulses at rows j, j + k, j + 2k ... With k wider than any output's reach, each
    output sees at most one impulse per column, so every weight comes out exactly, from a resize
    k wide instead of n (an identity image) wide.
    """
    if mode == "area" and area_linear:
        return _area_linear(n, on)
    k = 2 * math.ceil(_half_support(mode, n, on)) + 3
    if k >= n:
        return resize(np.eye(n, dtype=np.float32)[:, :, None], on, n, mode)[:, :, 0]
    comb = np.zeros((n, k), dtype=np.float32)
    comb[np.arange(n), np.arange(n) % k] = 1.0
    response = resize(comb[:, :, None], on, k, mode)[:, :, 0]
    centre = (np.arange(on) + 0.5) * (n / on) - 0.5
    first = np.clip(np.round(centre).astype(np.int64) - k // 2, 0, n - k)
    window = first[:, None] + np.arange(k)  # k consecutive inputs around each output: one per column
    rows = np.arange(on)[:, None]
    m = np.zeros((on, n), dtype=np.float32)
    m[rows, window] = response[rows, window % k]
    return m


@functools.lru_cache(maxsize=8192)  # bands are small (a few KB); sizes drawn per sample repeat
def _band(mode, n, on, area_linear):
    """An axis' (on, n) weights as a band: each output's first input and its run of weights
    (padded with zeros to the widest), which is all a device needs to rebuild the matrix."""
    if n == on and mode != "nearest":  # the CPU applier returns a copy
        return np.arange(n), np.ones((n, 1), dtype=np.float32)
    m = _axis_np(mode, n, on, area_linear)
    nonzero = m != 0
    first = np.where(nonzero.any(1), nonzero.argmax(1), 0)
    last = np.where(nonzero.any(1), n - 1 - nonzero[:, ::-1].argmax(1), 0)
    taps = int((last - first).max()) + 1
    idx = first[:, None] + np.arange(taps)
    weights = np.take_along_axis(m, np.minimum(idx, n - 1), 1) * (idx <= last[:, None])
    return first, weights.astype(np.float32)


def _dense(bands, out_len, in_len, device):
    """(B, out_len, in_len) matrices from per-sample bands: one transfer and one scatter for the
    batch (a dense matrix per sample made on the host would move far more bytes)."""
    taps = max(w.shape[1] for _, w in bands)
    starts = np.zeros((len(bands), out_len), dtype=np.int64)
    weights = np.zeros((len(bands), out_len, taps), dtype=np.float32)
    for i, (first, w) in enumerate(bands):
        starts[i, : first.size] = first
        weights[i, : w.shape[0], : w.shape[1]] = w
    starts, weights = torch.from_numpy(starts).to(device), torch.from_numpy(weights).to(device)
    index = (starts.unsqueeze(2) + torch.arange(taps, device=device)).clamp_(max=in_len - 1)
    return torch.zeros(len(bands), out_len, in_len, device=device).scatter_add_(2, index, weights)


def resize_batch(x, hs, ws, out_hs, out_ws, modes, clips):
    """Resize sample i of ``x`` from (hs[i], ws[i]) to (out_hs[i], out_ws[i]) with modes[i]."""
    b, c, h, w = x.shape
    oh, ow = max(out_hs), max(out_ws)
    area_linear = [out_hs[i] > hs[i] or out_ws[i] > ws[i] for i in range(b)]
    wy = _dense([_band(modes[i], hs[i], out_hs[i], area_linear[i]) for i in range(b)], oh, h, x.device)
    wx = _dense([_band(modes[i], ws[i], out_ws[i], area_linear[i]) for i in range(b)], ow, w, x.device)
    out = torch.matmul(torch.matmul(wy.unsqueeze(1), x), wx.transpose(1, 2).unsqueeze(1))
    clip = torch.tensor(clips, device=x.device).view(b, 1, 1, 1)
    return torch.where(clip, out.clamp(0.0, 1.0), out)
