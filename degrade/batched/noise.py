"""Noise ops on a batch: the numpy appliers' fields, element for element.

Each position draws the stream element of its index in its own sample's C-order layout
(``canvas.element_index``), with its own sample's seed, so a sample's noise does not depend on
the batch it is in or on the canvas around it.
"""

import numpy as np
import torch

from lightsr.degrade.batched.canvas import element_index
from lightsr.degrade.counter_poisson import poisson_torch
from lightsr.degrade.counter_rng import keys_torch, normal_torch, uniform_torch
from lightsr.degrade.ops.noise import LUMA, _covariance_factor, _poisson_tables


def _finish(out, params):
    rnd = torch.tensor([bool(p.get("round")) for p in params], device=out.device).view(-1, 1, 1, 1)
    clip = torch.tensor([bool(p.get("clip")) for p in params], device=out.device).view(-1, 1, 1, 1)
    out = torch.where(rnd, torch.round(out * 255.0) / 255.0, out)
    return torch.where(clip, out.clamp(0.0, 1.0), out)


def _gaussian_field(x, hs, ws, params):
    b, c, h, w = x.shape
    k1, k2 = (k.view(b, 1, 1, 1) for k in keys_torch([p["seed"] for p in params], x.device))
    hs_d, ws_d = hs.to(x.device), ws.to(x.device)
    sigma = torch.tensor([p["sigma"] / 255.0 for p in params], device=x.device, dtype=torch.float32).view(b, 1, 1, 1)
    field = torch.empty_like(x)
    for mode, per_channel in (("color", True), ("gray", False)):  # gray: one field for all channels
        sel = [i for i, p in enumerate(params) if p["mode"] == mode]
        if sel:
            idx = torch.tensor(sel, device=x.device)
            index = element_index(hs_d[idx], ws_d[idx], c, (len(sel), c, h, w), per_channel)
            field[idx] = (normal_torch(k1[idx], k2[idx], index) * sigma[idx]).expand(len(sel), c, h, w)
    correlated = [i for i, p in enumerate(params) if p["mode"] == "correlated"]
    if correlated:
        idx = torch.tensor(correlated, device=x.device)
        z = normal_torch(k1[idx], k2[idx], element_index(hs_d[idx], ws_d[idx], 3, (len(correlated), 3, h, w)))
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
    """Real-ESRGAN's photon-count scale per sample: 2^ceil(log2(distinct 8-bit values in it))."""
    b, c, h, w = u8.shape
    inside = (torch.arange(h, device=u8.device).view(1, 1, h, 1) < hs.to(u8.device).view(b, 1, 1, 1)) & \
             (torch.arange(w, device=u8.device).view(1, 1, 1, w) < ws.to(u8.device).view(b, 1, 1, 1))
    inside = inside.expand(b, c, h, w)
    seen = torch.zeros(b, 256, device=u8.device)
    seen.scatter_add_(1, u8.long().reshape(b, -1), inside.reshape(b, -1).float())
    n = (seen > 0).sum(1).clamp_min(1).double()
    return torch.exp2(torch.ceil(torch.log2(n))).tolist()


def _table_counts(u, level, vals):
    cdf_np, guide_np, width, buckets = _poisson_tables(float(vals))
    cdf, guide = torch.from_numpy(cdf_np).to(u.device), torch.from_numpy(guide_np).to(u.device)
    shape = u.shape
    u, level = u.double().reshape(-1), level.reshape(-1)
    idx = guide[level * buckets + (u * buckets).long()]
    active = (cdf[idx] <= u).nonzero().squeeze(1)
    while active.numel():  # walk up to the first count whose CDF exceeds u, on the few elements that need it
        idx[active] += 1
        active = active[cdf[idx[active]] <= u[active]]
    return (idx - level * width).to(torch.float32).view(shape)


def poisson_batch(x, hs, ws, params):
    b, c, h, w = x.shape
    hs_d, ws_d = hs.to(x.device), ws.to(x.device)
    u8 = torch.round(x.clamp(0.0, 1.0) * 255.0)
    rounded = u8 / 255.0
    out = torch.empty_like(x)
    for gray in (False, True):
        sel = [i for i, p in enumerate(params) if bool(p["gray"]) == gray]
        if not sel:
            continue
        idx = torch.tensor(sel, device=x.device)
        base_u8 = _luma_u8(rounded[idx]) if gray else u8[idx]
        base = base_u8 / 255.0
        k1, k2 = (k.view(-1, 1, 1, 1) for k in keys_torch([params[i]["seed"] for i in sel], x.device))
        index = element_index(hs_d[idx], ws_d[idx], base.shape[1], base.shape)
        counts = torch.empty_like(base)
        vals = [params[i]["vals"] for i in sel]
        auto = [j for j, v in enumerate(vals) if v == "auto"]
        if auto:
            levels = _distinct_levels(base_u8[auto], hs[[sel[j] for j in auto]], ws[[sel[j] for j in auto]])
            for j, v in zip(auto, levels):
                vals[j] = v
            u = uniform_torch(k1[auto], k2[auto], index[auto])
            for v in sorted(set(levels)):
                group = [a for a, lv in zip(auto, levels) if lv == v]
                pos = [auto.index(a) for a in group]
                counts[group] = _table_counts(u[pos], base_u8[group].long(), v)
        fixed = [j for j in range(len(sel)) if j not in auto]
        if fixed:
            rates = base[fixed].double() * torch.tensor([vals[j] for j in fixed], device=x.device, dtype=torch.float64).view(-1, 1, 1, 1)
            n = (hs_d[idx[fixed]] * ws_d[idx[fixed]] * base.shape[1]).view(-1, 1, 1, 1)
            counts[fixed] = poisson_torch(k1[fixed], k2[fixed], rates, n, index[fixed]).to(torch.float32)
        inverse = torch.tensor([1.0 / v for v in vals], device=x.device, dtype=torch.float32).view(-1, 1, 1, 1)
        scale = torch.tensor([params[i]["scale"] for i in sel], device=x.device, dtype=torch.float32).view(-1, 1, 1, 1)
        noise = (counts * inverse - base) * scale
        target = torch.stack([x[i] if params[i]["add_to"] == "input" else rounded[i] for i in sel])
        out[idx] = _finish(target + noise, [params[i] for i in sel])
    return out
