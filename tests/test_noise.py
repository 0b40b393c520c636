"""Noise ops: the measured statistics match the parameters."""

import numpy as np
import pytest

from lightsr.degrade.config import build_node
from lightsr.degrade.ops import OPS, SampleContext
from lightsr.degrade.pipeline import sample_rng

CTX = SampleContext((256, 256, 3), 4)
FLAT = np.full((256, 256, 3), 0.5, np.float32)


def draw(spec, shape=FLAT.shape, index=0):
    node = build_node(spec)
    steps = []
    node.sample(sample_rng(0, index), shape, CTX, steps, "")
    return steps[0]


def apply(step, img):
    return OPS[step["op"]].apply(img, step["params"])


@pytest.mark.parametrize("sigma", [2.0, 10.0, 30.0])
def test_gaussian_sigma_measured(sigma):
    step = draw({"op": "gaussian_noise", "sigma": sigma, "clip": False})
    noise = apply(step, FLAT) - FLAT
    assert abs(noise.std() * 255 / sigma - 1) < 0.01
    assert abs(noise.mean()) < 3 * sigma / 255 / np.sqrt(noise.size)
    # colour noise: channels independent
    c = np.corrcoef(noise.reshape(-1, 3).T)
    assert np.abs(c - np.eye(3)).max() < 0.02


def test_gray_noise_is_one_field_for_all_channels():
    step = draw({"op": "gaussian_noise", "sigma": 10, "gray_prob": 1.0, "clip": False})
    noise = apply(step, FLAT) - FLAT
    assert step["params"]["mode"] == "gray"
    assert np.array_equal(noise[..., 0], noise[..., 1]) and np.array_equal(noise[..., 1], noise[..., 2])


def test_gray_is_chosen_per_sample_with_its_probability():
    modes = [draw({"op": "gaussian_noise", "sigma": 5, "gray_prob": 0.4}, index=i)["params"]["mode"] for i in range(2000)]
    share = modes.count("gray") / len(modes)
    assert abs(share - 0.4) < 0.035  # 3.2 standard errors


def test_correlated_noise_has_the_recorded_covariance():
    step = draw({"op": "gaussian_noise", "sigma": 10, "correlated_prob": 1.0, "clip": False})
    assert step["params"]["mode"] == "correlated"
    noise = (apply(step, FLAT) - FLAT).reshape(-1, 3).astype(np.float64)
    cov = np.array(step["params"]["cov"])
    # the nearest PSD matrix to BSRGAN's |L^2 U^T D U| is what is realised
    vals, vecs = np.linalg.eigh(cov)
    psd = (vecs * np.clip(vals, 0, None)) @ vecs.T
    assert np.abs(np.cov(noise.T) - psd).max() < 0.03 * np.abs(psd).max()


def test_clip_and_round_options():
    step = draw({"op": "gaussian_noise", "sigma": 50, "clip": True, "round": True})
    out = apply(step, FLAT)
    assert out.min() >= 0 and out.max() <= 1
    assert np.allclose(out * 255, np.round(out * 255), atol=1e-4)


def test_speckle_noise_is_multiplicative():
    ramp = np.repeat(np.linspace(0.1, 0.9, 256, dtype=np.float32)[None, :, None], 256, 0).repeat(3, 2)
    step = draw({"op": "speckle_noise", "sigma": 20, "clip": False})
    noise = apply(step, ramp) - ramp
    ratio = noise / ramp
    assert abs(ratio.std() * 255 / 20 - 1) < 0.02
    assert noise[:, :32].std() < noise[:, -32:].std() / 4


def test_poisson_variance_follows_the_signal():
    # var(poisson(x v) / v) = x / v; Real-ESRGAN's vals: 2^ceil(log2(distinct levels))
    levels = np.repeat(np.array([0.2, 0.6], np.float32), 128)
    img = np.repeat(levels[None, :, None], 256, 0).repeat(3, 2)
    step = draw({"op": "poisson_noise", "scale": 1.0, "vals": "auto", "clip": False})
    noise = apply(step, img) - img
    vals = 2.0  # two distinct 8-bit levels -> 2 ** ceil(log2(2))
    for x, part in ((0.2, noise[:, :128]), (0.6, noise[:, 128:])):
        x8 = round(x * 255) / 255
        assert abs(part.var() / (x8 / vals) - 1) < 0.03
        assert abs(part.mean()) < 4 * np.sqrt(x8 / vals / part.size)


def test_poisson_scale_and_explicit_vals():
    step = draw({"op": "poisson_noise", "scale": 0.5, "vals": 1000, "clip": False})
    noise = apply(step, FLAT) - FLAT
    x8 = 128 / 255
    assert abs(noise.var() / (0.25 * x8 / 1000) - 1) < 0.02


def test_poisson_gray_is_shared_by_channels():
    step = draw({"op": "poisson_noise", "vals": 500, "gray_prob": 1.0, "clip": False})
    noise = apply(step, FLAT) - FLAT
    assert np.array_equal(noise[..., 0], noise[..., 2])


def test_noise_field_comes_from_the_params_alone():
    step = draw({"op": "gaussian_noise", "sigma": 7})
    assert np.array_equal(apply(step, FLAT), apply(step, FLAT))


@pytest.mark.parametrize("level", [3, 40, 200, 255])
def test_table_poisson_sampler_has_the_poisson_distribution(level):
    from scipy import stats

    from lightsr.degrade.counter_rng import uniform_np
    from lightsr.degrade.ops.noise import poisson_8bit

    vals = 256.0
    lam = level / 255 * vals
    counts = poisson_8bit(uniform_np(level, (200_000,)), np.full(200_000, level, np.uint8), vals)
    k = np.arange(int(lam + 12 * np.sqrt(lam) + 13))
    observed = np.bincount(counts, minlength=k.size)[: k.size] / counts.size
    # total variation distance to the Poisson pmf: ~sqrt(support / n) of sampling noise only
    assert 0.5 * np.abs(observed - stats.poisson.pmf(k, lam)).sum() < 0.02
    assert abs(counts.mean() - lam) < 4 * np.sqrt(lam / counts.size) + 1e-9


@pytest.mark.parametrize("vals", [1.0, 8.0, 128.0, 256.0])
def test_integer_grid_poisson_lookup_equals_the_float_lookup(vals):
    from lightsr.degrade.counter_rng import _unit_np, bits_range_np
    from lightsr.degrade.ops.noise import _poisson_grid_tables, poisson_8bit, poisson_8bit_from_bits

    rng = np.random.default_rng(int(vals))
    u8 = rng.integers(0, 256, (120, 90, 3)).astype(np.uint8)
    h = bits_range_np(3, u8.size)
    expected = poisson_8bit(_unit_np(h.copy()).reshape(u8.shape), u8, vals)
    assert np.array_equal(poisson_8bit_from_bits(h, u8, vals), expected.astype(np.float32))
    # hashes whose uniforms sit on each CDF threshold and one grid step either side of it
    _, thresholds, width = _poisson_grid_tables(vals)
    t = thresholds.reshape(256, width).astype(np.int64)
    levels, counts = np.nonzero(t < 2**23)
    m = np.clip(np.concatenate([t[levels, counts] + d for d in (-1, 0, 1)]), 0, 2**23 - 1)
    lv = np.tile(levels, 3).astype(np.uint8)
    hashes = (m.astype(np.uint32) << np.uint32(9)) | rng.integers(0, 512, m.size).astype(np.uint32)
    expected = poisson_8bit(_unit_np(hashes.copy()), lv, vals)
    assert np.array_equal(poisson_8bit_from_bits(hashes, lv, vals), expected.astype(np.float32))


def test_poisson_op_equals_its_definition(photo):
    """Real-ESRGAN's shot noise written out with plain numpy, on values at the rounding edges too."""
    from lightsr.degrade.counter_rng import uniform_np
    from lightsr.degrade.ops.noise import LUMA, poisson_8bit

    img = np.ascontiguousarray(photo[:64, :80]) * np.float32(1.1) - np.float32(0.05)
    img[0, :8, 0] = (np.arange(8) + 0.5) / 255  # exact halves: round to even
    for gray in (False, True):
        params = {"scale": 1.7, "vals": "auto", "gray": gray, "add_to": "input", "seed": 11, "clip": True, "round": False}
        u8 = np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
        rounded = u8.astype(np.float32) / np.float32(255.0)
        base_u8 = np.rint(rounded @ LUMA * 255.0).clip(0, 255).astype(np.uint8)[:, :, None] if gray else u8
        vals = float(2 ** np.ceil(np.log2(len(np.unique(base_u8)))))
        counts = poisson_8bit(uniform_np(11, base_u8.shape), base_u8, vals).astype(np.float32)
        base = base_u8.astype(np.float32) / np.float32(255.0)
        expected = np.clip(img + (counts * np.float32(1.0 / vals) - base) * np.float32(1.7), 0, 1)
        assert np.array_equal(OPS["poisson_noise"].apply(img, params), expected)
