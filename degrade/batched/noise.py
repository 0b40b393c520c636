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
from lightsr.degrade.counter_rng import normal_torch
from lightsr.degrade.ops.noise import LUMA, _covariance_factor, poisson_grid
from lightsr.errors import OpError

_normals = maybe_compiled(normal_torch)
_bits = maybe_compiled(counter_rng.bits_torch)


def _keys(params):
    k1, k2 = counter_rng.keys_np([0 if p is None else p["seed"] for p in params])
    return {"k1": k1, "k2": k2}


def _flags(params, *names):
    return {name: np.array([p is not None and bool(p.get(name)) for p in params]) for name in names}


def _finish(out, t):
    b = out.shape[0]
    out = torch.where(t["round"].view(b, 1, 1, 1), div255(torch.round(out * 255.0)), out)
    return torch.where(t["clip"].view(b, 1, 1, 1), out.clamp(0.0, 1.0), out)


def gaussian_prepare(params, hs, ws):
    """Gaussian (and speckle) noise needs no host work beyond its params (keys, sigma, layout and
    the colour factor are packed); dims say whether a correlated sample is present."""
    corr = [p is not None and p["mode"] == "correlated" for p in params]
    return params, {"corr": int(any(corr))}, None


def gaussian_pack(params, dims):
    t = dict(_keys(params), **_flags(params, "round", "clip"))
    t["sigma"] = np.array([0.0 if p is None else p["sigma"] / 255.0 for p in params], dtype=np.float32)
    t["gray"] = np.array([p is not None and p["mode"] == "gray" for p in params])
    if dims["corr"]:
        t["corr"] = np.array([p is not None and p["mode"] == "correlated" for p in params])
        t["factor"] = np.stack([_covariance_factor(p["cov"]) if p is not None and p["mode"] == "correlated"
                                else np.zeros((3, 3)) for p in params]).astype(np.float32)
    return t


def _gaussian_field(x, hs, ws, t):
    b, c, h, w = x.shape
    k1, k2 = t["k1"].view(b, 1, 1, 1), t["k2"].view(b, 1, 1, 1)
    # colour and gray samples in one pass: a gray sample reads its pixel's element in every channel
    gray = t["gray"].view(b, 1, 1, 1)
    index = torch.where(gray, element_index(hs, ws, c, (b, 1, h, w), per_channel=False),
                        element_index(hs, ws, c, (b, c, h, w)))
    z = _normals(k1, k2, index)
    field = z * t["sigma"].view(b, 1, 1, 1)
    if "corr" in t:  # every sample computed, the correlated ones kept: no data-dependent shapes
        if c != 3:
            raise OpError("gaussian_noise", f"correlated noise needs 3 channels, got {c}")
        z3 = z
        field = torch.where(t["corr"].view(b, 1, 1, 1), torch.einsum("bjhw,bcj->bchw", z3, t["factor"]), field)
    return field


def gaussian_execute(x, hs, ws, t, dims):
    return _finish(x + _gaussian_field(x, hs, ws, t), t)


def speckle_execute(x, hs, ws, t, dims):
    base = x.clamp(0.0, 1.0)
    return _finish(base + base * _gaussian_field(x, hs, ws, t), t)


@functools.lru_cache(maxsize=8)
def _luma(device):  # made once per device: a copy to the device cannot sit inside a captured graph
    return torch.tensor(LUMA, device=device)


def _luma_u8(rounded):
    luma = _luma(rounded.device)
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


@functools.lru_cache(maxsize=4)  # one per table layout (one today)
def _lookup_for(width, steps):
    """``_lookup`` with the table width and bisection steps fixed (constants to the compiler)."""
    def lookup(bits, level, scale_log2, first, last, thresholds):
        return _lookup(bits, level, scale_log2, first, last, thresholds, width, steps)
    return maybe_compiled(lookup)


def poisson_prepare(params, hs, ws):
    """Host work of Poisson noise: keys and flags; "auto" photon counts are found on the device
    (dims["fixed"]: some sample has a fixed count, which takes the general sampler)."""
    return params, {"fixed": int(any(p is not None and p["vals"] != "auto" for p in params)),
                    "gray": int(any(p is not None and p["gray"] for p in params))}, None


def poisson_pack(params, dims):
    t = dict(_keys(params), **_flags(params, "round", "clip", "gray"))
    t["scale"] = np.array([0.0 if p is None else p["scale"] for p in params], dtype=np.float32)
    t["to_input"] = np.array([p is not None and p["add_to"] == "input" for p in params])
    if dims["fixed"]:
        t["fixed"] = np.array([p is not None and p["vals"] != "auto" for p in params])
        t["vals"] = np.array([1.0 if p is None or p["vals"] == "auto" else p["vals"] for p in params])
    return t


def poisson_execute(x, hs, ws, t, dims):
    b, c, h, w = x.shape
    if dims["gray"] and c != 3:
        raise OpError("poisson_noise", f"gray Poisson noise is the noise of the luma, which needs 3 channels, got {c}")
    u8 = torch.round(x.clamp(0.0, 1.0) * 255.0)
    rounded = div255(u8)
    gray = t["gray"].view(b, 1, 1, 1)
    # gray samples: the noise of the luma, the same in every channel (numpy: one (h, w, 1) field)
    base_u8 = torch.where(gray, _luma_u8(rounded).expand(b, c, h, w), u8) if dims["gray"] else u8
    base = div255(base_u8)
    k1, k2 = t["k1"].view(b, 1, 1, 1), t["k2"].view(b, 1, 1, 1)
    index = torch.where(gray, element_index(hs, ws, c, (b, 1, h, w), per_channel=False),
                        element_index(hs, ws, c, (b, c, h, w)))
    # "auto" counts for every sample: the whole canvas at once, no gathers
    scale_log2 = _distinct_levels(base_u8, hs, ws)
    counts = _table_counts(_bits(k1, k2, index), base_u8.long(), scale_log2.view(b, 1, 1, 1))
    inverse = torch.exp2(-scale_log2.float())
    if "fixed" in t:  # the general sampler loops until every count is accepted: dynamic batches only
        fixed = t["fixed"].view(b, 1, 1, 1)
        vals = t["vals"].view(b, 1, 1, 1)
        n = torch.where(gray.view(b), 1, c) * hs * ws
        general = poisson_torch(k1, k2, base.double() * vals, n.view(b, 1, 1, 1), index).to(torch.float32)
        counts = torch.where(fixed, general, counts)
        inverse = torch.where(t["fixed"], (1.0 / t["vals"]).float(), inverse)
    noise = (counts * inverse.view(b, 1, 1, 1) - base) * t["scale"].view(b, 1, 1, 1)
    return _finish(torch.where(t["to_input"].view(b, 1, 1, 1), x, rounded) + noise, t)
