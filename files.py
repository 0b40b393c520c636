"""Atomic file writes: a reader (or a resumed job) never sees a half-written file."""

import os
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's 0600 would hide datasets from other users


def atomic_write_bytes(path, data, prefix=".tmp-"):
    """Write ``data`` to ``path`` through a temporary file (named ``prefix``...) in the same folder and a rename."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temp_files(folder):
    """Delete temporaries left by writes that were killed before their rename."""
    if not os.path.isdir(folder):
        return 0
    removed = 0
    for name in os.listdir(folder):
        if name.startswith(".tmp-"):
            os.unlink(os.path.join(folder, name))
            removed += 1
    return removed
