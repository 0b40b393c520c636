"""Noise ops on a batch: the numpy appliers' fields, element for element.

Each position draws the stream element of its index in its own sample's C-order layout
(``canvas.element_index``), with its own sample's seed, so a sample's noise does not depend on
the batch it is in or on the canvas around it.
"""

import functools

import numpy as np
import torch

from lightsr.degrade import counter_rng
from lightsr.degrade.batched.canvas import element_index
from lightsr.degrade.batched.compiled import maybe_compiled
from lightsr.degrade.batched.levels import div255
from lightsr.degrade.counter_poisson import poisson_torch
from lightsr.degrade.counter_rng import keys_torch, normal_torch
from lightsr.degrade.ops.noise import LUMA, _covariance_factor, poisson_grid

_normals = maybe_compiled(normal_torch)
_bits = maybe_compiled(counter_rng.bits_torch)


def _finish(out, params):
    rnd = torch.tensor([bool(p.get("round")) for p in params], device=out.device).view(-1, 1, 1, 1)
    clip = torch.tensor([bool(p.get("clip")) for p in params], device=out.device).view(-1, 1, 1, 1)
    out = torch.where(rnd, div255(torch.round(out * 255.0)), out)
    return torch.where(clip, out.clamp(0.0, 1.0), out)


def _gaussian_field(x, hs, ws, params):
    b, c, h, w = x.shape
    k1, k2 = (k.view(b, 1, 1, 1) for k in keys_torch([p["seed"] for p in params], x.device))
    hs_d, ws_d = hs.to(x.device), ws.to(x.device)
    sigma = torch.tensor([p["sigma"] / 255.0 for p in params], device=x.device, dtype=torch.float32).view(b, 1, 1, 1)
    # colour and gray samples in one pass: a gray sample reads its pixel's element in every channel
    gray = torch.tensor([p["mode"] == "gray" for p in params], device=x.device).view(b, 1, 1, 1)
    index = torch.where(gray, element_index(hs_d, ws_d, c, (b, 1, h, w), per_channel=False),
                        element_index(hs_d, ws_d, c, (b, c, h, w)))
    z = _normals(k1, k2, index)
    field = z * sigma
    correlated = [i for i, p in enumerate(params) if p["mode"] == "correlated"]
    if correlated:
        idx = torch.tensor(correlated, device=x.device)
        z = z[idx] if c == 3 else _normals(  # (h, w, 3) draws: the colour layout
            k1[idx], k2[idx], element_index(hs_d[idx], ws_d[idx], 3, (len(correlated), 3, h, w)))
        a = torch.from_numpy(np.stack([_covariance_factor(params[i]["cov"]) for i in correlated])).to(x.device)
        field[idx] = torch.einsum("bjhw,bcj->bchw", z, a)
    return field


def gaussian_batch(x, hs, ws, params):
    return _finish(x + _gaussian_field(x, hs, ws, params), params)


def speckle_batch(x, hs, ws, params):
    base = x.clamp(0.0, 1.0)
    return _finish(base + base * _gaussian_field(x, hs, ws, params), params)


def _luma_u8(rounded):
    luma = torch.tensor(LUMA, device=rounded.device)
    y = (rounded * luma.view(1, 3, 1, 1)).sum(1, keepdim=True)
    return torch.round(y * 255.0).clamp(0, 255)


def _distinct_levels(u8, hs, ws):
    """Real-ESRGAN's photon-count scale per sample as log2 of 2^ceil(log2(distinct 8-bit values
    in it)), a (B,) int64 tensor on the device (no transfer to the host)."""
    b, c, h, w = u8.shape
    inside = (torch.arange(h, device=u8.device).view(1, 1, h, 1) < hs.to(u8.device).view(b, 1, 1, 1)) & \
             (torch.arange(w, device=u8.device).view(1, 1, 1, w) < ws.to(u8.device).view(b, 1, 1, 1))
    inside = inside.expand(b, c, h, w)
    seen = torch.zeros(b, 256, device=u8.device)
    seen.scatter_add_(1, u8.long().reshape(b, -1), inside.reshape(b, -1).float())
    n = (seen > 0).sum(1).clamp_min(1).double()
    return torch.ceil(torch.log2(n)).long()


_SCALES = 9  # "auto" photon counts: 2^0 .. 2^8
_TORCH_GRID_BITS = 10


@functools.lru_cache(maxsize=4)
def _grid_tables(device):
    """The 8-bit Poisson tables (``ops.noise.poisson_grid``) of every "auto" scale stacked for
    lookups on the device, the thresholds padded past each table's width with values no m
    reaches. A count is found by a fixed number of bisection steps between the slice's first
    and last count: no data-dependent loop, no host round trip. 1024 slices per level (the CPU
    uses 4096) keep the nine scales' tables at 19 MB."""
    grids = [poisson_grid(float(2**k), _TORCH_GRID_BITS) for k in range(_SCALES)]
    width = max(g[3] for g in grids)
    thresholds = np.full((_SCALES, 256, width), 1 << 24, dtype=np.int64)
    for k, g in enumerate(grids):
        thresholds[k, :, : g[3]] = g[2]
    first, last = np.stack([g[0] for g in grids]), np.stack([g[1] for g in grids])
    steps = int(np.ceil(np.log2((last - first).max() + 1)))
    def to(a):
        return torch.from_numpy(a.astype(np.int32)).to(device)
    return to(first.ravel()), to(last.ravel()), to(thresholds.ravel()), width, steps


def _lookup(bits, level, scale_log2, first, last, thresholds, width, steps):
    m = bits >> 9
    row = scale_log2 * 256 + level
    slot = row * (1 << _TORCH_GRID_BITS) + (m >> (23 - _TORCH_GRID_BITS))
    lo, hi = first[slot].long(), last[slot].long()
    base = row * width
    for _ in range(steps):  # the answer is the first count c in [lo, hi] with thresholds[c] > m
        mid = (lo + hi) >> 1
        up = thresholds[base + mid] <= m
        lo, hi = torch.where(up, mid + 1, lo), torch.where(up, hi, mid)
    return lo.to(torch.float32)


def _table_counts(bits, level, scale_log2):
    """Counts of ``poisson_8bit`` (bit for bit) from stream hashes ``bits`` (int64), 8-bit
    ``level`` and per-element scale index ``scale_log2``, all broadcastable together."""
    first, last, thresholds, width, steps = _grid_tables(bits.device)
    return _lookup_for(width, steps)(bits, level, scale_log2, first, last, thresholds)


@functools.lru_cache(maxsize=None)
def _lookup_for(width, steps):
    """``_lookup`` with the table width and bisection steps fixed (constants to the compiler)."""
    def lookup(bits, level, scale_log2, first, last, thresholds):
        return _lookup(bits, level, scale_log2, first, last, thresholds, width, steps)
    return maybe_compiled(lookup)


def poisson_batch(x, hs, ws, params):
    b, c, h, w = x.shape
    dev = x.device
    hs_d, ws_d = hs.to(dev), ws.to(dev)
    u8 = torch.round(x.clamp(0.0, 1.0) * 255.0)
    rounded = div255(u8)
    gray = torch.tensor([bool(p["gray"]) for p in params], device=dev).view(b, 1, 1, 1)
    # gray samples: the noise of the luma, the same in every channel (numpy: one (h, w, 1) field)
    base_u8 = torch.where(gray, _luma_u8(rounded).expand(b, c, h, w), u8) if gray.any() else u8
    base = div255(base_u8)
    k1, k2 = (k.view(b, 1, 1, 1) for k in keys_torch([p["seed"] for p in params], dev))
    index = torch.where(gray, element_index(hs_d, ws_d, c, (b, 1, h, w), per_channel=False),
                        element_index(hs_d, ws_d, c, (b, c, h, w)))
    auto = [i for i, p in enumerate(params) if p["vals"] == "auto"]
    fixed = [i for i, p in enumerate(params) if p["vals"] != "auto"]
    counts = torch.empty_like(x)
    inverse = torch.empty(b, device=dev, dtype=torch.float32)
    if auto:  # the whole batch, as a view, in the usual case (Real-ESRGAN): no gathers
        sel = slice(None) if len(auto) == b else torch.tensor(auto, device=dev)
        scale_log2 = _distinct_levels(base_u8[sel], hs[auto], ws[auto])
        counts[sel] = _table_counts(_bits(k1[sel], k2[sel], index[sel]), base_u8[sel].long(),
                                    scale_log2.view(-1, 1, 1, 1))
        inverse[sel] = torch.exp2(-scale_log2.float())
    if fixed:
        sel = torch.tensor(fixed, device=dev)
        vals = torch.tensor([params[i]["vals"] for i in fixed], device=dev, dtype=torch.float64).view(-1, 1, 1, 1)
        n = torch.where(gray[sel], 1, c).view(-1) * hs_d[sel] * ws_d[sel]
        counts[sel] = poisson_torch(k1[sel], k2[sel], base[sel].double() * vals, n.view(-1, 1, 1, 1),
                                    index[sel]).to(torch.float32)
        inverse[sel] = (1.0 / vals.view(-1)).float()
    scale = torch.tensor([p["scale"] for p in params], device=dev, dtype=torch.float32).view(b, 1, 1, 1)
    noise = (counts * inverse.view(b, 1, 1, 1) - base) * scale
    to_input = torch.tensor([p["add_to"] == "input" for p in params], device=dev).view(b, 1, 1, 1)
    return _finish(torch.where(to_input, x, rounded) + noise, params)
