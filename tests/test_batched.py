"""The batched torch backend against the numpy appliers: op by op and preset by preset, given the
same params (records), the outputs agree (PSNR >= 45 dB; most are equal to float rounding, JPEG
to the 8-bit value)."""

import numpy as np
import pytest
import torch

from lightsr.degrade.batched import apply_records
from lightsr.degrade.pipeline import RECORD_VERSION, Pipeline
from lightsr.degrade.presets import load_pipeline

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return np.inf if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def patches(photo):
    rng = np.random.default_rng(0)
    h, w = photo.shape[:2]
    out = []
    for _ in range(6):
        y, x = rng.integers(0, h - 96), rng.integers(0, w - 96)
        out.append(photo[y:y + 96, x:x + 96])
    return np.stack(out).astype(np.float32)


def record(steps, shape=(96, 96), scale=1):
    return {"version": RECORD_VERSION, "pipeline": "test", "scale": scale, "seed": 0, "epoch": 0, "index": 0,
            "hr_shape": list(shape), "gt": [], "lq": steps}


def both(patches, steps_per_sample, device="cpu"):
    """(numpy outputs, torch outputs) of one step list per sample."""
    records = [record(steps, p.shape[:2]) for steps, p in zip(steps_per_sample, patches)]
    expected = [Pipeline.apply(p, r)[0] for p, r in zip(patches, records)]
    hr = torch.from_numpy(patches[: len(records)]).permute(0, 3, 1, 2).to(device)
    return expected, _apply_ragged(hr, records)


def _apply_ragged(hr, records):
    """The batched steps, each sample cropped to its own final size (these tests end at several)."""
    from lightsr.degrade.batched import scheduler

    canvas = scheduler._Canvas(hr.clone())
    scheduler._run_stage(canvas, [r["lq"] for r in records])
    return [canvas.x[i, :, : canvas.hs[i], : canvas.ws[i]].permute(1, 2, 0).cpu().numpy() for i in range(len(records))]


def assert_close(expected, ours, floor=45.0, exact=None):
    for e, o in zip(expected, ours):
        assert e.shape == o.shape
        if exact is not None:
            assert np.abs(e - o).max() <= exact, np.abs(e - o).max()
        assert psnr(e, o) >= floor


@pytest.mark.parametrize("device", DEVICES)
def test_blur_every_family_with_per_sample_kernels(patches, device):
    steps = [
        [{"op": "blur", "params": {"family": "iso", "size": 7, "sigma": 1.5}}],
        [{"op": "blur", "params": {"family": "aniso", "size": 21, "sigma_x": 3.0, "sigma_y": 0.7, "theta": 0.6}}],
        [{"op": "blur", "params": {"family": "sinc", "size": 13, "omega_c": 1.2}}],
        [{"op": "blur", "params": {"family": "plateau_aniso", "size": 15, "sigma_x": 2, "sigma_y": 1, "theta": 2.0, "beta": 1.5}}],
        [{"op": "blur", "params": {"family": "motion", "size": 11, "length": 7, "angle": 30}}],
        [{"op": "blur", "params": {"family": "iso", "size": 5, "sigma": 0.8, "shift": [0.4, -0.3]}}],
    ]
    expected, ours = both(patches, steps, device)
    assert_close(expected, ours, exact=2e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_resize_every_mode_to_per_sample_sizes(patches, device):
    modes = ["nearest", "bilinear", "bicubic", "area", "lanczos", "matlab_bicubic"]
    sizes = [(40, 37), (150, 96), (96, 96), (61, 130), (24, 24), (97, 55)]
    steps = [[{"op": "resize", "params": {"scale": 1.0, "h": h, "w": w, "mode": m, "clip": i % 2 == 0}}]
             for i, (m, (h, w)) in enumerate(zip(modes, sizes))]
    expected, ours = both(patches, steps, device)
    assert_close(expected, ours, exact=2e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_noise_fields_are_the_numpy_fields(patches, device):
    cov = [[0.004, 0.001, 0.0], [0.001, 0.003, 0.0005], [0.0, 0.0005, 0.002]]
    steps = [
        [{"op": "gaussian_noise", "params": {"sigma": 12.0, "mode": "color", "seed": 11, "clip": True, "round": False}}],
        [{"op": "gaussian_noise", "params": {"sigma": 25.0, "mode": "gray", "seed": 2**60 + 1, "clip": True, "round": True}}],
        [{"op": "gaussian_noise", "params": {"sigma": 0.0, "mode": "correlated", "cov": cov, "seed": 5, "clip": False,
                                             "round": False}}],
        [{"op": "speckle_noise", "params": {"sigma": 20.0, "mode": "color", "seed": 7, "clip": True, "round": False}}],
        [{"op": "poisson_noise", "params": {"scale": 2.0, "vals": "auto", "gray": False, "add_to": "input", "seed": 9,
                                            "clip": True, "round": True}}],
        [{"op": "poisson_noise", "params": {"scale": 1.0, "vals": 350.0, "gray": True, "add_to": "rounded", "seed": 3,
                                            "clip": True, "round": False}}],
    ]
    expected, ours = both(patches, steps, device)
    assert_close(expected, ours, floor=45.0)
    for e, o in zip(expected, ours):  # the same field, not just the same statistics: rounding flips only
        assert np.mean(np.abs(e - o) <= 1e-5) > 0.999
    # a sample's noise does not depend on its neighbours in the batch
    alone, _ = both(patches[1:2], steps[1:2], device)
    assert psnr(alone[0], ours[1]) >= 45


@pytest.mark.parametrize("device", DEVICES)
def test_noise_after_a_resize_uses_the_samples_own_layout(patches, device):
    # samples of different sizes on one canvas: each still draws its own C-order stream
    steps = [[{"op": "resize", "params": {"scale": 1.0, "h": h, "w": w, "mode": "area", "clip": False}},
              {"op": "gaussian_noise", "params": {"sigma": 10.0, "mode": "color", "seed": i, "clip": True, "round": False}},
              {"op": "poisson_noise", "params": {"scale": 1.0, "vals": "auto", "gray": i % 2 == 1, "add_to": "input",
                                                 "seed": 100 + i, "clip": True, "round": False}}]
             for i, (h, w) in enumerate([(50, 70), (96, 31), (33, 33), (80, 90)])]
    expected, ours = both(patches, steps, device)
    assert_close(expected, ours, floor=45.0)


@pytest.mark.parametrize("device", DEVICES)
def test_usm_levels_decimate_and_the_codec_fallback(patches, device):
    steps = [
        [{"op": "usm", "params": {"weight": 0.5, "radius": 50, "threshold": 10}}],
        [{"op": "usm", "params": {"weight": 0.8, "radius": 6, "threshold": 0}}],
        [{"op": "clip", "params": {"low": 0.2, "high": 0.7}}, {"op": "quantize", "params": {"bits": 8}}],
        [{"op": "decimate", "params": {"factor": 3, "offset": 1}}],
        [{"op": "webp", "params": {"quality": 35}}],
        [{"op": "quantize", "params": {"bits": 16}}],
    ]
    expected, ours = both(patches, steps, device)
    assert_close(expected, ours, exact=2e-5)


def blockiness(img):
    """Mean jump across 8x8 block boundaries over the mean jump inside blocks (columns and rows)."""
    y = img.mean(2).astype(np.float64)
    dx, dy = np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))
    edge_x, edge_y = (np.arange(dx.shape[1]) % 8) == 7, (np.arange(dy.shape[0]) % 8) == 7
    return (dx[:, edge_x].mean() + dy[edge_y].mean()) / (dx[:, ~edge_x].mean() + dy[~edge_y].mean())


@pytest.mark.parametrize("device", DEVICES)
def test_torch_jpeg_matches_libjpeg(patches, device):
    # odd sizes (partial blocks and MCUs), every sampling, low to high quality
    # heights even but not a multiple of 16 included: libjpeg pads 4:2:0 chroma after downsampling
    crops = [patches[0], patches[1][:61, :83], patches[2][:40, :90], patches[3][:24, :24], patches[4][:95, :9],
             patches[5], patches[0][:10, :30], patches[1][:2, :2], patches[2][:8, :8]]
    settings = [(5, "420"), (20, "420"), (35, "420"), (50, "420"), (75, "420"), (95, "444"), (50, "420"), (50, "420"),
                (30, "422")]
    for crop, (quality, sampling) in zip(crops, settings):
        steps = [[{"op": "jpeg", "params": {"quality": quality, "sampling": sampling}}]]
        expected, ours = both(crop[None], steps, device)
        if min(crop.shape[:2]) >= 5:  # libjpeg's integer arithmetic, reproduced: the same 8-bit image
            assert np.array_equal(np.rint(expected[0] * 255), np.rint(ours[0] * 255)), (crop.shape, quality, sampling)
        else:  # a few pixels wide: libjpeg-turbo's upsampler differs at the edge; the bar
            assert psnr(expected[0], ours[0]) >= 35, (crop.shape, quality, sampling)
        if crop.shape[0] >= 64 and crop.shape[1] >= 64:
            assert blockiness(ours[0]) == pytest.approx(blockiness(expected[0]), rel=0.05)


@pytest.mark.parametrize("preset", ["bicubic", "realesrgan", "bsrgan", "bsrgan_plus"])
def test_presets_give_the_cpu_result(patches, preset):
    pipe = load_pipeline(preset)
    hr = torch.from_numpy(patches).permute(0, 3, 1, 2)
    lr, target, records = pipe.batch(hr, seed=4, indices=range(10, 16))
    # and with OpenCV's own codec in place of the torch JPEG
    lr_codec, _ = apply_records(hr, records, numpy_ops={"jpeg"})
    for i, (p, r) in enumerate(zip(patches, records)):
        assert r == pipe.sample(p.shape, 4, 10 + i)  # the same draw as the CPU path
        cpu_lr, cpu_target = pipe.apply(p, r)
        assert psnr(cpu_lr, lr[i].permute(1, 2, 0).numpy()) >= 45
        assert psnr(cpu_lr, lr_codec[i].permute(1, 2, 0).numpy()) >= 45
        assert psnr(cpu_target, target[i].permute(1, 2, 0).numpy()) >= 45
    assert lr.shape == (6, 3, 24, 24)


def test_bad_records_are_refused(patches):
    hr = torch.from_numpy(patches[:1]).permute(0, 3, 1, 2)
    old = dict(record([]), version=1)
    with pytest.raises(Exception, match="version 1"):
        apply_records(hr, [old])
    with pytest.raises(Exception, match="drawn for a 50x50 HR"):
        apply_records(hr, [record([], shape=(50, 50))])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_records_replay_across_backends(patches):
    pipe = load_pipeline("realesrgan")
    hr = torch.from_numpy(patches).permute(0, 3, 1, 2)
    lr_gpu, _, records = pipe.batch(hr.cuda(), seed=1, indices=range(6))
    lr_cpu, _ = pipe.apply_batch(hr, records)
    for i, (p, r) in enumerate(zip(patches, records)):
        numpy_lr = pipe.replay(p, r)
        assert psnr(numpy_lr, lr_gpu[i].permute(1, 2, 0).cpu().numpy()) >= 45
        assert psnr(numpy_lr, lr_cpu[i].permute(1, 2, 0).numpy()) >= 45


def test_resize_matrices_reproduce_opencv_on_random_shapes():
    # mixed enlarge/shrink included: OpenCV's INTER_AREA then changes method (built from its formula);
    # every batch mixes sizes and modes, so the banded matrices are rebuilt per sample on one canvas
    from lightsr.degrade.batched.steps import run_op
    from lightsr.degrade.resize import resize

    rng = np.random.default_rng(1)
    modes = ["area", "bilinear", "bicubic", "nearest", "lanczos", "matlab_bicubic"]
    for _ in range(40):
        shapes = [tuple(int(v) for v in rng.integers(3, 120, 4)) for _ in modes]
        canvas = torch.zeros(len(modes), 3, max(s[0] for s in shapes), max(s[1] for s in shapes))
        imgs = [rng.random((h, w, 3), dtype=np.float32) for h, w, _, _ in shapes]
        for i, img in enumerate(imgs):
            canvas[i, :, : img.shape[0], : img.shape[1]] = torch.from_numpy(img).permute(2, 0, 1)
        params = [{"h": s[2], "w": s[3], "mode": m, "clip": False} for s, m in zip(shapes, modes)]
        out, _, _ = run_op("resize", canvas, [s[0] for s in shapes], [s[1] for s in shapes], params)
        for i, ((h, w, oh, ow), mode) in enumerate(zip(shapes, modes)):
            ours = out[i, :, :oh, :ow].permute(1, 2, 0).numpy()
            assert np.abs(ours - resize(imgs[i], oh, ow, mode)).max() < 1e-5, (mode, h, w, oh, ow)
            assert not out[i, :, oh:].any() and not out[i, :, :, ow:].any()  # nothing outside the sample


@pytest.mark.parametrize("device", DEVICES)
def test_torch_poisson_lookup_equals_the_cpu_lookup_at_every_threshold(device):
    # hashes on each CDF threshold and one grid step either side, every "auto" scale
    from lightsr.degrade.batched.noise import _table_counts
    from lightsr.degrade.ops.noise import _poisson_grid_tables, poisson_8bit_from_bits

    rng = np.random.default_rng(0)
    for k in range(9):
        _, thresholds, width = _poisson_grid_tables(float(2**k))
        t = thresholds.reshape(256, width).astype(np.int64)
        levels, counts = np.nonzero(t < 2**23)
        m = np.clip(np.concatenate([t[levels, counts] + d for d in (-1, 0, 1)] + [rng.integers(0, 2**23, 5000)]),
                    0, 2**23 - 1)
        lv = np.concatenate([np.tile(levels, 3), rng.integers(0, 256, 5000)]).astype(np.uint8)
        hashes = (m.astype(np.uint32) << np.uint32(9)) | rng.integers(0, 512, m.size).astype(np.uint32)
        expected = poisson_8bit_from_bits(hashes.copy(), lv, float(2**k))
        ours = _table_counts(torch.from_numpy(hashes.astype(np.int64)).to(device), torch.from_numpy(lv).long().to(device),
                             torch.full((1,), k, device=device))
        assert np.array_equal(ours.cpu().numpy(), expected), k


def test_poisson_on_other_channel_counts(patches):
    # four channels, colour noise: the luma (which needs three) is not computed
    steps = [{"op": "poisson_noise", "params": {"scale": 1.0, "vals": "auto", "gray": False, "add_to": "input", "seed": 4,
                                                "clip": True, "round": False}}]
    img = np.concatenate([patches[0], patches[1][:, :, :1]], axis=2)
    expected = Pipeline.apply(img, record(steps))[0]
    ours = _apply_ragged(torch.from_numpy(img[None]).permute(0, 3, 1, 2).contiguous(), [record(steps)])[0]
    assert np.mean(np.abs(expected - ours) <= 1e-5) > 0.999


def test_jpeg_pass_shifts_are_the_computed_ones():
    from lightsr.degrade.batched import jpeg

    assert tuple(jpeg._pass(kind, last, "cpu")[1] for kind, last in jpeg._PASSES) == jpeg._SHIFTS
    assert jpeg.quant_table([16] * 64, 50) == [16] * 64 and jpeg.quant_table(jpeg._LUMA, 0) == jpeg.quant_table(jpeg._LUMA, 1)


def test_resize_weights_from_a_comb_equal_the_identity_image_responses():
    # one resize of an n x k comb gives the weights a resize of the n x n identity gives
    from lightsr.degrade.batched.resize import _axis_np
    from lightsr.degrade.resize import resize

    rng = np.random.default_rng(3)
    for _ in range(150):
        n, on = (int(v) for v in rng.integers(2, 300, 2))
        for mode in ("area", "bilinear", "bicubic", "nearest", "lanczos", "matlab_bicubic"):
            if mode == "area" and on > n:
                continue
            identity = resize(np.eye(n, dtype=np.float32)[:, :, None], on, n, mode)[:, :, 0]
            ours = _axis_np(mode, n, on, False)
            if mode == "lanczos":  # OpenCV's Lanczos leaks ~1e-8 across the unchanged axis, differently for each image
                assert np.abs(ours - identity).max() < 1e-6, (mode, n, on)
            else:
                assert np.array_equal(ours, identity), (mode, n, on)


def test_size_groups_and_their_results(patches, monkeypatch):
    from lightsr.degrade.batched import scheduler

    groups = scheduler._size_groups([100, 90, 40, 10, 96], [100, 90, 40, 10, 96])
    assert groups == [[0, 1, 4], [2], [3]]  # each group's canvas at most twice its smallest sample's area
    assert len(scheduler._size_groups(list(range(1, 50)), list(range(1, 50)))) == 4  # at most four
    # grouped rounds (the CPU default) give what one canvas for all gives
    pipe = load_pipeline("realesrgan")
    hr = torch.from_numpy(patches).permute(0, 3, 1, 2)
    records = [pipe.sample(patches[0].shape, 12, i) for i in range(len(patches))]
    grouped = apply_records(hr, records, static=False)
    monkeypatch.setattr(scheduler, "_size_groups", lambda hs, ws: [list(range(len(hs)))])
    single = apply_records(hr, records, static=False)
    assert all(torch.equal(a, b) for a, b in zip(grouped, single))
