"""Training throughput of a recipe: time per step, pairs/s and the share of a step spent on or
waiting for degradation, by where the degradation runs.

    python bench/train.py [--recipe configs/x4_bicubic_psnr_cpu.yml] [--steps 300] [--device cpu|cuda]
                          [--paths process,workers,device] [--workers N|max] [--amp recipe|none|bf16|fp16,...]
                          [--device-path-alone] [--out DIR] [--set data.batch=64 --set model.name=span ...]

Runs the recipe's trainer (no checkpoints, no validation) for ``--steps`` after ``--warmup`` steps,
once per path and AMP setting: ``process`` degrades in the training process (workers 0),
``workers`` in ``--workers`` loader processes (default the recipe's; ``max``: cores - 1);
``device`` on the training device by the batched backend (data.degrade_on: device, its loader
workers draw the records and plan), as ``data.device_path`` chooses ("auto"), or forced:
``dynamic`` (the dynamic rounds), ``static`` (the fixed-shape path, eagerly), ``graphs`` (the
fixed-shape path replayed as CUDA graphs).

Columns: ms/step and pairs/s (wall time; the step's one host read, the finite check, included);
``wait``: the share of wall time the trainer waits for its loader (the workers' degradation, or on
the device path their drawing and planning); ``degrade``: the device time of preparing the batch
on the device (copying it there and, on the device path, degrading it; CUDA events, so nothing is
synchronised for it; on the CPU, its wall time), per step and as a share; ``data``: the two
shares together, the part of a step spent on or waiting for degradation.

``--device-path-alone`` then times the device path by itself on the recipe's batches (per batch:
dynamic rounds, fixed-shape eager, CUDA graph replay; per slot of the fixed-shape path, CUDA
events) and profiles a fixed-shape batch and a few training steps (torch.profiler; with
``--out``, the tables and a Chrome trace of the steps are written there).
"""

import argparse
import dataclasses
import gzip
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PATHS = {  # name -> (degrade_on, data.device_path overrides)
    "process": ("workers", {}), "workers": ("workers", {}), "device": ("device", {}),
    "dynamic": ("device", {"static": False}), "static": ("device", {"static": True, "cuda_graphs": False}),
    "graphs": ("device", {"static": True, "cuda_graphs": True}),
}


class _Timer:
    """Device time (CUDA events) or wall time (CPU) of the calls of a wrapped function."""

    def __init__(self, device):
        self.cuda, self.pairs, self.total = device.type == "cuda", [], 0.0

    def wrap(self, fn):
        import torch

        def timed(*args, **kwargs):
            if not self.cuda:
                t0 = time.perf_counter()
                out = fn(*args, **kwargs)
                self.total += time.perf_counter() - t0
                return out
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn(*args, **kwargs)
            end.record()
            self.pairs.append((start, end))
            return out
        return timed

    def seconds(self):
        """The time so far (synchronises on CUDA: call it after the measured steps)."""
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.total += sum(s.elapsed_time(e) for s, e in self.pairs) / 1e3
            self.pairs = []
        return self.total

    def reset(self):
        self.seconds()
        self.total = 0.0


def config(recipe, device, path, workers, amp, steps, out_root, overrides=()):
    from lightsr.trainers.config import load_config

    where, how = PATHS[path]
    sets = [f"device={device}", f"data.workers={0 if path == 'process' else workers}", "val.type=none",
            f"output_root={out_root}", "tensorboard=false", f"train.total_steps={steps}", f"data.degrade_on={where}",
            *overrides]
    sets += [f"data.device_path.{k}={str(v).lower()}" for k, v in how.items()]
    if amp != "recipe":
        sets.append(f"train.amp={'null' if amp == 'none' else amp}")
    return load_config(recipe, sets)


def measure(cfg, steps, warmup):
    """(ms per step, data-wait share, device-prepare seconds per step, peak GiB) of ``steps`` steps."""
    import torch

    from lightsr.trainers.data import train_loader
    from lightsr.trainers.engine import Trainer

    trainer = Trainer(cfg, resume=False)
    timer = _Timer(trainer.device)
    trainer._prepare = timer.wrap(trainer._prepare)
    _, _, loader = train_loader(cfg, 0, device=trainer.device)
    batches = iter(loader)
    cuda = trainer.device.type == "cuda"
    try:
        for _ in range(warmup):
            trainer.train_step(next(batches))
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        timer.reset()
        wait = 0.0
        start = time.perf_counter()
        for _ in range(steps):
            t0 = time.perf_counter()
            batch = next(batches)
            wait += time.perf_counter() - t0
            trainer.train_step(batch)
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
    finally:
        del batches, loader
        trainer.close()
    return 1e3 * elapsed / steps, wait / elapsed, timer.seconds() / steps, peak


def _batches(cfg, n, device):
    """``n`` device-path batches of the recipe, made in this process, planned for the fixed-shape path."""
    from lightsr.trainers.data import collate_pairs, from_levels, train_dataset

    ds = train_dataset(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, degrade_on="device")))
    b = cfg.data.batch
    out = []
    for i in range(n):
        batch = collate_pairs([ds[(0, (i * b + j) % len(ds))] for j in range(b)], plan=True)
        out.append((from_levels(batch["hr_plain"]).to(device), batch["records"], batch.get("plan")))
    return out


def device_path_alone(cfg, device, out_dir, batches=12, rows=25):
    """The device path by itself on the recipe's batches: ms per batch by each path, ms per slot of
    the fixed-shape path (eager), and torch.profiler tables of a fixed-shape batch."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from lightsr.degrade.batched import apply_records
    from lightsr.degrade.batched.static import apply_plan

    how = cfg.data.device_path
    data = _batches(cfg, batches, device)
    if any(plan is None for _, _, plan in data):
        print("device path alone: the pipeline has no fixed-shape plan (ops the fixed-shape path lacks); dynamic rounds only")
    warm = 4
    runs = {"dynamic rounds": lambda hr, rec, plan: apply_records(hr, rec, static=False, compile=how.compile)}
    if all(plan is not None for _, _, plan in data):
        runs["fixed-shape, eager"] = lambda hr, rec, plan: apply_plan(hr, plan, compile=how.compile, cuda_graphs=False)
        if device.type == "cuda":
            runs["fixed-shape, CUDA graph"] = lambda hr, rec, plan: apply_plan(hr, plan, compile=how.compile,
                                                                               cuda_graphs=True)
    results = {}
    print(f"\ndevice path alone: {cfg.data.pipeline}, batch {cfg.data.batch}, HR {cfg.data.patch}, "
          f"compile {how.compile}; ms per batch ({'CUDA events' if device.type == 'cuda' else 'wall'})")
    for label, run in runs.items():
        timer = _Timer(device)
        timed = timer.wrap(run)
        for hr, rec, plan in data[:warm]:
            run(hr, rec, plan)
        timer.reset()
        for hr, rec, plan in data[warm:]:
            timed(hr, rec, plan)
        results[label] = 1e3 * timer.seconds() / (len(data) - warm)
        print(f"  {label:<26} {results[label]:8.2f} ms  {cfg.data.batch / results[label] * 1e3:8.0f} pairs/s")
    if "fixed-shape, eager" in runs:
        results["slots"] = _slot_times(device, data[warm:], runs["fixed-shape, eager"])
        print("  fixed-shape path, eager, per slot (ms per batch; the selection of members after each op not included):")
        for (stage, k, name), ms in results["slots"].items():
            print(f"    {stage}{k:<3} {name:<18} {ms:8.3f}")
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for hr, rec, plan in data[warm:warm + 2]:
                runs["fixed-shape, eager"](hr, rec, plan)
            if device.type == "cuda":
                torch.cuda.synchronize()
        key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
        table = prof.key_averages().table(sort_by=key, row_limit=rows)
        print(table)
        if out_dir:
            with open(os.path.join(out_dir, "device_path_profile.txt"), "w") as f:
                f.write(table)
    if out_dir:
        with open(os.path.join(out_dir, "device_path_alone.json"), "w") as f:
            json.dump({k: ({f"{s}{i} {n}": v for (s, i, n), v in r.items()} if k == "slots" else r)
                       for k, r in results.items()}, f, indent=1)
    return results


def _slot_times(device, data, run):
    """ms per batch of each slot of the fixed-shape path, timed by wrapping the ops' device halves."""
    from lightsr.degrade.batched import steps

    real, timers, now = dict(steps.STEPS), {}, {"labels": [], "i": 0}

    def wrapped(op):
        def execute(*args):
            key = now["labels"][now["i"]]
            now["i"] += 1
            return timers.setdefault(key, _Timer(device)).wrap(op.execute)(*args)
        return execute

    try:
        for name, op in real.items():
            steps.STEPS[name] = dataclasses.replace(op, execute=wrapped(op))
        for hr, rec, plan in data:  # slots run in the layout's order: gt's, then lq's
            now["labels"] = [(stage, k, name) for stage, (slots, _, _) in zip(("gt", "lq"), plan.layout[1:])
                             for k, (name, _, _) in enumerate(slots)]
            now["i"] = 0
            run(hr, rec, plan)
    finally:
        steps.STEPS.clear()
        steps.STEPS.update(real)
    return {key: 1e3 * timer.seconds() / len(data) for key, timer in sorted(timers.items())}


def profile_steps(cfg, out_dir, steps=3, warmup=10, rows=30):
    """torch.profiler over a few training steps (host gaps between kernels show the step's waits)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from lightsr.trainers.data import train_loader
    from lightsr.trainers.engine import Trainer

    trainer = Trainer(cfg, resume=False)
    _, _, loader = train_loader(cfg, 0, device=trainer.device)
    batches = iter(loader)
    cuda = trainer.device.type == "cuda"
    try:
        for _ in range(warmup):
            trainer.train_step(next(batches))
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            for _ in range(steps):
                trainer.train_step(next(batches))
            if cuda:
                torch.cuda.synchronize()
    finally:
        del batches, loader
        trainer.close()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=rows)
    print(f"\n{steps} training steps ({cfg.data.degrade_on}), torch.profiler:\n{table}")
    if out_dir:
        with open(os.path.join(out_dir, "train_steps_profile.txt"), "w") as f:
            f.write(table)
        trace = os.path.join(out_dir, "train_steps_trace.json")
        prof.export_chrome_trace(trace)
        with open(trace, "rb") as f, gzip.open(trace + ".gz", "wb") as g:
            shutil.copyfileobj(f, g)
        os.remove(trace)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default=os.path.join(ROOT, "configs", "x4_bicubic_psnr_cpu.yml"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--paths", default="process,workers,device", help=f"comma-separated, of {', '.join(PATHS)}")
    ap.add_argument("--workers", default="recipe", help="loader workers of the workers and device paths: a number, "
                                                        "'recipe' or 'max' (cores - 1)")
    ap.add_argument("--amp", default="recipe", help="comma-separated: recipe, none, bf16, fp16")
    ap.add_argument("--device-path-alone", action="store_true", help="then time and profile the device path by itself")
    ap.add_argument("--out", help="a folder for results.jsonl, profiles and a trace")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value")
    args = ap.parse_args()
    import torch

    from lightsr.eval.bench import device_name
    from lightsr.trainers.config import load_config

    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        ap.error(f"unknown path {unknown[0]!r} (choose from {', '.join(PATHS)})")
    base = load_config(args.recipe, args.set)
    cores = os.cpu_count() or 1
    workers = {"recipe": base.data.workers, "max": max(cores - 1, 1)}.get(args.workers)
    workers = int(args.workers) if workers is None else workers
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    print(f"recipe: {os.path.basename(args.recipe)} on {device_name(args.device)} ({cores} cores); model "
          f"{base.model.name} x{base.scale}, batch {base.data.batch}, HR patch {base.data.patch}, degradation "
          f"'{base.data.pipeline}' made on the fly; {args.steps} steps after {args.warmup}")
    print(f"{'degraded':<28} {'amp':>5} {'ms/step':>8} {'pairs/s':>8} {'wait':>6} {'degrade ms':>10} {'degrade':>8} "
          f"{'data':>6} {'peak GiB':>8}")
    for amp in args.amp.split(","):
        for path in paths:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = config(args.recipe, args.device, path, workers, amp, args.steps + args.warmup, tmp, args.set)
                ms, wait, prepare, peak = measure(cfg, args.steps, args.warmup)
            n = cfg.data.workers
            label = {"process": "in the training process", "workers": f"in {n} loader workers"}.get(
                path, f"on {args.device}: {path} ({n} workers)")
            share = 1e3 * prepare / ms
            row = {"path": path, "amp": cfg.train.amp or "none", "workers": n, "ms_per_step": ms,
                   "pairs_per_s": cfg.data.batch * 1e3 / ms, "wait": wait, "prepare_ms": 1e3 * prepare,
                   "prepare_share": share, "data_share": wait + share, "peak_gib": peak}
            print(f"{label:<28} {row['amp']:>5} {ms:8.1f} {row['pairs_per_s']:8.1f} {100 * wait:5.1f}% "
                  f"{1e3 * prepare:10.2f} {100 * share:7.1f}% {100 * (wait + share):5.1f}% {peak:8.2f}", flush=True)
            if args.out:
                with open(os.path.join(args.out, "results.jsonl"), "a") as f:
                    f.write(json.dumps({"recipe": os.path.basename(args.recipe), "device": device_name(args.device),
                                        "model": cfg.model.name, "batch": cfg.data.batch, "patch": cfg.data.patch,
                                        **row}) + "\n")
    if args.device_path_alone:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config(args.recipe, args.device, "device", workers, args.amp.split(",")[0], 10 ** 6, tmp, args.set)
            device_path_alone(cfg, torch.device(args.device), args.out)
            profile_steps(cfg, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
