"""The counter-based stream behind every noise field: numpy and torch give the same numbers, and
the numbers have the distributions they claim (checked against scipy)."""

import numpy as np
import pytest
import torch
from scipy import stats

from lightsr.degrade import counter_rng
from lightsr.degrade.counter_poisson import poisson_np, poisson_torch

SEEDS = [0, 1, 3, 99, 2**32 + 5, 2**40 + 17, 2**63 - 2]


@pytest.mark.parametrize("seed", SEEDS)
def test_numpy_and_torch_compute_the_same_stream(seed):
    index = np.concatenate([np.arange(5000), np.array([2**31 - 1, 2**31, 2**32 - 1])]).astype(np.int64)
    k1, k2 = counter_rng.keys_torch([seed], "cpu")
    ours = counter_rng.bits_torch(k1, k2, torch.from_numpy(index)).numpy()
    assert np.array_equal(counter_rng.bits_np(seed, index.astype(np.uint32)).astype(np.int64), ours)
    z_np = counter_rng.normal_np(seed, (4, 7, 3))
    z_t = counter_rng.normal_torch(k1, k2, torch.arange(84).reshape(4, 7, 3)).numpy()
    assert np.abs(z_np - z_t).max() < 1e-5  # float32 log/cos may differ by an ulp


def test_normals_are_standard_normal_and_independent():
    z = counter_rng.normal_np(7, (1_000_000,)).astype(np.float64)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 5e-3 and abs(z.std() - 1) < 5e-3 and abs(stats.kurtosis(z)) < 0.03
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5e-3
    other = counter_rng.normal_np(8, (1_000_000,)).astype(np.float64)
    assert abs(np.corrcoef(z, other)[0, 1]) < 5e-3
    # two seeds are different streams, not reorderings of one (seeds that differ in low bits included)
    assert not np.array_equal(np.sort(counter_rng.normal_np(3, (4096,))), np.sort(counter_rng.normal_np(99, (4096,))))


def test_uniforms_are_uniform_strictly_inside_the_unit_interval():
    u = counter_rng.uniform_np(11, (2_000_000,))
    assert u.dtype == np.float32 and u.min() > 0 and u.max() < 1
    assert stats.kstest(u.astype(np.float64), "uniform").pvalue > 1e-3


@pytest.mark.parametrize("lam", [0.0, 0.5, 4.0, 9.99, 10.0, 40.0, 3000.0])
def test_poisson_counts_have_the_poisson_distribution(lam):
    counts = poisson_np(5, np.full(300_000, lam))
    if lam == 0:
        assert not counts.any()
        return
    k = np.arange(int(lam + 12 * np.sqrt(lam) + 13))
    observed = np.bincount(counts, minlength=k.size)[: k.size] / counts.size
    # total variation to the pmf; sampling noise alone is ~sqrt(support / n)
    assert 0.5 * np.abs(observed - stats.poisson.pmf(k, lam)).sum() < 2.5 * np.sqrt(min(k.size, 6 * np.sqrt(lam) + 6) / counts.size)
    assert abs(counts.mean() - lam) < 4 * np.sqrt(lam / counts.size)
    assert abs(counts.var() / lam - 1) < 4 * np.sqrt(2 / counts.size) + 4 / np.sqrt(lam * counts.size)


def test_torch_poisson_gives_the_numpy_counts():
    lam = np.random.default_rng(0).random((2, 3, 20, 30)) * np.array([12.0, 3000.0])[:, None, None, None]
    seeds = [5, 2**50 + 3]
    expected = np.stack([poisson_np(s, lam[i]) for i, s in enumerate(seeds)])
    k1, k2 = counter_rng.keys_torch(seeds, "cpu")
    n = torch.full((2, 1, 1, 1), 3 * 20 * 30, dtype=torch.int64)
    ours = poisson_torch(k1.view(2, 1, 1, 1), k2.view(2, 1, 1, 1), torch.from_numpy(lam), n).numpy()
    assert np.array_equal(ours, expected)


def test_cached_ranges_and_fast_uniforms_equal_the_definition(monkeypatch):
    index = np.arange(70_001, dtype=np.uint32)
    for n in (1, 5, 70_001, 17):  # grows the cache, then reads a prefix of it
        assert np.array_equal(counter_rng.bits_range_np(9, n), counter_rng.bits_np(9, index[:n]))
    monkeypatch.setattr(counter_rng, "_CACHE_LIMIT", 1000)  # past the cache: computed in full
    assert np.array_equal(counter_rng.bits_range_np(9, 5000), counter_rng.bits_np(9, index[:5000]))
    h = counter_rng.bits_np(4, index)
    expected = ((h >> 9).astype(np.float64) + 0.5) / 2.0**23
    assert np.array_equal(counter_rng._unit_np(h.copy()).astype(np.float64), expected)


@pytest.mark.parametrize("n", [1, 2, 7, 10])
def test_normals_pair_cosine_and_sine_of_one_draw_on_both_backends(n):
    z = counter_rng.normal_np(21, (n,)).astype(np.float64)
    h = counter_rng.bits_np(21, np.arange(n + n % 2, dtype=np.uint32))
    u = ((h >> 9).astype(np.float64) + 0.5) / 2.0**23
    r, angle = np.sqrt(-2 * np.log(u[0::2])), 2 * np.pi * u[1::2]
    expected = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).ravel()[:n]
    assert np.abs(z - expected).max() < 1e-5
    k1, k2 = counter_rng.keys_torch([21], "cpu")
    assert np.abs(counter_rng.normal_torch(k1, k2, torch.arange(n)).numpy() - z).max() < 1e-5
