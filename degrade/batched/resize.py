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
    """OpenCV's INTER_AREA weights along an axis when the other axis is enlarged, as a band: each
    output reads inputs s and s + 1 with weights 1 - f and f, computed as OpenCV does (in double,
    f through float; the floors depend on it)."""
    inv = on / n
    d = np.arange(on, dtype=np.float64)
    s = np.floor(d * (1.0 / inv))
    f = ((d + 1) - (s + 1) * inv).astype(np.float32).astype(np.float64)
    f = np.where(f <= 0, 0.0, f - np.floor(f))
    s = s.astype(np.int64)
    f = np.where((s < 0) | (s >= n - 1), 0.0, f)
    s = np.clip(s, 0, n - 1)
    return s, np.stack([(1.0 - f).astype(np.float32), f.astype(np.float32)], 1)


def _half_support(mode, n, on):
    """A bound on how far (in input pixels) from an output's centre its weights reach."""
    shrink = max(1.0, n / on)
    if mode in ("area", "nearest"):  # OpenCV's nearest takes floor(d * n / on), off-centre by up to n / on
        return shrink / 2 + 1.5
    if mode == "matlab_bicubic":  # antialiased: the cubic stretched by the shrink factor
        return 2 * shrink + 1
    return {"bilinear": 1.0, "bicubic": 2.0, "lanczos": 4.0}[mode]


def _axis_window(mode, n, on, area_linear):
    """Resizing a length-n axis to on as windows: each output's first input and its weights over
    the next few inputs (zeros allowed), (on,) and (on, k).

    The CPU applier's impulse responses, read from one resize of a comb: column j of an n x k
    image holds impulses at rows j, j + k, j + 2k ... With k wider than any output's reach, each
    output sees at most one impulse per column, so every weight comes out exactly, from a resize
    k wide instead of n (an identity image) wide.
    """
    if mode == "area" and area_linear:
        return _area_linear(n, on)
    k = 2 * math.ceil(_half_support(mode, n, on)) + 3
    if k >= n:
        return np.zeros(on, dtype=np.int64), resize(np.eye(n, dtype=np.float32)[:, :, None], on, n, mode)[:, :, 0]
    comb = np.zeros((n, k), dtype=np.float32)
    comb[np.arange(n), np.arange(n) % k] = 1.0
    response = resize(comb[:, :, None], on, k, mode)[:, :, 0]
    centre = (np.arange(on) + 0.5) * (n / on) - 0.5
    first = np.clip(np.round(centre).astype(np.int64) - k // 2, 0, n - k)
    window = first[:, None] + np.arange(k)  # k consecutive inputs around each output: one per column
    return first, np.take_along_axis(response, window % k, 1)


def _axis_np(mode, n, on, area_linear):
    """The (on, n) weight matrix of ``_axis_window``."""
    first, weights = _axis_window(mode, n, on, area_linear)
    m = np.zeros((on, n + weights.shape[1]), dtype=np.float32)
    np.put_along_axis(m, first[:, None] + np.arange(weights.shape[1]), weights, 1)
    return m[:, :n]


@functools.lru_cache(maxsize=8192)  # bands are small (a few KB); sizes drawn per sample repeat
def _band(mode, n, on, area_linear):
    """An axis' (on, n) weights as a band: each output's first input and its run of weights
    (padded with zeros to the widest), which is all a device needs to rebuild the matrix."""
    if n == on and mode != "nearest":  # the CPU applier returns a copy
        return _identity_band(n)
    start, window = _axis_window(mode, n, on, area_linear)
    nonzero = window != 0  # trimmed to the non-zero run of each window
    k = window.shape[1]
    lo = np.where(nonzero.any(1), nonzero.argmax(1), 0)
    hi = np.where(nonzero.any(1), k - 1 - nonzero[:, ::-1].argmax(1), 0)
    taps = int((hi - lo).max()) + 1
    idx = lo[:, None] + np.arange(taps)
    weights = np.take_along_axis(window, np.minimum(idx, k - 1), 1) * (idx <= hi[:, None])
    return start + lo, weights.astype(np.float32)


def _identity_band(n):
    return np.arange(n), np.ones((n, 1), dtype=np.float32)


def resize_prepare(params, hs, ws):
    """Host work of a resize: each sample's two axis bands (None: kept at its size, identity
    bands), the largest output and band widths, and each sample's output size."""
    bands, sizes = [], []
    for p, h, w in zip(params, hs, ws):
        if p is None:
            bands.append((_identity_band(h), _identity_band(w)))
            sizes.append((h, w))
            continue
        oh, ow = int(p["h"]), int(p["w"])
        area_linear = oh > h or ow > w
        bands.append((_band(p["mode"], h, oh, area_linear), _band(p["mode"], w, ow, area_linear)))
        sizes.append((oh, ow))
    clip = np.array([p is not None and bool(p.get("clip")) for p in params])
    dims = {"oh": max(s[0] for s in sizes), "ow": max(s[1] for s in sizes),
            "ty": max(b[0][1].shape[1] for b in bands), "tx": max(b[1][1].shape[1] for b in bands)}
    return (bands, clip), dims, sizes


def _pack_axis(bands, out_len, taps):
    starts = np.zeros((len(bands), out_len), dtype=np.int64)
    weights = np.zeros((len(bands), out_len, taps), dtype=np.float32)
    for i, (first, w) in enumerate(bands):
        starts[i, : first.size] = first
        weights[i, : w.shape[0], : w.shape[1]] = w
    return starts, weights


def resize_pack(data, dims):
    """Bands padded to the dims' output lengths and widths: (B, out) first inputs and (B, out, taps)
    weights per axis, a small transfer (dense matrices made on the host would move far more bytes)."""
    bands, clip = data
    sy, wy = _pack_axis([b[0] for b in bands], dims["oh"], dims["ty"])
    sx, wx = _pack_axis([b[1] for b in bands], dims["ow"], dims["tx"])
    return {"starts_y": sy, "weights_y": wy, "starts_x": sx, "weights_x": wx, "clip": clip}


def _dense(starts, weights, in_len):
    """(B, out, in_len) matrices rebuilt from bands on the device by one scatter."""
    taps = weights.shape[2]
    index = (starts.unsqueeze(2) + torch.arange(taps, device=starts.device)).clamp_(max=in_len - 1)
    return torch.zeros(*starts.shape, in_len, device=starts.device).scatter_add_(2, index, weights)


def resize_execute(x, hs, ws, t, dims):
    b = x.shape[0]
    wy = _dense(t["starts_y"], t["weights_y"], x.shape[2])
    wx = _dense(t["starts_x"], t["weights_x"], x.shape[3])
    out = torch.matmul(torch.matmul(wy.unsqueeze(1), x), wx.transpose(1, 2).unsqueeze(1))
    return torch.where(t["clip"].view(b, 1, 1, 1), out.clamp(0.0, 1.0), out)
