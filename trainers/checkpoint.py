"""Checkpoints: a folder per step, written whole or not at all.

run/checkpoints/step-00000500/ holds model.safetensors (the network, recreatable alone),
ema.safetensors, extra.safetensors (discriminator, distillation adapters) and state.pt: the
optimizer, scheduler and scaler states, the RNG states of python, numpy and torch, the step
(which is also the data position: the training stream is counter-based). state.pt holds
tensors and plain values only and is read with ``weights_only=True``. The folder is written
under a temporary name and renamed; ``latest`` (one line) is replaced atomically after it.
Every file is flushed to disk before the rename. A checkpoint that cannot be read whole (a
truncated file after a crash or a full disk) raises ``UnreadableCheckpoint`` before any module
is touched, so that the trainer can fall back to the previous one; a ``state.pt`` holding
anything but tensors and plain values is refused outright (loading it could run code).
"""

import io
import os
import pickle
import random
import shutil
import tempfile

import numpy as np
import torch
from safetensors.torch import save as safetensors_save

from lightsr.errors import LightSRError
from lightsr.files import atomic_write_text
from lightsr.models.weights import save_model


class UnreadableCheckpoint(LightSRError):
    """A checkpoint's file is missing, truncated or corrupt (the previous checkpoint may serve)."""


def rng_state():
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [kind, keys.tolist(), pos, has_gauss, cached], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tensors(module):
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(root, step, model, ema=None, extra=None, state=None, keep=2):
    """Write checkpoint ``step`` under ``root`` atomically; keep the newest ``keep``."""
    os.makedirs(root, exist_ok=True)
    name = f"step-{step:08d}"
    tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=root)
    try:
        save_model(model, os.path.join(tmp, "model.safetensors"))
        if ema is not None:
            save_model(ema, os.path.join(tmp, "ema.safetensors"))
        if extra:
            _write(os.path.join(tmp, "extra.safetensors"),
                   safetensors_save({f"{prefix}.{k}": v for prefix, m in extra.items() for k, v in _tensors(m).items()}))
        buffer = io.BytesIO()
        torch.save(state or {}, buffer)
        _write(os.path.join(tmp, "state.pt"), buffer.getvalue())
        _sync_folder(tmp)
        final = os.path.join(root, name)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(os.path.join(root, "latest"), name + "\n")
    steps = sorted(d for d in os.listdir(root) if d.startswith("step-"))
    for old in steps[:-keep]:
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    for d in os.listdir(root):  # temporaries of a killed save
        if d.startswith(".step-"):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    return final


def _write(path, data):
    """Bytes to a file through Python's I/O, so that a full disk is an OSError (ENOSPC) and not
    a library's RuntimeError."""
    with open(path, "wb") as f:
        f.write(data)


def _sync_folder(folder):
    """Flush the folder's files and the folder itself to disk (the rename then publishes whole files)."""
    for name in os.listdir(folder):
        fd = os.open(os.path.join(folder, name), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_folders(root):
    """Checkpoints to resume from, best first: the one ``latest`` names, then the others, newest first."""
    if not os.path.isdir(root):
        return []
    steps = sorted((d for d in os.listdir(root) if d.startswith("step-") and os.path.isdir(os.path.join(root, d))),
                   reverse=True)
    latest = latest_checkpoint(root)
    folders = [os.path.join(root, d) for d in steps]
    if latest in folders:
        folders.remove(latest)
        folders.insert(0, latest)
    return folders


def latest_checkpoint(root):
    path = os.path.join(root, "latest")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        folder = os.path.join(root, f.read().strip())
    return folder if os.path.isdir(folder) else None


def _read_tensors(path):
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # missing, truncated, not safetensors
        raise UnreadableCheckpoint(f"{path}: unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def _read_state(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise LightSRError(f"{path}: refused: it holds Python objects other than tensors and plain values, which could run "
                           f"code when loaded (lightsr never writes such a file)") from None
    except Exception as e:  # missing, truncated, corrupt zip
        raise UnreadableCheckpoint(f"{path}: unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def load_checkpoint(folder, model, ema=None, extra=None):
    """Load the weights into the given modules (strict) and return the training state.

    Every file is read before any module changes: ``UnreadableCheckpoint`` leaves the modules as
    they were."""
    files = {"model": _read_tensors(os.path.join(folder, "model.safetensors"))}
    if ema is not None:
        files["ema"] = _read_tensors(os.path.join(folder, "ema.safetensors"))
    if extra:
        files["extra"] = _read_tensors(os.path.join(folder, "extra.safetensors"))
    state = _read_state(os.path.join(folder, "state.pt"))

    def load(module, name, prefix=None):
        path = os.path.join(folder, f"{name}.safetensors")
        tensors = files[name]
        if prefix is not None:
            tensors = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        missing = set(module.state_dict()) - set(tensors)
        if missing:
            raise LightSRError(f"{path}: misses {sorted(missing)[:3]} (a checkpoint of another config?)")
        module.load_state_dict(tensors, strict=True)

    load(model, "model")
    if ema is not None:
        load(ema, "ema")
    for prefix, module in (extra or {}).items():
        load(module, "extra", prefix)
    return state
