"""Where a batch's time goes on a device: torch.profiler over a few Real-ESRGAN batches applied by
the fixed-shape path (eagerly, so each kernel shows) and by the dynamic rounds.

    python bench/profile_batched.py [--device cuda] [--batch 64] [--hr 256] [--rows 25] [--compile auto|on|off]

Prints, per path, the wall time per batch, the device (or CPU) time per batch and the operators
that take most of it; then the blur of the second order alone (per-sample 21x21 kernels on the
largest canvas) by the grouped convolution lightsr uses and by FFT (a candidate, not used by
lightsr: on this CPU the convolution is 2-6x faster), to decide which the device wants.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hr", type=int, default=256)
    ap.add_argument("--rows", type=int, default=25)
    ap.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                    help="torch.compile of the elementwise chains (auto: on CUDA only)")
    args = ap.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from lightsr.degrade import load_pipeline
    from lightsr.degrade.batched import apply_records

    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rng = np.random.default_rng(0)
    hr = torch.from_numpy(rng.random((args.batch, 3, args.hr, args.hr), dtype=np.float32)).to(args.device)
    pipe = load_pipeline("realesrgan", scale=4)
    drawn = [[pipe.sample((args.hr, args.hr, 3), 0, i * args.batch + j) for j in range(args.batch)] for i in range(8)]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    how = {"compile": {"auto": "auto", "on": True, "off": False}[args.compile], "cuda_graphs": False}
    for label, static in (("fixed-shape path, eager", True), ("dynamic rounds", False)):
        for records in drawn[:4]:  # warm-up: compilation, caches, the template's slots and dims
            apply_records(hr, records, static=static, **how)
        sync()
        start = time.perf_counter()
        for records in drawn[4:]:
            apply_records(hr, records, static=static, **how)
        sync()
        wall = (time.perf_counter() - start) / 4
        with profile(activities=activities) as prof:
            for records in drawn[4:6]:
                apply_records(hr, records, static=static, **how)
            sync()
        table = prof.key_averages()
        key = "self_device_time_total" if cuda else "self_cpu_time_total"
        busy = sum(getattr(e, key) for e in table) / 2e3
        print(f"\n== {label}: {1e3 * wall:.1f} ms per batch of {args.batch} (wall), "
              f"{busy:.1f} ms {'device' if cuda else 'CPU'} time per batch")
        print(table.table(sort_by=key, row_limit=args.rows))
    blur_methods(args.device, args.batch, int(args.hr * 1.5), sync)
    return 0


def _fft_grouped(x, weight, hs, ws):
    """``filters._grouped`` by FFT in float64 (a candidate, measured here only)."""
    import torch

    from lightsr.degrade.batched.canvas import reflect_pad

    b, c, h, w = x.shape
    k = weight.shape[1]
    padded = reflect_pad(x, hs, ws, k // 2, k // 2).double()
    size = padded.shape[2:]
    # conv2d correlates with weight: a convolution with its flip; the valid part starts at k - 1
    spec = torch.fft.rfft2(padded, s=size) * torch.fft.rfft2(weight.flip(1, 2).double(), s=size).unsqueeze(1)
    return torch.fft.irfft2(spec, s=size)[:, :, k - 1:k - 1 + h, k - 1:k - 1 + w].float()


def blur_methods(device, batch, size, sync, k=21, repeats=5):
    import torch

    from lightsr.degrade.batched.filters import _grouped

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, size, size, generator=gen).to(device)
    weight = torch.rand(batch, k, k, generator=gen).to(device)
    weight /= weight.sum((1, 2), keepdim=True)
    hs = ws = torch.full((batch,), size, device=device)
    methods = {"grouped conv2d": lambda: _grouped(x, weight, k // 2, k // 2, hs, ws),
               "FFT (float64)": lambda: _fft_grouped(x, weight, hs, ws)}
    results = {}
    for name, fn in methods.items():
        results[name] = fn()  # warm-up
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync()
        print(f"blur {batch}x3x{size}x{size}, {k}x{k} per-sample kernels, {name}: "
              f"{1e3 * (time.perf_counter() - start) / repeats:.2f} ms")
    diff = (results["grouped conv2d"] - results["FFT (float64)"]).abs().max().item()
    print(f"largest difference between them: {diff:.1e}")


if __name__ == "__main__":
    sys.exit(main())
