"""Degradation throughput: lightsr against the pipelines people use today, in one run.

    python bench/degrade.py [--seconds 8] [--batch 16]

1. Real-ESRGAN degradations, 256x256 HR -> 64x64 LR, x4, no file I/O, on all cores:
   lightsr's `realesrgan` preset with one worker process per core, against the same pipeline
   assembled from basicsr's primitives as Real-ESRGAN's model uses them (kernels from
   basicsr.data.degradations, USMSharp, filter2D, F.interpolate, the torch noise functions,
   DiffJPEG), with torch using all cores.
2. Per core: lightsr's `bsrgan` / `bsrgan_plus` presets against BSRGAN's own numpy code
   (PyPI package `bsrgan==0.1.5`, the BSRGAN repository packaged; install it to compare:
   `pip install --no-deps bsrgan==0.1.5`). Its shift_pixel calls scipy's interp2d, which
   current SciPy removed; it is replaced by an equivalent bilinear shift (on a 25x25 kernel,
   a negligible share of the time), and its scipy.finfo by numpy's.
3. lightsr `bicubic` against basicsr's MATLAB imresize, per core.
4. Where the time of the `realesrgan` preset goes, op by op.

    python bench/degrade.py --device cuda [--seconds 8] [--compile auto|on|off]

runs instead the batched backends on one device, in one run: lightsr's `realesrgan` preset
through Pipeline.batch (every parameter drawn per sample) against the basicsr-primitives
pipeline (one resize mode, scale and noise type per batch, as Real-ESRGAN's model draws them),
both on that device at batch 16 and 64; on "cpu" this measures the CPU-torch backend.
"""

import argparse
import collections
import math
import multiprocessing as mp
import os
import platform
import random
import sys
import time

import numpy as np

HR, SCALE = 256, 4


def patches(n=32, seed=0):
    """Random 256x256 crops of the embedded photos (float32 RGB in [0, 1])."""
    from lightsr.images import read_image
    from lightsr.sample_data import skimage_photos

    rng = np.random.default_rng(seed)
    photos = [read_image(p)[0] for p in skimage_photos()]
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        y, x = rng.integers(0, img.shape[0] - HR + 1), rng.integers(0, img.shape[1] - HR + 1)
        out.append(np.ascontiguousarray(img[y:y + HR, x:x + HR]))
    return out


def timed(step, seconds, warmup=3):
    """Run ``step(i)`` (returns pairs made) repeatedly for ``seconds``; pairs per second."""
    for i in range(warmup):
        step(i)
    n, i, start = 0, warmup, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += step(i)
        i += 1
    return n / (time.perf_counter() - start)


# ---------------------------------------------------------------- lightsr


def _lightsr_worker(args):
    name, seconds, seed = args
    import cv2

    cv2.setNumThreads(1)
    from lightsr.degrade import load_pipeline

    pipe, hrs = load_pipeline(name, scale=SCALE), patches(seed=seed)
    return timed(lambda i: (pipe(hrs[i % len(hrs)], seed=seed, index=i), 1)[1], seconds)


def lightsr_rate(name, seconds, processes):
    if processes == 1:
        return _lightsr_worker((name, seconds, 0))
    with mp.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(_lightsr_worker, [(name, seconds, s) for s in range(processes)]))


# ---------------------------------------------------------------- basicsr (Real-ESRGAN's way)


class BasicsrRealESRGAN:
    """Real-ESRGAN's training-time degradation built from basicsr's own functions (x4plus options)."""

    def __init__(self, batch, device="cpu"):
        from lightsr.compat import prepare_basicsr

        prepare_basicsr()
        import torch
        from basicsr.data import degradations as deg
        from basicsr.utils import DiffJPEG, USMSharp
        from basicsr.utils.img_process_util import filter2D

        self.torch, self.deg, self.filter2D = torch, deg, filter2D
        self.jpeger, self.usm = DiffJPEG(differentiable=False).to(device), USMSharp().to(device)
        self.batch, self.device = batch, device
        self.kernel_range = [2 * v + 1 for v in range(3, 11)]
        self.kernels = ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"]
        self.kernel_prob = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]

    def _kernel(self, sigma, sinc_prob):
        deg, size = self.deg, random.choice(self.kernel_range)
        if np.random.uniform() < sinc_prob:
            omega = np.random.uniform(np.pi / 3, np.pi) if size < 13 else np.random.uniform(np.pi / 5, np.pi)
            k = deg.circular_lowpass_kernel(omega, size, pad_to=False)
        else:
            k = deg.random_mixed_kernels(self.kernels, self.kernel_prob, size, sigma, sigma, [-math.pi, math.pi],
                                         [0.5, 4], [1, 2], noise_range=None)
        pad = (21 - size) // 2
        return np.pad(k, ((pad, pad), (pad, pad)))

    def _final_sinc(self):
        if np.random.uniform() < 0.8:
            omega, size = np.random.uniform(np.pi / 3, np.pi), random.choice(self.kernel_range)
            return self.deg.circular_lowpass_kernel(omega, size, pad_to=21)
        k = np.zeros((21, 21))
        k[10, 10] = 1
        return k

    def _resize(self, out, prob, rng_range, size=None):
        F = self.torch.nn.functional
        kind = random.choices(["up", "down", "keep"], prob)[0]
        scale = {"up": lambda: np.random.uniform(1, rng_range[1]), "down": lambda: np.random.uniform(rng_range[0], 1),
                 "keep": lambda: 1}[kind]()
        mode = random.choice(["area", "bilinear", "bicubic"])
        if size is None:
            return F.interpolate(out, scale_factor=scale, mode=mode)
        return F.interpolate(out, size=(int(size[0] * scale), int(size[1] * scale)), mode=mode)

    def _noise(self, out, sigma, poisson):
        deg = self.deg
        if np.random.uniform() < 0.5:
            return deg.random_add_gaussian_noise_pt(out, sigma_range=sigma, clip=True, rounds=False, gray_prob=0.4)
        return deg.random_add_poisson_noise_pt(out, scale_range=poisson, gray_prob=0.4, clip=True, rounds=False)

    def __call__(self, hrs):
        torch, F, f2d = self.torch, self.torch.nn.functional, self.filter2D
        with torch.no_grad():
            k1 = torch.FloatTensor(np.stack([self._kernel([0.2, 3], 0.1) for _ in range(len(hrs))])).to(self.device)
            k2 = torch.FloatTensor(np.stack([self._kernel([0.2, 1.5], 0.1) for _ in range(len(hrs))])).to(self.device)
            sinc = torch.FloatTensor(np.stack([self._final_sinc() for _ in range(len(hrs))])).to(self.device)
            gt = hrs if isinstance(hrs, torch.Tensor) else torch.from_numpy(np.stack(hrs).transpose(0, 3, 1, 2)).contiguous()
            h, w = gt.shape[2:]
            out = f2d(self.usm(gt).contiguous(), k1)
            out = self._resize(out, [0.2, 0.7, 0.1], [0.15, 1.5])
            out = self._noise(out.contiguous(), [1, 30], [0.05, 3])
            out = self.jpeger(torch.clamp(out, 0, 1), quality=out.new_zeros(out.size(0)).uniform_(30, 95))
            if np.random.uniform() < 0.8:
                out = f2d(out.contiguous(), k2)
            out = self._resize(out, [0.3, 0.4, 0.3], [0.3, 1.2], size=(h / SCALE, w / SCALE))
            out = self._noise(out.contiguous(), [1, 25], [0.05, 2.5])
            target = (h // SCALE, w // SCALE)
            if np.random.uniform() < 0.5:
                out = F.interpolate(out, size=target, mode=random.choice(["area", "bilinear", "bicubic"]))
                out = f2d(out.contiguous(), sinc)
                out = self.jpeger(torch.clamp(out, 0, 1), quality=out.new_zeros(out.size(0)).uniform_(30, 95))
            else:
                out = self.jpeger(torch.clamp(out, 0, 1), quality=out.new_zeros(out.size(0)).uniform_(30, 95))
                out = F.interpolate(out, size=target, mode=random.choice(["area", "bilinear", "bicubic"]))
                out = f2d(out.contiguous(), sinc)
            lq = torch.clamp((out * 255.0).round(), 0, 255) / 255.0
        assert lq.shape[2:] == target
        return len(hrs)


def basicsr_rate(seconds, batch, threads):
    import torch

    torch.set_num_threads(threads)
    pipe, hrs = BasicsrRealESRGAN(batch), patches()
    return timed(lambda i: pipe([hrs[(i * batch + j) % len(hrs)] for j in range(batch)]), seconds, warmup=1)


def _sync(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def device_rates(seconds, batch, device):
    """Pairs/s on ``device`` at ``batch``: the basicsr-primitives pipeline; lightsr Pipeline.batch
    (records drawn and applied in this process, the device's default path); Pipeline.apply_batch
    of records drawn beforehand (training: the loader workers draw them) by the default path and
    by the dynamic rounds; the fixed-shape path's device half on batches planned beforehand
    (training on CUDA: the workers plan them too); and the host time of planning a batch."""
    import torch

    from lightsr.degrade import load_pipeline
    from lightsr.degrade.batched import apply_records, static
    from lightsr.degrade.batched.compiled import compile_wanted

    hrs = patches(n=batch)
    hr = torch.from_numpy(np.stack(hrs).transpose(0, 3, 1, 2)).contiguous().to(device)
    anchor = BasicsrRealESRGAN(batch, device)
    pipe = load_pipeline("realesrgan", scale=SCALE)
    drawn = [[pipe.sample((HR, HR, 3), 0, i * batch + j) for j in range(batch)] for i in range(16)]

    def run_anchor(i):
        n = anchor(hr)
        _sync(device)
        return n

    def run_ours(i):
        pipe.batch(hr, seed=0, indices=range(i * batch, (i + 1) * batch))
        _sync(device)
        return batch

    def run_apply(i):
        pipe.apply_batch(hr, drawn[i % len(drawn)])
        _sync(device)
        return batch

    def run_dynamic(i):
        apply_records(hr, drawn[i % len(drawn)], static=False)
        _sync(device)
        return batch

    # plans from their own template (the workers' in training), made before the clock starts
    plans = [static.plan_records(records, tuple(hr.shape)) for records in drawn * 2]
    start = time.perf_counter()
    plans = [static.plan_records(records, tuple(hr.shape)) for records in drawn]
    for plan in plans:
        plan.buffers()  # packing too: the workers do it
    plan_ms = 1e3 * (time.perf_counter() - start) / len(drawn)

    def run_plan(i):
        static.apply_plan(hr, plans[i % len(plans)])
        _sync(device)
        return batch

    # warm-ups long enough for torch.compile's first graphs and its recompiles for new shape
    # families (a group of one sample, a canvas of one JPEG block row), and for capturing graphs
    warm = 16 if compile_wanted(torch.device(device)) or str(device).startswith("cuda") else 2
    return {"anchor": timed(run_anchor, seconds, warmup=2), "draw+apply": timed(run_ours, seconds, warmup=warm),
            "apply": timed(run_apply, seconds, warmup=warm), "dynamic": timed(run_dynamic, seconds, warmup=warm),
            "plans": timed(run_plan, seconds, warmup=warm), "plan_ms": plan_ms}


_VIEWS = {"view", "expand", "slice", "unsqueeze", "_unsafe_view", "transpose", "select", "permute", "lift_fresh",
          "t", "squeeze", "alias", "detach", "unbind", "reshape", "as_strided", "split", "unfold", "diagonal"}


class _EagerOpCount:
    """Counts the device operations (views excluded) run inside it, with torch.compile off."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Count(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if func.overloadpacket.__name__ not in _VIEWS:
                    counter.ops += 1
                return func(*args, **(kwargs or {}))

        from lightsr.degrade.batched.compiled import compiling

        self.ops, self.mode, self.eager = 0, Count(), compiling(False)
        self.eager.__enter__()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)
        self.eager.__exit__(*exc)


def device_ops_per_batch(batch, device):
    """Device operations (kernel launches, views excluded) and scheduler rounds that applying one
    batch of ``realesrgan`` records by the dynamic rounds takes: on a GPU each costs launch time
    whatever the image size."""
    import torch

    from lightsr.degrade import load_pipeline
    from lightsr.degrade.batched import scheduler

    pipe = load_pipeline("realesrgan", scale=SCALE)
    hr = torch.from_numpy(np.stack(patches(n=batch)).transpose(0, 3, 1, 2)).contiguous().to(device)
    records = [pipe.sample((HR, HR, 3), 0, i) for i in range(batch)]
    rounds = [0]
    run = scheduler._Canvas.run

    def counted(self, *a):
        rounds[0] += 1
        return run(self, *a)

    try:
        scheduler.apply_records(hr, records, static=False)  # tables and caches built outside the count
        scheduler._Canvas.run = counted
        with _EagerOpCount() as count:
            scheduler.apply_records(hr, [pipe.sample((HR, HR, 3), 1, i) for i in range(batch)], static=False)
    finally:
        scheduler._Canvas.run = run
    return count.ops, rounds[0]


def static_ops_per_batch(batch, device):
    """Device operations of the fixed-shape path's device half for one batch of ``realesrgan``."""
    import torch

    from lightsr.degrade import load_pipeline
    from lightsr.degrade.batched import static

    pipe = load_pipeline("realesrgan", scale=SCALE)
    hr = torch.from_numpy(np.stack(patches(n=batch)).transpose(0, 3, 1, 2)).contiguous().to(device)
    for seed in range(4):  # the template's slots and dims settle
        plan = static.plan_records([pipe.sample((HR, HR, 3), seed, i) for i in range(batch)], tuple(hr.shape))
    tensors = plan.tensors(device)
    static.run_plan(hr, tensors, plan.layout)  # tables and caches built outside the count
    with _EagerOpCount() as count:
        static.run_plan(hr, tensors, plan.layout)
    return count.ops


def matlab_rate(seconds):
    from lightsr.compat import prepare_basicsr

    prepare_basicsr()
    import torch
    from basicsr.utils.matlab_functions import imresize

    torch.set_num_threads(1)
    hrs = patches()
    return timed(lambda i: (imresize(hrs[i % len(hrs)], 1 / SCALE), 1)[1], seconds)


# ---------------------------------------------------------------- BSRGAN's own code


def bsrgan_module():
    try:
        from bsrgan.utils import utils_blindsr
    except ImportError:
        return None
    from lightsr.degrade.kernels import shift

    def shift_pixel(x, sf, upper_left=True):  # scipy.interpolate.interp2d is gone from SciPy
        d = (sf - 1) * 0.5 * (1 if upper_left else -1)
        return shift(x, d, d) * x.sum()

    utils_blindsr.shift_pixel = shift_pixel
    import scipy

    if not hasattr(scipy, "finfo"):  # BSRGAN calls scipy.finfo, which SciPy dropped for numpy's
        scipy.finfo = np.finfo
    return utils_blindsr


def bsrgan_rate(fn_name, seconds):
    import cv2

    cv2.setNumThreads(1)
    mod = bsrgan_module()
    fn = getattr(mod, fn_name)
    hrs = patches()
    return timed(lambda i: (fn(hrs[i % len(hrs)].copy(), sf=SCALE, lq_patchsize=HR // SCALE), 1)[1], seconds)


def _in_subprocess(fn, *args):
    """Run a measurement alone in a fresh process (one core, no thread pools from others)."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


# ---------------------------------------------------------------- where the time goes


def op_costs(n=300):
    import cv2

    cv2.setNumThreads(1)
    from lightsr.degrade import load_pipeline
    from lightsr.degrade.pipeline import apply_step

    pipe, hrs = load_pipeline("realesrgan"), patches()
    cost, count, sample_time = collections.defaultdict(float), collections.Counter(), 0.0
    for i in range(n):
        t = time.perf_counter()
        rec = pipe.sample(hrs[i % len(hrs)].shape, 0, i)
        sample_time += time.perf_counter() - t
        img = hrs[i % len(hrs)]
        for stage in ("gt", "lq"):
            for step in rec[stage]:
                t = time.perf_counter()
                img = apply_step(img, step)
                key = step["op"] + (f" ({step['params']['family']})" if step["op"] == "blur" else "")
                cost[key] += time.perf_counter() - t
                count[key] += 1
    cost["(sampling the record)"] = sample_time
    return {k: (v / n * 1000, count[k] / n) for k, v in cost.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per contender")
    ap.add_argument("--batch", type=int, default=16, help="batch size of the basicsr path")
    ap.add_argument("--device", help="compare the batched backends on this device (cuda, cpu) instead")
    ap.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                    help="torch.compile of the batched elementwise chains (auto: on CUDA only)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}")
    if args.device:
        import torch

        from lightsr.degrade.batched.compiled import compile_wanted, compiling
        from lightsr.eval.bench import device_name

        mode = {"auto": "auto", "on": True, "off": False}[args.compile]
        compiled = "on" if compile_wanted(torch.device(args.device), mode) else "off (--compile on turns it on)"
        print(f"device: {device_name(args.device)}; realesrgan, {HR}x{HR} -> {HR // SCALE}x{HR // SCALE}, "
              f"{args.seconds:.0f} s per contender; torch.compile of the elementwise chains: {compiled}\n")
        print("pairs/s; in brackets the ratio to the anchor. draw+apply: Pipeline.batch; apply: records drawn "
              "beforehand, by the device's default path;\ndynamic: the same by the dynamic rounds; planned: the fixed-shape "
              "path's device half (CUDA graph replay on CUDA) on batches planned beforehand;\nplan: host time of planning "
              "one batch (in training the loader workers do it)")
        print(f"{'batch':>5} {'basicsr primitives':>19} {'draw+apply':>17} {'apply':>17} {'dynamic':>17} {'planned':>17} "
              f"{'plan ms':>8}")
        for batch in (16, 64):
            with compiling(mode):
                r = device_rates(args.seconds, batch, args.device)
            cells = " ".join(f"{r[k]:9.1f} ({r[k] / r['anchor']:4.1f}x)" for k in ("draw+apply", "apply", "dynamic", "plans"))
            print(f"{batch:>5} {r['anchor']:19.1f} {cells} {r['plan_ms']:8.1f}")
        ops, rounds = device_ops_per_batch(64, args.device)
        static_ops = static_ops_per_batch(64, args.device)
        print(f"\napplying a batch of 64 by the dynamic rounds: {rounds} rounds, {ops} device operations run eagerly; "
              f"the fixed-shape path's device half: {static_ops} (views excluded; a compiled chain runs as a few fused "
              "kernels instead; a captured graph replays them all in one launch)")
        return 0
    print(f"task: {HR}x{HR} HR -> {HR // SCALE}x{HR // SCALE} LR, x{SCALE}, no file I/O, {args.seconds:.0f} s per contender\n")

    rows = []
    ours = lightsr_rate("realesrgan", args.seconds, cores)
    anchor = basicsr_rate(args.seconds, args.batch, cores)
    rows.append((f"realesrgan, {cores} cores", f"basicsr primitives (batch {args.batch}, {cores} torch threads)", anchor, ours))
    if bsrgan_module() is not None:
        for preset, fn in (("bsrgan", "degradation_bsrgan"), ("bsrgan_plus", "degradation_bsrgan_plus")):
            anchor = _in_subprocess(bsrgan_rate, fn, args.seconds)
            ours = _in_subprocess(lightsr_rate, preset, args.seconds, 1)
            rows.append((f"{preset}, 1 core", f"BSRGAN {fn} (numpy)", anchor, ours))
    else:
        for preset in ("bsrgan", "bsrgan_plus"):
            ours = _in_subprocess(lightsr_rate, preset, args.seconds, 1)
            rows.append((f"{preset}, 1 core", "BSRGAN code not installed (pip install --no-deps bsrgan==0.1.5)", None, ours))
    anchor = _in_subprocess(matlab_rate, args.seconds)
    ours = _in_subprocess(lightsr_rate, "bicubic", args.seconds, 1)
    rows.append(("bicubic, 1 core", "basicsr matlab_functions.imresize", anchor, ours))

    print(f"{'lightsr preset':<22} {'anchor':<58} {'anchor pairs/s':>14} {'lightsr pairs/s':>16} {'ratio':>7}")
    for what, anchor_name, anchor, ours in rows:
        a = f"{anchor:14.1f}" if anchor else f"{'-':>14}"
        r = f"{ours / anchor:6.1f}x" if anchor else f"{'-':>7}"
        print(f"{what:<22} {anchor_name:<58} {a} {ours:16.1f} {r}")

    print("\nrealesrgan preset, one core: where the time goes")
    costs = _in_subprocess(op_costs)
    total = sum(ms for ms, _ in costs.values())
    for key, (ms, per_pair) in sorted(costs.items(), key=lambda kv: -kv[1][0]):
        print(f"  {key:<28} {ms:7.3f} ms/pair  {100 * ms / total:5.1f} %  ({per_pair:.2f} calls/pair)")
    print(f"  {'total':<28} {total:7.3f} ms/pair = {1000 / total:.1f} pairs/s per core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
