"""Where a batch's time goes on a device: torch.profiler over a few Real-ESRGAN batches applied by
the fixed-shape path (eagerly, so each kernel shows) and by the dynamic rounds.

    python bench/profile_batched.py [--device cuda] [--batch 64] [--hr 256] [--rows 25]

Prints, per path, the wall time per batch, the device (or CPU) time per batch and the operators
that take most of it.
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
    for label, static in (("fixed-shape path, eager", "1"), ("dynamic rounds", "0")):
        os.environ["LIGHTSR_STATIC"], os.environ["LIGHTSR_CUDA_GRAPHS"] = static, "0"
        for records in drawn[:4]:  # warm-up: compilation, caches, the template's slots and dims
            apply_records(hr, records)
        sync()
        start = time.perf_counter()
        for records in drawn[4:]:
            apply_records(hr, records)
        sync()
        wall = (time.perf_counter() - start) / 4
        with profile(activities=activities) as prof:
            for records in drawn[4:6]:
                apply_records(hr, records)
            sync()
        table = prof.key_averages()
        key = "self_device_time_total" if cuda else "self_cpu_time_total"
        busy = sum(getattr(e, key) for e in table) / 2e3
        print(f"\n== {label}: {1e3 * wall:.1f} ms per batch of {args.batch} (wall), "
              f"{busy:.1f} ms {'device' if cuda else 'CPU'} time per batch")
        print(table.table(sort_by=key, row_limit=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
