"""Training throughput of a recipe: steps/s, samples/s and the share of time spent on data.

    python bench/train.py [--recipe configs/x4_bicubic_psnr_cpu.yml] [--steps 300] [--device cpu|cuda]
                          [--set data.batch=64 --set model.name=span ...]

Runs the recipe's trainer (no checkpoints, no validation) for ``--steps`` after a warm-up: with
data degraded in the training process (workers 0), in the recipe's loader workers, and on the
device by the batched backend (data.degrade_on: device), so the cost of on-the-fly degradation
against the network's step shows side by side. "data" is the share of wall time spent waiting
for the loader plus, on the device path, degrading the batch (timed with the device synchronised).
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _timed_prepare(trainer, totals):
    """Wrap the trainer's batch preparation (where the device path degrades) with a synchronised timer."""
    import torch

    prepare = trainer._prepare

    def timed(batch):
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        out = prepare(batch)
        sync()
        totals[0] += time.perf_counter() - t0
        return out
    trainer._prepare = timed


def measure(recipe, steps, device, workers, degrade_on="workers", warmup=20, overrides=()):
    from lightsr.trainers.config import load_config
    from lightsr.trainers.data import train_loader
    from lightsr.trainers.engine import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(recipe, [f"device={device}", f"data.workers={workers}", "val.type=none", f"output_root={tmp}",
                                   "tensorboard=false", f"train.total_steps={steps + warmup}", f"data.degrade_on={degrade_on}",
                                   *overrides])
        trainer = Trainer(cfg, resume=False)
        prepare = [0.0]
        _timed_prepare(trainer, prepare)
        _, _, loader = train_loader(cfg, 0, device=device)
        batches = iter(loader)
        for _ in range(warmup):
            trainer.train_step(next(batches))
        wait, prepare[0] = 0.0, 0.0
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
    return cfg, steps / elapsed, (wait + (prepare[0] if degrade_on == "device" else 0.0)) / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default=os.path.join(ROOT, "configs", "x4_bicubic_psnr_cpu.yml"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value")
    args = ap.parse_args()
    from lightsr.eval.bench import device_name
    from lightsr.trainers.config import load_config

    recipe_workers = load_config(args.recipe, args.set).data.workers
    print(f"recipe: {os.path.basename(args.recipe)} on {device_name(args.device)} ({os.cpu_count()} cores)")
    print(f"{'degraded in':<22} {'steps/s':>9} {'samples/s':>10} {'data':>7}")
    runs = [(f"{w} loader workers" if w else "the training process", w, "workers") for w in sorted({0, recipe_workers})]
    runs.append((f"batches on {args.device}", 0, "device"))
    for label, workers, where in runs:
        cfg, rate, share = measure(args.recipe, args.steps, args.device, workers, where, overrides=args.set)
        print(f"{label:<22} {rate:9.2f} {rate * cfg.data.batch:10.1f} {100 * share:6.1f}%")
    print(f"model {cfg.model.name} x{cfg.scale}, batch {cfg.data.batch}, HR patch {cfg.data.patch}, "
          f"degradation '{cfg.data.pipeline}' made on the fly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
