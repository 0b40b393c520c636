"""Blur: y = x ⊗ k with a kernel drawn per sample from a mix of families."""

import functools

import cv2
import numpy as np
import scipy.fft

from lightsr.degrade.distributions import check_weights, cumulative, pick_index
from lightsr.degrade.kernels import FAMILIES, MAX_KERNEL_SIZE, make_kernel
from lightsr.degrade.ops.base import Op, dist, register_op
from lightsr.errors import ConfigError

# bounds of each family parameter, checked when the config is read
_PARAM_BOUNDS = {
    "sigma": {"low": 0},
    "sigma_x": {"low": 0},
    "sigma_y": {"low": 0},
    "theta": {},
    "beta": {"low": 0},
    "omega_c": {"low": 0, "high": 3.1415926536},
    "length": {"low": 0},
    "angle": {},
    "radius": {"low": 0},
}
# sinc's cut-off may depend on the kernel size (Real-ESRGAN: [pi/3, pi] below 13, else [pi/5, pi])
_SINC_EXTRA = ("omega_c_small", "small_below")


# Relative costs (in units of one direct tap over the image) used to pick the cheapest
# exact way to convolve; measured with OpenCV 5 / scipy.fft, one thread, 64-256 px float32 RGB.
_FFT_COST = 450
_SEPARABLE_OVERHEAD = 12
_CALL_OVERHEAD = 8  # one cv2.filter2D call and the sum of its output
_MAX_DIRECT = 11  # above this size cv2.filter2D switches to its own DFT, slower than scipy's
_TOLERANCE = 1e-6  # largest output error the choice of method may introduce (image values ~[0, 1])


@functools.lru_cache(maxsize=32)
def _rings(n):
    """Chebyshev distance of each cell of an n x n window from its centre (flattened)."""
    d = np.abs(np.arange(n) - n // 2)
    return np.maximum(d[:, None], d[None, :]).ravel()


def _crop(kernel, budget):
    """The centred square part of the kernel whose discarded border weighs at most ``budget``
    (sum of |weights|): a Gaussian of sigma 1 drawn in a 21x21 window needs about 11x11."""
    n = kernel.shape[0]
    ring_mass = np.bincount(_rings(n), weights=np.abs(kernel).ravel(), minlength=n // 2 + 1)
    outside = np.append(np.cumsum(ring_mass[::-1])[::-1][1:], 0.0)  # mass beyond each radius
    r = int(np.argmax(outside <= budget))
    c = n // 2
    return kernel[c - r:c + r + 1, c - r:c + r + 1]


def _sparse(kernel, budget):
    """The kernel with its smallest weights (together at most ``budget``) set to zero.

    OpenCV's direct filter skips zero weights, so an elongated anisotropic Gaussian (most of
    its window nearly empty) costs its few significant taps instead of the full window.
    """
    flat = np.abs(kernel).ravel()
    order = np.argsort(flat, kind="stable")
    drop = order[: int(np.searchsorted(np.cumsum(flat[order]), budget, side="right"))]
    out = kernel.copy().ravel()
    out[drop] = 0.0
    return out.reshape(kernel.shape)


def _tiles(kernel):
    """(row, col, tile) pieces of at most _MAX_DIRECT x _MAX_DIRECT with a non-zero weight."""
    n = kernel.shape[0]
    out = []
    for r in range(0, n, _MAX_DIRECT):
        for c in range(0, n, _MAX_DIRECT):
            tile = kernel[r:r + _MAX_DIRECT, c:c + _MAX_DIRECT]
            if tile.any():
                out.append((r, c, np.ascontiguousarray(tile, dtype=np.float32)))
    return out


def _separable_terms(kernel, budget=_TOLERANCE):
    """Rank-1 terms (column, row) whose sum equals the kernel within ``budget`` on the output.

    The error bound of dropping term i is s_i * |u_i|_1 * |v_i|_1 (its L1 norm), so the
    output of an image with values in [0, 1] moves by at most the sum of the dropped bounds.
    A kernel that is the outer product of its largest weight's column and row (isotropic
    Gaussians, box) is recognised without the SVD, which costs more than a small image's blur.
    """
    i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    if kernel[i, j] != 0:
        col, row = kernel[:, j], kernel[i] / kernel[i, j]
        if np.abs(kernel - np.outer(col, row)).sum() <= budget:
            return [(col, row)]
    u, s, vt = np.linalg.svd(kernel)
    bounds = s * np.abs(u).sum(axis=0) * np.abs(vt).sum(axis=1)
    tail = np.append(np.cumsum(bounds[::-1])[::-1], 0.0)
    rank = int(np.argmax(tail <= budget))
    return [(u[:, i] * s[i], vt[i]) for i in range(rank)]


def _fft_convolve(img, kernel):
    """Convolution through single-precision FFTs of the reflect-padded image.

    The transform is only as long as the padded image: the wrap-around of the circular
    convolution then falls into the padding, never into the output.
    """
    n = kernel.shape[0]
    pad = n // 2
    h, w = img.shape[:2]
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    padded = padded[:, :, None] if padded.ndim == 2 else padded
    fh, fw = scipy.fft.next_fast_len(h + 2 * pad, real=True), scipy.fft.next_fast_len(w + 2 * pad, real=True)
    spectrum = scipy.fft.rfft2(padded, (fh, fw), axes=(0, 1)) * scipy.fft.rfft2(kernel.astype(np.float32), (fh, fw))[:, :, None]
    full = scipy.fft.irfft2(spectrum, (fh, fw), axes=(0, 1))
    return np.ascontiguousarray(full[n - 1:n - 1 + h, n - 1:n - 1 + w], dtype=np.float32)


def _direct(img, tiles, n):
    """Correlation with an n x n kernel given as tiles, each an OpenCV direct filter.

    One tile that is the whole kernel filters in place; otherwise each tile filters the view
    of the reflect-padded image it reads (anchor at its corner), and the parts add up.
    """
    if len(tiles) == 1 and tiles[0][2].shape == (n, n):
        return cv2.filter2D(img, -1, tiles[0][2], borderType=cv2.BORDER_REFLECT_101)
    h, w, pad = img.shape[0], img.shape[1], n // 2
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    out = None
    for r, c, tile in tiles:
        th, tw = tile.shape
        view = padded[r:r + h + th - 1, c:c + w + tw - 1]
        part = cv2.filter2D(view, -1, tile, anchor=(0, 0), borderType=cv2.BORDER_REFLECT_101)[:h, :w]
        out = part.copy() if out is None else cv2.add(out, part)
    return out


def convolve(img, kernel):
    """True convolution (the kernel flipped, as scipy.ndimage.convolve) with reflect-101 edges.

    OpenCV's filter2D is a correlation; for the point-symmetric kernels most families
    produce the two are identical, for shifted or asymmetric kernels the flip matters.
    The method is chosen by cost, all exact to _TOLERANCE (half of it spent on cropping the
    window to where the weights are, half on the method): OpenCV's direct filter over the
    significant taps (in tiles small enough that OpenCV filters directly), a sum of
    separable passes when the kernel has low rank (an isotropic Gaussian is rank 1), or an
    FFT (scipy.fft; OpenCV's own DFT path is slower here).
    """
    flipped = _crop(np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float64), _TOLERANCE / 2)
    n = flipped.shape[0]
    tiles = _tiles(_sparse(flipped, _TOLERANCE / 2))
    costs = {"fft": _FFT_COST, "direct": sum(np.count_nonzero(t) for _, _, t in tiles) + _CALL_OVERHEAD * len(tiles)}
    pass_cost = 2 * n + _SEPARABLE_OVERHEAD
    terms = []
    if min(costs.values()) > pass_cost:  # else no split can win: skip its analysis
        terms = _separable_terms(flipped, _TOLERANCE / 2)
        costs["separable"] = len(terms) * pass_cost
    method = min(costs, key=costs.get)
    if not tiles:  # an all-zero kernel
        out = np.zeros_like(img)
    elif method == "direct":
        out = _direct(img, tiles, n)
    elif method == "separable":
        out = None
        for col, row in terms:
            part = cv2.sepFilter2D(img, -1, row.astype(np.float32), col.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
            out = part if out is None else cv2.add(out, part)
    else:
        out = _fft_convolve(img, flipped[::-1, ::-1])
    return out.reshape(img.shape)


@register_op
class Blur(Op):
    """Blur with a kernel from ``kernels``: {family: {p: weight, <param>: distribution}}.

    Families and their parameters: iso (sigma), aniso (sigma_x, sigma_y, theta),
    generalized_iso / plateau_iso (sigma, beta), generalized_aniso / plateau_aniso
    (sigma_x, sigma_y, theta, beta), sinc (omega_c, optional omega_c_small below
    small_below), motion (length, angle), defocus (radius), box (none). ``size`` is the
    (odd) kernel size, ``shift`` an optional [dx, dy] sub-pixel shift of the kernel.
    """

    name = "blur"

    def __init__(self, *, kernels, size=21, shift=None):
        self.size = dist(size, "size", low=1, high=MAX_KERNEL_SIZE, integer=True)
        if self.size.low is not None and isinstance(size, (int, float)) and int(size) % 2 == 0:
            raise ConfigError("size", f"kernel size must be odd, got {size}")
        if not isinstance(kernels, dict) or not kernels:
            raise ConfigError("kernels", "expected a mapping {family: {p: weight, <param>: value}}")
        self.families, weights, self.param_dists = [], [], []
        for family, spec in kernels.items():
            key = f"kernels.{family}"
            if family not in FAMILIES:
                raise ConfigError(key, f"unknown kernel family (known: {', '.join(FAMILIES)})")
            spec = dict(spec or {})
            weights.append(spec.pop("p", 1.0))
            names = FAMILIES[family][1]
            allowed = set(names) | (set(_SINC_EXTRA) if family == "sinc" else set())
            unknown = set(spec) - allowed
            if unknown:
                expected = ", ".join(names) or "none"
                raise ConfigError(f"{key}.{sorted(unknown)[0]}", f"unknown parameter for {family} (expected: {expected})")
            missing = [n for n in names if n not in spec]
            if missing:
                raise ConfigError(f"{key}.{missing[0]}", f"missing parameter of {family}")
            dists = {n: dist(spec[n], f"{key}.{n}", **_PARAM_BOUNDS[n]) for n in names}
            if family == "sinc" and "omega_c_small" in spec:
                dists["omega_c_small"] = dist(spec["omega_c_small"], f"{key}.omega_c_small", **_PARAM_BOUNDS["omega_c"])
                dists["small_below"] = int(spec.get("small_below", 13))
            self.families.append(family)
            self.param_dists.append(dists)
        self._cum = cumulative(check_weights(weights, "kernels.*.p"))
        self.shift = None
        if shift is not None:
            if isinstance(shift, (list, tuple)) and len(shift) == 2:
                self.shift = [dist(shift[0], "shift[0]"), dist(shift[1], "shift[1]")]
            else:
                raise ConfigError("shift", f"expected [dx, dy], got {shift!r}")

    def sample(self, rng, shape, ctx):
        size = int(self.size.sample(rng))
        if size % 2 == 0:
            raise ConfigError("size", f"drew an even kernel size {size}; use {{odd: [a, b]}}")
        i = pick_index(rng, self._cum) if len(self._cum) > 1 else 0
        family, dists = self.families[i], self.param_dists[i]
        params = {"family": family, "size": size}
        for n in FAMILIES[family][1]:
            d = dists[n]
            if n == "omega_c" and "omega_c_small" in dists and size < dists["small_below"]:
                d = dists["omega_c_small"]
            params[n] = float(d.sample(rng))
        if self.shift is not None:
            params["shift"] = [float(self.shift[0].sample(rng)), float(self.shift[1].sample(rng))]
        return params

    @staticmethod
    def apply(img, params):
        return convolve(img, make_kernel(params))

    @staticmethod
    def describe(params):
        extra = " ".join(f"{k}={params[k]:.3g}" for k in FAMILIES[params["family"]][1])
        return f"{params['family']} {params['size']}px {extra}".strip()
