"""Where lightsr looks for third-party weight files (no downloads at run time).

Order: an explicit folder (``--weights-dir``), ``$LIGHTSR_WEIGHTS``, ``~/.cache/lightsr/weights``.
"""

import os

from lightsr.errors import LightSRError

DEFAULT = os.path.join(os.path.expanduser("~"), ".cache", "lightsr", "weights")


def search_dirs(weights_dir=None):
    dirs = [weights_dir, os.environ.get("LIGHTSR_WEIGHTS"), DEFAULT]
    return [d for d in dirs if d]


def find_file(names, weights_dir=None, what="", how=""):
    """The first of ``names`` found in the search folders, else a one-line error saying where to put it."""
    for d in search_dirs(weights_dir):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p):
                return p
    where = search_dirs(weights_dir)[0]
    raise LightSRError(f"{what} needs {names[0]} in {where} (or --weights-dir / $LIGHTSR_WEIGHTS){': ' + how if how else ''}")
