"""Poisson counts from the counter-based stream, the same in numpy and torch.

numpy's ``Generator.poisson`` and ``torch.poisson`` each follow their own generator, so they
cannot give a CPU and a GPU the same counts. This samples with the algorithms numpy itself uses,
fed by ``counter_rng``: inversion (sequential search) below lambda = 10, Hormann's PTRS
(transformed rejection with squeeze, 1993) above. PTRS may need several attempts; attempt t of
element e reads stream elements 2(tN + e) and 2(tN + e) + 1 (N elements), so every element's
draw is fixed whatever the others do. Float64 throughout.
"""


import numpy as np
from scipy.special import gammaln

from lightsr.degrade import counter_rng

_SMALL = 10.0


def _ptrs_constants(lam, sqrt, log):
    slam = sqrt(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    return slam, log(lam), b, a, 1.1239 + 1.1328 / (b - 3.4), 0.9277 - 3.6224 / (b - 2.0)


def poisson_np(seed, lam):
    """Poisson(lam) counts (float64 array of rates, any shape) from the stream of ``seed``."""
    lam = np.asarray(lam, dtype=np.float64)
    flat = lam.ravel()
    n = flat.size
    out = np.zeros(n, dtype=np.int64)
    idx = np.arange(n, dtype=np.uint64)

    def uniform(elements, attempt, j):
        k = ((attempt * n + elements) * 2 + j) & 0xFFFFFFFF
        return counter_rng._unit_np(counter_rng.bits_np(seed, k.astype(np.uint32))).astype(np.float64)

    small = np.flatnonzero(flat < _SMALL)
    if small.size:
        lam_s = flat[small]
        u = uniform(idx[small], 0, 0)
        k = np.zeros(small.size, dtype=np.int64)
        p = np.exp(-lam_s)
        cdf = p.copy()
        active = np.flatnonzero(u > cdf)
        limit = 60  # P(count > 60 | lambda < 10) < 1e-25
        while active.size and limit:
            k[active] += 1
            p[active] *= lam_s[active] / k[active]
            cdf[active] += p[active]
            active = active[u[active] > cdf[active]]
            limit -= 1
        out[small] = k

    pending = np.flatnonzero(flat >= _SMALL)
    attempt = 0
    while pending.size:
        lam_p = flat[pending]
        slam, loglam, b, a, invalpha, vr = _ptrs_constants(lam_p, np.sqrt, np.log)
        uu = uniform(idx[pending], attempt, 0) - 0.5
        v = uniform(idx[pending], attempt, 1)
        us = 0.5 - np.abs(uu)
        k = np.floor((2.0 * a / us + b) * uu + lam_p + 0.43)
        quick = (us >= 0.07) & (v <= vr)
        reject = (k < 0) | ((us < 0.013) & (v > us))
        with np.errstate(divide="ignore", invalid="ignore"):
            lhs = np.log(v) + np.log(invalpha) - np.log(a / (us * us) + b)
            rhs = -lam_p + k * loglam - gammaln(np.maximum(k, 0) + 1.0)
        accept = quick | (~reject & (lhs <= rhs))
        out[pending[accept]] = k[accept].astype(np.int64)
        pending = pending[~accept]
        attempt += 1
    return out.reshape(lam.shape)


def poisson_torch(k1, k2, lam, n, index=None):
    """The counts of ``poisson_np`` for a batch: ``lam`` (B, ...) float64 rates, ``index`` each
    element's position in its sample's own C-order array (default: the trailing dims flattened),
    ``k1``/``k2`` the samples' keys and ``n`` their element counts, each (B, 1, ...)."""
    import torch

    shape = lam.shape
    b = shape[0]
    flat = lam.reshape(b, -1)
    if index is None:
        e = torch.arange(flat.shape[1], device=lam.device, dtype=torch.int64).expand(b, -1)
    else:
        e = index.expand(shape).reshape(b, -1)
    k1, k2, n = k1.reshape(b, 1).expand_as(e), k2.reshape(b, 1).expand_as(e), n.reshape(b, 1).expand_as(e)
    out = torch.zeros_like(flat, dtype=torch.int64)

    def uniform(sel, attempt, j):
        index = (attempt * n[sel] + e[sel]) * 2 + j
        return counter_rng.uniform_torch(k1[sel], k2[sel], index).to(torch.float64)

    small = flat < _SMALL
    if small.any():
        lam_s = flat[small]
        u = uniform(small, 0, 0)
        k = torch.zeros_like(lam_s, dtype=torch.int64)
        p = torch.exp(-lam_s)
        cdf = p.clone()
        for _ in range(60):
            active = u > cdf
            if not active.any():
                break
            k = k + active.to(torch.int64)
            p = torch.where(active, p * lam_s / k.clamp_min(1), p)
            cdf = torch.where(active, cdf + p, cdf)
        out[small] = k

    pending = ~small
    attempt = 0
    while pending.any():
        lam_p = flat[pending]
        slam, loglam, bb, a, invalpha, vr = _ptrs_constants(lam_p, torch.sqrt, torch.log)
        uu = uniform(pending, attempt, 0) - 0.5
        v = uniform(pending, attempt, 1)
        us = 0.5 - uu.abs()
        k = torch.floor((2.0 * a / us + bb) * uu + lam_p + 0.43)
        quick = (us >= 0.07) & (v <= vr)
        reject = (k < 0) | ((us < 0.013) & (v > us))
        lhs = torch.log(v) + torch.log(invalpha) - torch.log(a / (us * us) + bb)
        rhs = -lam_p + k * loglam - torch.lgamma(k.clamp_min(0) + 1.0)
        accept = quick | (~reject & (lhs <= rhs))
        where = pending.nonzero(as_tuple=True)
        chosen = tuple(w[accept] for w in where)
        out[chosen] = k[accept].to(torch.int64)
        pending[where] = ~accept
        attempt += 1
    return out.reshape(shape)


