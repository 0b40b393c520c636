"""Helpers shared by the commands."""

import sys


def progress_bar(total, desc, unit):
    """A tqdm bar on stderr (stdout stays clean for results)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)
