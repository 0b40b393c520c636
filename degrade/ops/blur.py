"""Blur: y = x ⊗ k with a kernel drawn per sample from a mix of families."""

import cv2
import numpy as np
import scipy.fft

from lightsr.degrade.distributions import check_weights, cumulative, pick_index
from lightsr.degrade.kernels import FAMILIES, make_kernel
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
_MAX_DIRECT = 11  # above this size cv2.filter2D switches to its own DFT, slower than scipy's
_TOLERANCE = 1e-6  # largest output error a low-rank split may introduce (image values ~[0, 1])


def _separable_terms(kernel):
    """Rank-1 terms (column, row) whose sum equals the kernel within _TOLERANCE on the output.

    The error bound of dropping term i is s_i * |u_i|_1 * |v_i|_1 (its L1 norm), so the
    output of an image with values in [0, 1] moves by at most the sum of the dropped bounds.
    """
    u, s, vt = np.linalg.svd(kernel)
    bounds = s * np.abs(u).sum(axis=0) * np.abs(vt).sum(axis=1)
    tail = np.append(np.cumsum(bounds[::-1])[::-1], 0.0)
    rank = int(np.argmax(tail <= _TOLERANCE))
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


def convolve(img, kernel):
    """True convolution (the kernel flipped, as scipy.ndimage.convolve) with reflect-101 edges.

    OpenCV's filter2D is a correlation; for the point-symmetric kernels most families
    produce the two are identical, for shifted or asymmetric kernels the flip matters.
    The method is chosen by cost, all exact to 1e-6: OpenCV's direct filter for small
    kernels, a sum of separable passes when the kernel has low rank (an isotropic Gaussian
    is rank 1), else an FFT (scipy.fft; OpenCV's own DFT path is slower here).
    """
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float64)
    n = flipped.shape[0]
    terms = _separable_terms(flipped)
    costs = {"separable": len(terms) * (2 * n + _SEPARABLE_OVERHEAD), "fft": _FFT_COST}
    if n <= _MAX_DIRECT:
        costs["direct"] = n * n
    method = min(costs, key=costs.get)
    if method == "direct":
        out = cv2.filter2D(img, -1, flipped.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    elif method == "separable":
        out = None
        for col, row in terms:
            part = cv2.sepFilter2D(img, -1, row.astype(np.float32), col.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
            out = part if out is None else cv2.add(out, part)
        if out is None:  # an all-zero kernel
            out = np.zeros_like(img)
    else:
        return _fft_convolve(img, np.asarray(kernel, dtype=np.float64))
    return out[:, :, None] if out.ndim == 2 else out


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
        self.size = dist(size, "size", low=1, integer=True)
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
