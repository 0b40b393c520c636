"""Value-range and decimation ops on a batch."""

import numpy as np
import torch


def div255(x):
    """x / 255 rounded as numpy rounds it. CUDA divides by a Python number as a multiplication by
    its reciprocal (off by an ulp now and then); levels often sit exactly halfway between two
    8-bit values after Poisson noise, and an ulp then flips the rounding: divide by a tensor."""
    return x / torch.full((), 255.0, dtype=x.dtype, device=x.device)


def clip_prepare(params, hs, ws):
    rows = [(0.0, 1.0) if p is None else (float(p["low"]), float(p["high"])) for p in params]
    return rows, {}, None


def clip_pack(rows, dims):
    return {"low": np.array([r[0] for r in rows], dtype=np.float32), "high": np.array([r[1] for r in rows], dtype=np.float32)}


def clip_execute(x, hs, ws, t, dims):
    b = x.shape[0]
    return torch.minimum(torch.maximum(x, t["low"].view(b, 1, 1, 1)), t["high"].view(b, 1, 1, 1))


def quantize_prepare(params, hs, ws):
    return [255.0 if p is None else 2.0 ** p["bits"] - 1 for p in params], {}, None


def quantize_pack(tops, dims):
    return {"top": np.array(tops, dtype=np.float32)}


def quantize_execute(x, hs, ws, t, dims):
    top = t["top"].view(-1, 1, 1, 1)
    return torch.round(x.clamp(0.0, 1.0) * top) / top


def decimate_batch(x, hs, ws, params):
    """x[o::f, o::f] per sample; samples with other (factor, offset) are done apart."""
    out_hs = [len(range(p["offset"], int(h), p["factor"])) for p, h in zip(params, hs)]
    out_ws = [len(range(p["offset"], int(w), p["factor"])) for p, w in zip(params, ws)]
    out = x.new_zeros(x.shape[0], x.shape[1], max(out_hs), max(out_ws))
    for key in {(p["factor"], p["offset"]) for p in params}:
        f, o = key
        idx = torch.tensor([i for i, p in enumerate(params) if (p["factor"], p["offset"]) == key], device=x.device)
        part = x[idx][:, :, o::f, o::f]
        out[idx, :, : part.shape[2], : part.shape[3]] = part[:, :, : out.shape[2], : out.shape[3]]
    return out, out_hs, out_ws
