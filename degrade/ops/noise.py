"""Noise ops: additive Gaussian (colour / gray / channel-correlated), speckle, Poisson.

Sigma is in 0-255 units, as in the published configs. The noise field itself is drawn at
apply time from a seed stored in the params, so apply stays a pure function of
(image, params) and a record replays bit-identically. Fields come from the counter-based
stream of ``counter_rng`` (element k of the sample's own C-order layout), which the batched
torch appliers compute identically, so a record gives the same noise on either backend.
"""

import functools

import cv2
import numpy as np
from scipy import stats

from lightsr.degrade.counter_poisson import poisson_np
from lightsr.degrade.counter_rng import bits_range_np, normal_np
from lightsr.degrade.distributions import check_number, check_probability
from lightsr.degrade.ops.base import Op, check_bool, check_choice, dist, new_seed, register_op
from lightsr.errors import ConfigError

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as cv2 and BSRGAN


def finish(out, params):
    """The clip / round-to-8-bit options every noise op shares (Real-ESRGAN's clip and rounds)."""
    if params.get("round"):
        out = np.rint(out * 255.0) / 255.0
    if params.get("clip"):
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def _random_orthonormal(rng):
    """An orthonormal 3x3 basis of a uniform random matrix (scipy.linalg.orth, as BSRGAN)."""
    u, _, _ = np.linalg.svd(rng.random((3, 3)))
    return u


def _covariance_factor(cov):
    """A with A A^T = cov, for a symmetric matrix; negative eigenvalues are clipped to 0.

    BSRGAN takes the element-wise absolute value of a covariance matrix, which is not
    always positive semi-definite; numpy's multivariate_normal would warn and use an SVD,
    here the nearest PSD matrix is used instead.
    """
    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))).astype(np.float32)


class _GaussianBase(Op):
    multiplicative = False

    def __init__(self, *, sigma, gray_prob=0.0, correlated_prob=0.0, correlated_level=25, clip=True, round=False):
        self.sigma = dist(sigma, "sigma", low=0)
        self.gray_prob = check_probability(gray_prob, "gray_prob")
        self.correlated_prob = check_probability(correlated_prob, "correlated_prob")
        if self.gray_prob + self.correlated_prob > 1.0 + 1e-12:
            raise ConfigError("correlated_prob", "gray_prob + correlated_prob must not exceed 1")
        self.correlated_level = float(check_number(correlated_level, "correlated_level", low=0))
        self.clip, self.round = check_bool(clip, "clip"), check_bool(round, "round")

    def sample(self, rng, shape, ctx):
        sigma = float(self.sigma.sample(rng))
        u = rng.uniform()
        params = {"sigma": sigma, "mode": "color"}
        if u < self.gray_prob:
            params["mode"] = "gray"
        elif u < self.gray_prob + self.correlated_prob:
            # BSRGAN: cov = |L^2 U^T D U|, L = correlated_level / 255, D = diag(U(0, 1)^3)
            d = np.diag(rng.random(3))
            u3 = _random_orthonormal(rng)
            level = self.correlated_level / 255.0
            params["mode"] = "correlated"
            params["cov"] = np.abs(level**2 * (u3.T @ d @ u3)).tolist()
        params.update(seed=new_seed(rng), clip=self.clip, round=self.round)
        return params

    @staticmethod
    def noise(shape, params):
        h, w = shape[:2]
        if params["mode"] == "gray":
            return normal_np(params["seed"], (h, w, 1)) * np.float32(params["sigma"] / 255.0)
        if params["mode"] == "correlated":
            z = normal_np(params["seed"], (h * w, 3))
            return (z @ _covariance_factor(params["cov"]).T).reshape(h, w, 3)
        return normal_np(params["seed"], (h, w, shape[2])) * np.float32(params["sigma"] / 255.0)

    @staticmethod
    def describe(params):
        level = "cov" if params["mode"] == "correlated" else f"sigma={params['sigma']:.3g}"
        return f"{params['mode']} {level}"


@register_op
class GaussianNoise(_GaussianBase):
    """Additive Gaussian noise: colour, gray (one field for all channels, with ``gray_prob``)
    or channel-correlated (BSRGAN, with ``correlated_prob``)."""

    name = "gaussian_noise"

    @staticmethod
    def apply(img, params):
        return finish(img + _GaussianBase.noise(img.shape, params), params)


@register_op
class SpeckleNoise(_GaussianBase):
    """Multiplicative Gaussian noise, x + x * n (BSRGAN+'s speckle noise); x is clipped first."""

    name = "speckle_noise"

    @staticmethod
    def apply(img, params):
        x = np.clip(img, 0.0, 1.0)
        return finish(x + x * _GaussianBase.noise(img.shape, params), params)


@functools.lru_cache(maxsize=12)
def _poisson_tables(vals, buckets=1024):
    """Inverse-CDF tables of Poisson(l / 255 * vals) for the 256 8-bit levels l.

    Returns the flattened CDFs (one row per level), a guide table (for each level and each
    of ``buckets`` equal slices of [0, 1), the first count whose CDF exceeds the slice's
    start) flattened to indices into the CDFs, and the row width. The tail beyond
    lambda + 12 sqrt(lambda) + 12 (probability < 1e-30) is cut.
    """
    lam = np.arange(256) / 255.0 * vals
    width = int(np.ceil(lam[-1] + 12 * np.sqrt(lam[-1]) + 12)) + 1
    cdf = stats.poisson.cdf(np.arange(width)[None, :], lam[:, None])
    cdf[:, -1] = 1.0
    starts = np.arange(buckets) / buckets
    guide = np.stack([np.searchsorted(row, starts, side="right") for row in cdf]).astype(np.int64)
    guide += (np.arange(256) * width)[:, None]
    return cdf.ravel(), guide.ravel(), width, buckets


def poisson_8bit(u, u8, vals):
    """Poisson(u8 / 255 * vals) counts by inverse-CDF lookup of the uniforms ``u`` (one per
    element): the exact distribution, and fast because the 256 possible rates share cached tables."""
    cdf, guide, width, buckets = _poisson_tables(float(vals))
    level = u8.ravel().astype(np.int64)
    u = np.asarray(u, dtype=np.float64).ravel()
    idx = guide[level * buckets + (u * buckets).astype(np.int64)]
    active = np.flatnonzero(cdf[idx] <= u)
    while active.size:  # walk up to the first count whose CDF exceeds u (rarely more than a step)
        idx[active] += 1
        active = active[cdf[idx[active]] <= u[active]]
    return (idx - level * width).reshape(u8.shape)


_GRID_BITS = 12  # 4096 slices of the uniforms' 2^23-point grid per level


@functools.lru_cache(maxsize=24)
def poisson_grid(vals, grid_bits):
    """``poisson_8bit``'s tables on the integer grid of the stream's uniforms.

    A uniform is u = (m + 0.5) / 2^23 for the integer m = h >> 9 of its hash h, and
    CDF <= u exactly when ceil(CDF * 2^23 - 0.5) <= m: ``thresholds`` (256 levels x ``width``
    counts) holds those integers. For each level and each slice m >> (23 - grid_bits) of the
    grid, ``first`` and ``last`` are the counts of the slice's first and last m: where they are
    equal, every m of the slice gives that count.
    """
    cdf, _, width, _ = _poisson_tables(vals)
    thresholds = np.ceil(cdf * 2.0**23 - 0.5).astype(np.int64).reshape(256, width)
    shift = 23 - grid_bits
    starts = np.arange(1 << grid_bits, dtype=np.int64) << shift
    first = np.stack([np.searchsorted(row, starts, side="right") for row in thresholds])
    last = np.stack([np.searchsorted(row, starts + (1 << shift) - 1, side="right") for row in thresholds])
    return first, last, thresholds, width


@functools.lru_cache(maxsize=12)
def _poisson_grid_tables(vals):
    """``poisson_grid`` for one lookup: ``direct`` holds, per level and slice, the count where
    the slice holds no threshold, else -1 - (the first candidate count)."""
    first, last, thresholds, width = poisson_grid(vals, _GRID_BITS)
    direct = np.where(first == last, first, -1 - first).astype(np.int16).ravel()
    return direct, thresholds.astype(np.int32).ravel(), width


def poisson_8bit_from_bits(h, u8, vals):
    """``poisson_8bit`` of the uniforms of the hashes ``h`` (uint32, consumed), without making them:
    one lookup for most elements, a short walk for those whose grid slice holds a CDF step."""
    direct, thresholds, width = _poisson_grid_tables(float(vals))
    h = h.ravel()
    key = u8.ravel().astype(np.uint32)
    key <<= np.uint32(_GRID_BITS)
    key |= h >> np.uint32(32 - _GRID_BITS)
    counts = np.take(direct, key)
    walk = np.flatnonzero(counts < 0)
    if walk.size:
        m = (h[walk] >> np.uint32(9)).astype(np.int32)
        idx = key[walk].astype(np.int32) >> _GRID_BITS
        idx *= width
        idx -= counts[walk] + 1
        active = np.flatnonzero(thresholds[idx] <= m)
        while active.size:
            idx[active] += 1
            active = active[thresholds[idx[active]] <= m[active]]
        counts[walk] = idx % width
    return counts.astype(np.float32).reshape(u8.shape)


def _levels(u8):
    """2 ** ceil(log2(number of distinct 8-bit values)), Real-ESRGAN's photon-count scale."""
    n = int(np.count_nonzero(cv2.calcHist([u8.reshape(-1, 1)], [0], None, [256], [0, 256])))
    return float(2 ** np.ceil(np.log2(max(n, 1))))


@register_op
class PoissonNoise(Op):
    """Shot noise: poisson(x * vals) / vals - x, times ``scale``, on the image rounded to 8 bits.

    ``vals: auto`` counts the image's distinct levels (Real-ESRGAN); a distribution such
    as {log10_uniform: [2, 4]} draws it (BSRGAN). With ``gray_prob`` the noise is computed
    on the luma and added to every channel. ``add_to: rounded`` adds it to the rounded
    image (BSRGAN) rather than to the input (Real-ESRGAN).
    """

    name = "poisson_noise"

    def __init__(self, *, scale=1.0, vals="auto", gray_prob=0.0, add_to="input", clip=True, round=False):
        self.scale = dist(scale, "scale", low=0)
        self.vals = "auto" if vals == "auto" else dist(vals, "vals", low=1e-6)
        self.gray_prob = check_probability(gray_prob, "gray_prob")
        self.add_to = check_choice(add_to, "add_to", ("input", "rounded"))
        self.clip, self.round = check_bool(clip, "clip"), check_bool(round, "round")

    def sample(self, rng, shape, ctx):
        params = {"scale": float(self.scale.sample(rng))}
        params["vals"] = "auto" if self.vals == "auto" else float(self.vals.sample(rng))
        params["gray"] = bool(rng.uniform() < self.gray_prob)
        params.update(add_to=self.add_to, seed=new_seed(rng), clip=self.clip, round=self.round)
        return params

    @staticmethod
    def apply(img, params):
        if img.dtype == np.float32:  # np.rint(np.clip(img, 0, 1) * 255) with the product in OpenCV's float32 pass
            u8 = cv2.convertScaleAbs(np.clip(img, 0.0, 1.0), alpha=255.0).reshape(img.shape)
        else:
            u8 = np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
        rounded = u8.astype(np.float32) / np.float32(255.0)
        if params["gray"]:
            base_u8 = np.rint(rounded @ LUMA * 255.0).clip(0, 255).astype(np.uint8)[:, :, None]
            base = base_u8.astype(np.float32) / np.float32(255.0)
        else:
            base_u8, base = u8, rounded
        if params["vals"] == "auto":  # a power of two up to 256: few distinct tables, cached
            vals = _levels(base_u8)
            counts = poisson_8bit_from_bits(bits_range_np(params["seed"], base_u8.size), base_u8, vals)
        else:
            vals = params["vals"]
            counts = poisson_np(params["seed"], base.astype(np.float64) * vals).astype(np.float32)
        noise = (counts * np.float32(1.0 / vals) - base) * np.float32(params["scale"])
        target = img if params["add_to"] == "input" else rounded
        return finish(target + noise, params)

    @staticmethod
    def describe(params):
        vals = params["vals"] if params["vals"] == "auto" else f"{params['vals']:.3g}"
        return f"{'gray' if params['gray'] else 'color'} scale={params['scale']:.3g} vals={vals}"
