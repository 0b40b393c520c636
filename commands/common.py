"""Helpers shared by the commands."""

import sys


def progress_bar(total, desc, unit):
    """A tqdm bar on stderr (stdout stays clean for results)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)


def loss_postfix(losses):
    """The progress bar's loss: the last logged total ('-' before the first log step: the trainer
    reads losses back from the device only every log_every steps)."""
    total = losses.get("total")
    return {"loss": "-" if total is None else f"{total:.4f}"}
