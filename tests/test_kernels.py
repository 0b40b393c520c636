"""Kernels against basicsr (the reference implementation) and against their definitions."""

import math

import numpy as np
import pytest

from lightsr.degrade import kernels as K

SIZES = [7, 13, 21]


@pytest.fixture(scope="module")
def bd(basicsr):
    from basicsr.data import degradations

    return degradations


@pytest.mark.parametrize("size", SIZES)
def test_gaussian_families_equal_basicsr(bd, size):
    rng = np.random.default_rng(size)
    for _ in range(25):
        sx, sy = rng.uniform(0.2, 3, 2)
        theta, beta = rng.uniform(-math.pi, math.pi), rng.uniform(0.5, 4)
        pairs = [
            (K.gaussian(size, sx), bd.bivariate_Gaussian(size, sx, sx, 0, isotropic=True)),
            (K.gaussian(size, sx, sy, theta), bd.bivariate_Gaussian(size, sx, sy, theta, isotropic=False)),
            (K.generalized_gaussian(size, sx, beta=beta),
             bd.bivariate_generalized_Gaussian(size, sx, sx, 0, beta, isotropic=True)),
            (K.generalized_gaussian(size, sx, sy, theta, beta),
             bd.bivariate_generalized_Gaussian(size, sx, sy, theta, beta, isotropic=False)),
            (K.plateau(size, sx, beta=beta), bd.bivariate_plateau(size, sx, sx, 0, beta, isotropic=True)),
            (K.plateau(size, sx, sy, theta, beta), bd.bivariate_plateau(size, sx, sy, theta, beta, isotropic=False)),
        ]
        for ours, ref in pairs:
            assert ours.shape == ref.shape == (size, size)
            assert np.abs(ours - ref).max() < 1e-6


@pytest.mark.parametrize("size", SIZES)
def test_sinc_equals_basicsr(bd, size):
    for omega in np.linspace(math.pi / 5, math.pi, 7):
        assert np.abs(K.sinc(size, omega) - bd.circular_lowpass_kernel(omega, size)).max() < 1e-6


def test_make_kernel_from_record_params_equals_basicsr(bd):
    params = {"family": "generalized_aniso", "size": 15, "sigma_x": 2.1, "sigma_y": 0.7, "theta": 0.4, "beta": 1.7}
    ref = bd.bivariate_generalized_Gaussian(15, 2.1, 0.7, 0.4, 1.7, isotropic=False)
    assert np.abs(K.make_kernel(params) - ref).max() < 1e-6


@pytest.mark.parametrize("family,params", [
    ("iso", {"sigma": 1.3}), ("aniso", {"sigma_x": 2, "sigma_y": 0.5, "theta": 1}), ("sinc", {"omega_c": 1.2}),
    ("motion", {"length": 9, "angle": 0.7}), ("defocus", {"radius": 3.2}), ("box", {}),
    ("plateau_iso", {"sigma": 1, "beta": 1.5}),
])
def test_kernels_are_normalised_odd_and_centred(family, params):
    k = K.make_kernel({"family": family, "size": 21, **params})
    assert k.shape == (21, 21)
    assert abs(k.sum() - 1) < 1e-12
    # point-symmetric families are centred: their first moments vanish
    ys, xs = np.mgrid[-10:11, -10:11]
    assert abs((k * xs).sum()) < 1e-9 and abs((k * ys).sum()) < 1e-9


def test_even_size_is_rejected():
    with pytest.raises(ValueError, match="odd"):
        K.gaussian(8, 1.0)


def test_gaussian_second_moments_match_sigma_and_theta():
    # with a kernel large enough for the tails to vanish, the kernel's covariance is Sigma
    sx, sy, theta = 3.0, 1.2, 0.6
    k = K.gaussian(41, sx, sy, theta)
    ys, xs = np.mgrid[-20:21, -20:21]
    cov = np.array([[(k * xs * xs).sum(), (k * xs * ys).sum()], [(k * xs * ys).sum(), (k * ys * ys).sum()]])
    r = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    expected = r @ np.diag([sx**2, sy**2]) @ r.T
    # a sampled Gaussian's variance exceeds sigma^2 by ~1/12 px^2 at most (sampling, not tails)
    assert np.abs(cov - expected).max() < 0.1
    vals, vecs = np.linalg.eigh(cov)
    major = vecs[:, np.argmax(vals)]
    assert abs(abs(major @ np.array([math.cos(theta), math.sin(theta)])) - 1) < 1e-3


def test_sinc_cut_off_in_the_fourier_domain():
    omega = math.pi / 2
    k = K.sinc(41, omega)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(k, (256, 256))))
    f = np.fft.fftshift(np.fft.fftfreq(256)) * 2 * math.pi
    radius = np.hypot(*np.meshgrid(f, f))
    passband = spectrum[radius < 0.8 * omega]
    stopband = spectrum[radius > 1.2 * omega]
    # a truncated ideal low-pass: ~1 inside the cut-off, ~0 outside (Gibbs ripple aside)
    assert passband.mean() > 0.95 and passband.min() > 0.8
    assert stopband.mean() < 0.05 and stopband.max() < 0.2


def test_motion_kernel_is_a_line_of_the_given_length_and_angle():
    length, angle = 11.0, math.pi / 6
    k = K.motion(21, length, angle)
    ys, xs = np.mgrid[-10:11, -10:11]
    direction = np.array([math.cos(angle), -math.sin(angle)])
    along = xs * direction[0] + ys * direction[1]
    across = -xs * direction[1] + ys * direction[0]
    # a uniform segment of length L has variance L^2 / 12 along it and ~0 across
    assert abs((k * along**2).sum() - length**2 / 12) < 1.0
    assert (k * across**2).sum() < 0.2
    assert K.motion(21, 0, 0.3)[10, 10] == 1.0


def test_defocus_disk_covers_the_circle():
    r = 5.0
    k = K.disk(21, r)
    support = k > 0
    assert abs(support.sum() - math.pi * r * r) < 2 * math.pi * r  # within one pixel ring
    assert np.allclose(k[support].max(), k[10, 10])  # flat top
    assert K.disk(21, 0.2)[10, 10] == 1.0


def test_shift_moves_the_kernel_as_bsrgan_does():
    # BSRGAN samples the kernel at x + shift: the mass moves by -shift
    k = K.gaussian(25, 1.5)
    s = K.shift(k, 1.5, 1.5)
    ys, xs = np.mgrid[-12:13, -12:13]
    assert abs((s * xs).sum() + 1.5) < 1e-6 and abs((s * ys).sum() + 1.5) < 1e-6
    assert abs(s.sum() - 1) < 1e-12
