"""Where lightsr looks for third-party weight files, whether it may download them, and how it
checks them before anything loads them.

Search order: an explicit folder (``--weights-dir``), ``$LIGHTSR_WEIGHTS``,
``~/.cache/lightsr/weights``; then the library's own cache (pyiqa's, torch hub's).

Offline switch: ``--offline`` (:func:`set_offline`) or ``LIGHTSR_OFFLINE=1`` makes every lookup
local-only; a missing file is then a one-line error naming the file and where to put it.

Every file lightsr hands to torch or pyiqa first passes :func:`verify_tensors_only`: pickles
are opened with torch's ``weights_only`` unpickler (tensors, numpy arrays and plain containers),
so a weight file that would run code when unpickled is refused instead of loaded.
"""

import os

from lightsr.errors import LightSRError

DEFAULT = os.path.join(os.path.expanduser("~"), ".cache", "lightsr", "weights")
OFFLINE_ENV = "LIGHTSR_OFFLINE"

_offline = None  # set by --offline; None: follow $LIGHTSR_OFFLINE
_verified = {}  # (real path, size, mtime) -> True: a file is read once per process to verify it


def set_offline(value):
    """Force (True/False) or release (None) the offline switch; returns the previous setting."""
    global _offline
    previous, _offline = _offline, value
    return previous


def is_offline():
    """True when every weight lookup must stay local (``--offline`` or ``LIGHTSR_OFFLINE=1``)."""
    if _offline is not None:
        return bool(_offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def search_dirs(weights_dir=None):
    dirs = [weights_dir, os.environ.get("LIGHTSR_WEIGHTS"), DEFAULT]
    return [d for d in dirs if d]


def missing_file_error(name, weights_dir=None, what="", how="", source=None, note=""):
    """The one-line error for a weight file that is not on this machine: which file, where to put it."""
    where = search_dirs(weights_dir)[0]
    origin = f" (from {source})" if source else ""
    return LightSRError(f"{what + ' ' if what else ''}needs {name}{origin} in {where} (or --weights-dir / $LIGHTSR_WEIGHTS)"
                        f"{': ' + how if how else ''}{' [' + note + ']' if note else ''}")


def find_file(names, weights_dir=None, what="", how=""):
    """The first of ``names`` found in the search folders, else a one-line error saying where to put it."""
    for d in search_dirs(weights_dir):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p):
                return p
    raise missing_file_error(names[0], weights_dir, what, how)


def _numpy_safe_globals():
    """numpy's array/dtype reconstructors: data only, allowed beside torch's own tensor types."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType") and n != "ObjectDType"]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *[d for d in dtypes if isinstance(d, type)]]


def _pickle_imports(path):
    """The globals a pickle (or a torch zip's data.pkl) would import, e.g. ['posix.system'];
    None when the file is not a pickle at all. Read with pickletools: nothing is executed."""
    import io
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                member = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                if member is None:
                    return None
                stream = io.BytesIO(z.read(member))
        else:
            stream = open(path, "rb")  # closed by the with below
        with stream:
            found, strings = [], []
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(".".join(strings[-2:]))
                elif isinstance(arg, str):
                    strings.append(arg)
            return found
    except Exception:  # not a pickle (pickletools raises ValueError and others on junk)
        return None


def _refuse(path, why):
    return LightSRError(f"{path}: refused: {why}; lightsr loads weight files holding tensors only "
                        f"(use the published file, or convert it to .safetensors)")


def verify_tensors_only(path):
    """Check that ``path`` holds data only (no pickled code) before torch or pyiqa opens it.

    Accepted: safetensors; torch files that load with ``weights_only=True`` (tensors, numpy
    arrays, plain containers); MATLAB v5 ``.mat`` and numpy ``.npy``/``.npz`` files without
    pickles (their readers run no code). Anything else raises a one-line :class:`LightSRError`
    naming the file. Returns ``path``.
    """
    import pickle
    import zipfile

    try:
        st = os.stat(path)
    except OSError as e:
        raise LightSRError(f"{path}: cannot read ({e.strerror})") from None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key in _verified:
        return path
    with open(path, "rb") as f:
        head = f.read(128)
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        pass  # scipy.io.loadmat: a data format, no code
    elif head.startswith(b"\x93NUMPY") or (path.endswith(".npz") and head.startswith(b"PK")):
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as z:  # refuses object arrays (pickles)
                for k in getattr(z, "files", ()):
                    z[k]
        except ValueError as e:
            raise _refuse(path, f"numpy file with pickled objects, which may contain code ({e})") from None
        except (OSError, zipfile.BadZipFile) as e:
            raise LightSRError(f"{path}: not a readable numpy file ({e})") from None
    elif path.endswith(".safetensors"):
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(path, framework="pt") as f:
                list(f.keys())
        except (SafetensorError, OSError, ValueError) as e:
            raise LightSRError(f"{path}: not a readable .safetensors file ({str(e).splitlines()[0]})") from None
    else:
        import warnings

        import torch

        try:
            with torch.serialization.safe_globals(_numpy_safe_globals()), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. 'Detected pickle protocol 4': the verdict below says enough
                torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            imports = _pickle_imports(path)
            if imports is None:
                raise LightSRError(f"{path}: not a torch weight file (neither a pickle nor a zip archive torch reads)") from None
            allowed = ("torch.", "collections.OrderedDict", "numpy.", "builtins.set", "_codecs.encode")
            odd = sorted({g for g in imports if not g.startswith(allowed)}) or sorted(set(imports))
            shown = ", ".join(odd[:3]) + (", ..." if len(odd) > 3 else "")
            raise _refuse(path, f"it is not tensors-only and may contain code (it imports {shown or 'objects'})") from None
        except RuntimeError as e:
            if "TorchScript" in str(e):
                raise _refuse(path, "it is a TorchScript archive, which holds code") from None
            raise LightSRError(f"{path}: not a torch weight file ({str(e).splitlines()[0]})") from None
        except (EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError, TypeError) as e:
            detail = str(e).splitlines()[0] if str(e) else ""
            raise LightSRError(f"{path}: not a torch weight file ({type(e).__name__}: {detail})") from None
    _verified[key] = True
    return path
