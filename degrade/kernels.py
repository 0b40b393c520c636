"""Blur kernels, pure numpy (float64, normalised to sum 1, odd sizes, centred).

Coordinates follow basicsr's mesh grid: x grows to the right (columns), y downwards (rows),
the centre pixel is (0, 0). Families that basicsr also has (isotropic/anisotropic
Gaussian, generalized Gaussian, plateau, circular low-pass "sinc") give the same kernel
for the same parameters; the others (motion, defocus disk, box) follow their textbook
definitions. ``make_kernel(params)`` builds a kernel from a record's parameters.
"""

import functools
import math

import numpy as np
from scipy import special

# A sigma of exactly 0 would make the covariance singular; a tiny floor yields the
# intended result (a delta in that direction) without dividing by zero.
_MIN_SIGMA = 1e-6


@functools.lru_cache(maxsize=64)
def _grid(size):
    half = size // 2
    ax = np.arange(-half, half + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    xx.flags.writeable = False
    yy.flags.writeable = False
    return xx, yy


# The largest kernel size accepted anywhere (configs, replayed records). The presets draw 7-25
# (Real-ESRGAN 7-21, BSRGAN up to 25) and Real-ESRGAN's unsharp mask is 51 wide; a size bound
# keeps a typo ({odd: [7, 2100001]}) from growing one worker to tens of gigabytes.
MAX_KERNEL_SIZE = 101


def _check_size(size):
    if size < 1 or size % 2 == 0 or size > MAX_KERNEL_SIZE:
        raise ValueError(f"kernel size must be an odd integer in [1, {MAX_KERNEL_SIZE}], got {size}")


def _quadratic_form(size, sigma_x, sigma_y, theta):
    """x^T Sigma^-1 x on the grid, Sigma = R(theta) diag(sx^2, sy^2) R(theta)^T."""
    _check_size(size)
    sx, sy = max(float(sigma_x), _MIN_SIGMA), max(float(sigma_y), _MIN_SIGMA)
    c, s = math.cos(theta), math.sin(theta)
    # inverse of R D R^T is R D^-1 R^T
    ix, iy = 1.0 / sx**2, 1.0 / sy**2
    a = c * c * ix + s * s * iy
    b = c * s * (ix - iy)
    d = s * s * ix + c * c * iy
    xx, yy = _grid(size)
    return a * xx * xx + 2.0 * b * xx * yy + d * yy * yy


def _normalise(k):
    return k / np.sum(k)


def gaussian(size, sigma_x, sigma_y=None, theta=0.0):
    """Anisotropic Gaussian; isotropic when ``sigma_y`` is None."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _normalise(np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta)))


def generalized_gaussian(size, sigma_x, sigma_y=None, theta=0.0, beta=1.0):
    """exp(-0.5 (x^T Sigma^-1 x)^beta); beta = 1 is the Gaussian."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _normalise(np.exp(-0.5 * np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta)))


def plateau(size, sigma_x, sigma_y=None, theta=0.0, beta=1.0):
    """1 / (1 + (x^T Sigma^-1 x)^beta): flat top, heavy tails."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _normalise(1.0 / (np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta) + 1.0))


def sinc(size, omega_c):
    """Circularly symmetric ideal low-pass filter with cut-off ``omega_c`` (radians, pi = Nyquist).

    h(r) = omega_c J1(omega_c r) / (2 pi r), h(0) = omega_c^2 / (4 pi), then normalised.
    """
    _check_size(size)
    xx, yy = _grid(size)
    r = np.hypot(xx, yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * special.j1(omega_c * r) / (2.0 * np.pi * r)
    c = size // 2
    k[c, c] = omega_c**2 / (4.0 * np.pi)
    return _normalise(k)


def motion(size, length, angle):
    """Linear motion blur: a segment of ``length`` pixels through the centre at ``angle``.

    ``angle`` is in radians, counter-clockwise from the x axis as seen on screen. A pixel's
    weight is the length of the segment within the pixel's extent along the line, times
    1 - its distance across the line (anti-aliasing); length 0 gives the identity kernel.
    """
    _check_size(size)
    half = min(float(length), size - 1) / 2.0
    if half <= 0:
        k = np.zeros((size, size))
        k[size // 2, size // 2] = 1.0
        return k
    xx, yy = _grid(size)
    ux, uy = math.cos(angle), -math.sin(angle)  # rows grow downwards
    t = xx * ux + yy * uy
    across = np.abs(-xx * uy + yy * ux)
    along = np.clip(np.minimum(t + 0.5, half) - np.maximum(t - 0.5, -half), 0.0, 1.0)
    return _normalise(along * np.clip(1.0 - across, 0.0, None))


@functools.lru_cache(maxsize=8)
def _subpixel_offsets(n):
    o = (np.arange(n) + 0.5) / n - 0.5
    sx, sy = np.meshgrid(o, o)
    return sx.ravel(), sy.ravel()


def disk(size, radius):
    """Defocus (pill-box) blur: each pixel weighted by the share of its area inside the disk.

    The share is measured on an 8x8 sub-pixel grid; a radius below half a pixel gives
    the identity kernel.
    """
    _check_size(size)
    xx, yy = _grid(size)
    sx, sy = _subpixel_offsets(8)
    px = xx[..., None] + sx
    py = yy[..., None] + sy
    cover = np.mean(px * px + py * py <= float(radius) ** 2, axis=-1)
    c = size // 2
    cover[c, c] = max(cover[c, c], 1e-12)
    return _normalise(cover)


def box(size):
    """Uniform average over a size x size window."""
    _check_size(size)
    return np.full((size, size), 1.0 / (size * size))


def shift(kernel, dx, dy):
    """Kernel sampled at (x + dx, y + dy) with bilinear interpolation, edges clamped, renormalised.

    BSRGAN shifts its downsampling blur by (sf - 1) / 2 pixels so that nearest
    decimation afterwards stays centred on the high-resolution grid.
    """
    n = kernel.shape[0]
    coords = np.arange(n, dtype=np.float64)

    def interp_axis(k, d, axis):
        pos = np.clip(coords + d, 0, n - 1)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        f = pos - i0
        if axis == 1:
            return k[:, i0] * (1 - f) + k[:, i1] * f
        return k[i0, :] * (1 - f)[:, None] + k[i1, :] * f[:, None]

    out = interp_axis(interp_axis(kernel, dx, 1), dy, 0)
    return _normalise(out)


# family -> (builder, names of its parameters in the record besides 'size')
FAMILIES = {
    "iso": (lambda size, p: gaussian(size, p["sigma"]), ("sigma",)),
    "aniso": (lambda size, p: gaussian(size, p["sigma_x"], p["sigma_y"], p["theta"]), ("sigma_x", "sigma_y", "theta")),
    "generalized_iso": (lambda size, p: generalized_gaussian(size, p["sigma"], beta=p["beta"]), ("sigma", "beta")),
    "generalized_aniso": (
        lambda size, p: generalized_gaussian(size, p["sigma_x"], p["sigma_y"], p["theta"], p["beta"]),
        ("sigma_x", "sigma_y", "theta", "beta"),
    ),
    "plateau_iso": (lambda size, p: plateau(size, p["sigma"], beta=p["beta"]), ("sigma", "beta")),
    "plateau_aniso": (
        lambda size, p: plateau(size, p["sigma_x"], p["sigma_y"], p["theta"], p["beta"]),
        ("sigma_x", "sigma_y", "theta", "beta"),
    ),
    "sinc": (lambda size, p: sinc(size, p["omega_c"]), ("omega_c",)),
    "motion": (lambda size, p: motion(size, p["length"], p["angle"]), ("length", "angle")),
    "defocus": (lambda size, p: disk(size, p["radius"]), ("radius",)),
    "box": (lambda size, p: box(size), ()),
}


def make_kernel(params):
    """Build the kernel a blur record describes: {'family', 'size', family params, 'shift'?}."""
    family = params["family"]
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r} (known: {', '.join(FAMILIES)})")
    build, _ = FAMILIES[family]
    k = build(int(params["size"]), params)
    if params.get("shift"):
        dx, dy = params["shift"]
        k = shift(k, dx, dy)
    return k
