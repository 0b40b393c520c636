"""Training throughput of a recipe: steps/s, samples/s and the share of time spent waiting for data.

    python bench/train.py [--recipe configs/x4_bicubic_psnr_cpu.yml] [--steps 300] [--device cpu|cuda]

Runs the recipe's trainer (no checkpoints, no validation) for ``--steps`` after a warm-up, once
with data made in the training process (workers 0) and once with the recipe's loader workers,
so the cost of on-the-fly degradation against the network's step shows side by side.
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(recipe, steps, device, workers, warmup=20):
    from lightsr.trainers.config import load_config
    from lightsr.trainers.data import train_loader
    from lightsr.trainers.engine import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(recipe, [f"device={device}", f"data.workers={workers}", "val.type=none", f"output_root={tmp}",
                                   "tensorboard=false", f"train.total_steps={steps + warmup}"])
        trainer = Trainer(cfg, resume=False)
        _, _, loader = train_loader(cfg, 0)
        batches = iter(loader)
        for _ in range(warmup):
            trainer.train_step(next(batches))
        wait = 0.0
        start = time.perf_counter()
        for _ in range(steps):
            t0 = time.perf_counter()
            batch = next(batches)
            wait += time.perf_counter() - t0
            trainer.train_step(batch)
        if device == "cuda":
            import torch

            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        trainer.close()
    return cfg, steps / elapsed, wait / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default=os.path.join(ROOT, "configs", "x4_bicubic_psnr_cpu.yml"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    from lightsr.eval.bench import device_name
    from lightsr.trainers.config import load_config

    recipe_workers = load_config(args.recipe).data.workers
    print(f"recipe: {os.path.basename(args.recipe)} on {device_name(args.device)} ({os.cpu_count()} cores)")
    print(f"{'data workers':<14} {'steps/s':>9} {'samples/s':>10} {'data wait':>10}")
    for workers in sorted({0, recipe_workers}):
        cfg, rate, wait = measure(args.recipe, args.steps, args.device, workers)
        print(f"{workers:<14} {rate:9.2f} {rate * cfg.data.batch:10.1f} {100 * wait:9.1f}%")
    print(f"model {cfg.model.name} x{cfg.scale}, batch {cfg.data.batch}, HR patch {cfg.data.patch}, "
          f"degradation '{cfg.data.pipeline}' made on the fly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
