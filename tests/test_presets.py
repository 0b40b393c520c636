"""Presets carry the published values, and draw with the published frequencies."""

import math
from collections import Counter

import numpy as np
import pytest

from lightsr.degrade import load_pipeline
from lightsr.degrade.distributions import OddInt, RandInt, Split, Uniform

# Real-ESRGAN, options/train_realesrgan_x4plus.yml (xinntao/Real-ESRGAN, v0.2.x), copied from
# the published file; kernel sizes and sinc cut-offs from realesrgan/data/realesrgan_dataset.py.
REALESRGAN = {
    "kernel_list": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "sinc_prob": 0.1, "blur_sigma": [0.2, 3], "betag_range": [0.5, 4], "betap_range": [1, 2],
    "sinc_prob2": 0.1, "blur_sigma2": [0.2, 1.5], "betag_range2": [0.5, 4], "betap_range2": [1, 2],
    "final_sinc_prob": 0.8,
    "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5],
    "gaussian_noise_prob": 0.5, "noise_range": [1, 30], "poisson_scale_range": [0.05, 3], "gray_noise_prob": 0.4,
    "jpeg_range": [30, 95],
    "second_blur_prob": 0.8,
    "resize_prob2": [0.3, 0.4, 0.3], "resize_range2": [0.3, 1.2],
    "gaussian_noise_prob2": 0.5, "noise_range2": [1, 25], "poisson_scale_range2": [0.05, 2.5], "gray_noise_prob2": 0.4,
    "jpeg_range2": [30, 95],
    "kernel_sizes": [7, 21], "usm": {"weight": 0.5, "radius": 50, "threshold": 10},
}


def child(seq, label):
    return next(c for c in seq.children if c.label == label)


def check_blur(one_of, sinc_prob, sigma, betag, betap):
    R = REALESRGAN
    assert one_of.p == [sinc_prob, 1 - sinc_prob]
    sinc, mixed = one_of.children[0].op, one_of.children[1].op
    assert sinc.families == ["sinc"] and isinstance(sinc.size, OddInt)
    assert (sinc.size.a, sinc.size.b) == tuple(R["kernel_sizes"])
    d = sinc.param_dists[0]
    assert (d["omega_c"].a, d["omega_c"].b) == (math.pi / 5, math.pi)
    assert (d["omega_c_small"].a, d["omega_c_small"].b, d["small_below"]) == (math.pi / 3, math.pi, 13)
    assert mixed.families == R["kernel_list"]
    probs = np.diff([0] + mixed._cum)
    assert np.allclose(probs, R["kernel_prob"])
    for fam, dists in zip(mixed.families, mixed.param_dists):
        for name, dist in dists.items():
            if name.startswith("sigma"):
                assert isinstance(dist, Uniform) and [dist.a, dist.b] == sigma
            elif name == "theta":
                assert [dist.a, dist.b] == [-math.pi, math.pi]
            elif name == "beta":
                lo, hi = betag if fam.startswith("generalized") else betap
                # basicsr: beta ~ U(lo, 1) or U(1, hi), 50/50
                assert isinstance(dist, Split) and [dist.a, dist.m, dist.b] == [lo, 1, hi]


def check_noise(one_of, gauss_prob, sigma, poisson_scale, gray):
    assert one_of.p == [gauss_prob, 1 - gauss_prob]
    g, p = one_of.children[0].op, one_of.children[1].op
    assert [g.sigma.a, g.sigma.b] == sigma and g.gray_prob == gray and g.correlated_prob == 0 and g.clip
    assert [p.scale.a, p.scale.b] == poisson_scale and p.gray_prob == gray and p.vals == "auto" and p.clip


def test_realesrgan_preset_values_equal_the_published_ones():
    R = REALESRGAN
    pipe = load_pipeline("realesrgan")
    usm = pipe.gt.children[0].op
    assert (usm.weight.value, usm.radius, usm.threshold) == (0.5, 50, 10)
    check_blur(child(pipe.lq, "blur1"), R["sinc_prob"], R["blur_sigma"], R["betag_range"], R["betap_range"])
    blur2 = child(pipe.lq, "blur2")
    assert blur2.p == R["second_blur_prob"]
    check_blur(blur2.child, R["sinc_prob2"], R["blur_sigma2"], R["betag_range2"], R["betap_range2"])
    for label, probs, (lo, hi), rel in (("resize1", R["resize_prob"], R["resize_range"], "input"),
                                         ("resize2", R["resize_prob2"], R["resize_range2"], "target")):
        op = child(pipe.lq, label).op
        assert np.allclose(np.diff([0] + op.updown_cum), probs)
        assert [op.up.a, op.up.b] == [1, hi] and [op.down.a, op.down.b] == [lo, 1]
        assert op.mode.modes == ["area", "bilinear", "bicubic"] and op.relative_to == rel
    check_noise(child(pipe.lq, "noise1"), R["gaussian_noise_prob"], R["noise_range"], R["poisson_scale_range"],
                R["gray_noise_prob"])
    check_noise(child(pipe.lq, "noise2"), R["gaussian_noise_prob2"], R["noise_range2"], R["poisson_scale_range2"],
                R["gray_noise_prob2"])
    jpeg1 = child(pipe.lq, "jpeg1").op
    assert isinstance(jpeg1.quality, RandInt) and [jpeg1.quality.a, jpeg1.quality.b] == R["jpeg_range"]
    final = child(pipe.lq, "final")
    assert final.p == [0.5, 0.5]
    first, second = final.children
    assert [c.op.name if hasattr(c, "op") else "maybe" for c in first.children] == ["resize_to_target", "maybe", "jpeg"]
    assert [c.op.name if hasattr(c, "op") else "maybe" for c in second.children] == ["jpeg", "resize_to_target", "maybe"]
    sinc = first.children[1]
    assert sinc.p == R["final_sinc_prob"]
    d = sinc.child.op.param_dists[0]["omega_c"]
    assert (d.a, d.b) == (math.pi / 3, math.pi)
    assert [first.children[2].op.quality.a, first.children[2].op.quality.b] == R["jpeg_range2"]
    assert pipe.lq.children[-1].op.name == "quantize"


@pytest.fixture(scope="module")
def realesrgan_records():
    pipe = load_pipeline("realesrgan")
    return [pipe.sample((256, 256, 3), seed=11, index=i) for i in range(4000)]


def _share(records, predicate):
    return sum(map(predicate, records)) / len(records)


def test_realesrgan_draw_frequencies(realesrgan_records):
    recs, n = realesrgan_records, len(realesrgan_records)
    tol = 3.5 / math.sqrt(n)  # ~3.5 standard errors of a proportion near 0.5

    def steps(r, label):
        return [s for s in r["lq"] if s.get("label", "").startswith(label)]

    fam = Counter(steps(r, "blur1")[0]["params"]["family"] for r in recs)
    expected = {"sinc": 0.1, **{k: 0.9 * p for k, p in zip(REALESRGAN["kernel_list"], REALESRGAN["kernel_prob"])}}
    for k, p in expected.items():
        assert abs(fam[k] / n - p) < tol, k
    assert abs(_share(recs, lambda r: len(steps(r, "blur2")) == 1) - 0.8) < tol
    scales = [steps(r, "resize1")[0]["params"]["scale"] for r in recs]
    kinds = Counter("up" if s > 1 else "down" if s < 1 else "keep" for s in scales)
    for k, p in zip(("up", "down", "keep"), REALESRGAN["resize_prob"]):
        assert abs(kinds[k] / n - p) < tol
    assert abs(_share(recs, lambda r: steps(r, "noise1")[0]["op"] == "gaussian_noise") - 0.5) < tol
    gray = [s["params"] for r in recs for s in steps(r, "noise") if s["op"] == "gaussian_noise"]
    assert abs(sum(p["mode"] == "gray" for p in gray) / len(gray) - 0.4) < tol
    sinc_final = _share(recs, lambda r: any(s["op"] == "blur" for s in steps(r, "final")))
    assert abs(sinc_final - 0.8) < tol
    jpeg_first = _share(recs, lambda r: steps(r, "final")[0]["op"] == "jpeg")
    assert abs(jpeg_first - 0.5) < tol
    qualities = [s["params"]["quality"] for r in recs for s in r["lq"] if s["op"] == "jpeg"]
    assert min(qualities) == 30 and max(qualities) == 95
    sizes = Counter(steps(r, "blur1")[0]["params"]["size"] for r in recs)
    assert sorted(sizes) == list(range(7, 22, 2))


def test_realesrgan_sinc_cut_off_depends_on_kernel_size(realesrgan_records):
    blur1 = [s["params"] for r in realesrgan_records for s in r["lq"] if s.get("label") == "blur1"]
    sincs = [p for p in blur1 if p["family"] == "sinc"]
    small = [p["omega_c"] for p in sincs if p["size"] < 13]
    large = [p["omega_c"] for p in sincs if p["size"] >= 13]
    assert min(small) >= math.pi / 3 and min(large) < math.pi / 3 and min(large) >= math.pi / 5


def test_realesrgan_second_resize_is_relative_to_the_lr_size(realesrgan_records):
    for r in realesrgan_records[:200]:
        p = next(s["params"] for s in r["lq"] if s.get("label") == "resize2")
        assert p["h"] == int(256 / 4 * p["scale"])


def test_bsrgan_structure_and_frequencies():
    pipe = load_pipeline("bsrgan")
    n = 3000
    recs = [pipe.sample((256, 256, 3), seed=5, index=i) for i in range(n)]
    tol = 3.5 / math.sqrt(n)
    sf2 = _share(recs, lambda r: r["lq"][0]["label"].startswith("sf2/downsample1"))
    assert abs(sf2 - 0.25) < tol
    for r in recs:
        labels = [s.get("label", "") for s in r["lq"]]
        first_ds2 = min(i for i, lab in enumerate(labels) if lab.endswith("downsample2"))
        ds3 = labels.index(next(lab for lab in labels if lab.endswith("downsample3")))
        assert first_ds2 < ds3  # downsample3 always after downsample2
        assert r["lq"][-1]["op"] == "jpeg" and labels[-1] == "final_jpeg"
        assert sum(lab.endswith("/blur") for lab in labels) == 2
    noise = [s["params"] for r in recs for s in r["lq"] if s["op"] == "gaussian_noise"]
    modes = Counter(p["mode"] for p in noise)
    assert abs(modes["color"] / n - 0.4) < tol and abs(modes["gray"] / n - 0.4) < tol
    assert {p["sigma"] for p in noise} == set(range(2, 26))
    mid_jpeg = _share(recs, lambda r: sum(s["op"] == "jpeg" for s in r["lq"]) == 2)
    assert abs(mid_jpeg - 0.9) < tol


def test_bsrgan_aniso_kernels_draw_variance_uniformly():
    # BSRGAN draws the covariance eigenvalues l ~ U(0, 4 + sf); sigma = sqrt(l)
    pipe = load_pipeline("bsrgan")
    sig = [s["params"]["sigma_x"] for i in range(3000) for s in pipe.sample((256, 256, 3), 1, i)["lq"]
           if s["op"] == "blur" and s["params"]["family"] == "aniso" and s["label"].startswith("sf4")]
    var = np.square(sig)
    assert 0 <= var.min() and var.max() <= 8 and abs(var.mean() - 4) < 0.25


def test_bsrgan_plus_values():
    pipe = load_pipeline("bsrgan_plus")
    assert pipe.gt.children[0].op.name == "usm"
    n = 2000
    recs = [pipe.sample((256, 256, 3), seed=2, index=i) for i in range(n)]
    ops = Counter(s["op"] for r in recs for s in r["lq"])
    # two rounds, each with Poisson and speckle at p 0.1
    assert abs(ops["poisson_noise"] / (2 * n) - 0.1) < 0.02 and abs(ops["speckle_noise"] / (2 * n) - 0.1) < 0.02
    fixed = [r for r in recs if r["lq"][0]["label"].startswith("fixed")]
    assert abs(len(fixed) / n - 0.5) < 0.04
    for r in fixed:  # fixed order: blur, resize, noise steps, jpeg, blur, resize, noise steps
        ops_r = [s["label"].split("/")[-1] for s in r["lq"]]
        assert ops_r[:2] == ["blur", "resize"] and ops_r[-2:] == ["final_resize", "final_jpeg"]
        j = ops_r.index("jpeg")
        assert set(ops_r[2:j]) <= {"noise", "poisson", "speckle"} and ops_r[j + 1:j + 3] == ["blur", "resize"]
    vals = [s["params"]["vals"] for r in recs for s in r["lq"] if s["op"] == "poisson_noise"]
    assert 100 <= min(vals) and max(vals) <= 10000


def test_bicubic_preset_is_matlab_bicubic(basicsr, photo):
    from basicsr.utils.matlab_functions import imresize

    lr, _ = load_pipeline("bicubic")(photo, seed=0, index=0)
    ref = np.clip(np.round(imresize(photo, 0.25) * 255), 0, 255) / 255
    # rounding of values within 1e-6 of a half level may differ: at most one 8-bit level
    assert np.abs(lr - ref).max() <= 1 / 255 + 1e-6
    assert np.mean(np.abs(lr - ref) > 1e-6) < 1e-3

