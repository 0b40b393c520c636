"""``lightsr train`` (also under torchrun for DDP)."""

import os
import sys

from lightsr.commands.common import loss_postfix, progress_bar
from lightsr.errors import LightSRError


def cmd_train(args):
    from lightsr.trainers.config import load_config
    from lightsr.trainers.engine import Trainer, distributed_env

    cfg = load_config(args.config, args.set or ())
    rank, world, _ = distributed_env()
    bar = None
    messages = []

    def events(kind, data):
        nonlocal bar
        if rank != 0:
            return
        if kind == "step":
            if bar is None:
                bar = progress_bar(data["total"], cfg.name, "step")
                bar.update(data["step"] - 1)
            bar.update(1)
            post = {**loss_postfix(data["losses"]), "wait": f"{100 * data['data_wait']:.0f}%"}
            if "val" in data:
                post.update({k: f"{v:.3f}" for k, v in data["val"].items()})
            bar.set_postfix(post, refresh=False)
        elif kind == "resumed":
            messages.append(f"resumed from {data['checkpoint']} at step {data['step']}")
        elif kind == "checkpoint_unreadable":
            print(f"{cfg.name}: {data['error']}; resuming from the checkpoint before it", file=sys.stderr)
        elif kind == "notice":
            print(f"{cfg.name}: {data['message']}", file=sys.stderr)
        elif kind == "non_finite":
            extra = f", rolled back to {data['rolled_back_to']}" if "rolled_back_to" in data else ""
            messages.append(f"step {data['step']}: non-finite loss, step skipped{extra}")
            print(f"{cfg.name}: {messages[-1]}", file=sys.stderr)

    run_dir = args.run_dir or os.path.join(cfg.output_root, cfg.name)
    try:
        trainer = Trainer(cfg, run_dir=args.run_dir, resume=not args.no_resume, events=events)
        try:
            summary = trainer.fit()
        finally:
            if bar is not None:
                bar.close()
            trainer.close()
    except OSError as e:  # disk full, permissions: checkpoints are written whole, the run resumes
        raise LightSRError(f"{e.filename or run_dir}: {e.strerror or e} (checkpoints are written whole: "
                           f"fix this and rerun the same command to resume from the last one)") from None
    if rank == 0:
        for m in messages:
            if not m.startswith("step"):
                print(m)
        val = summary.get("val") or {}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in val.items())
        print(f"{cfg.name}: {summary['steps']} steps{' on ' + str(world) + ' processes' if world > 1 else ''}; "
              f"data wait {100 * summary['data_wait']:.0f}% of the step time{'; validation ' + shown if shown else ''}")
        print(f"model: {summary['model']}")
    return 0
