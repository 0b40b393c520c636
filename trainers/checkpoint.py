"""Checkpoints: a folder per step, written whole or not at all.

run/checkpoints/step-00000500/ holds model.safetensors (the network, recreatable alone),
ema.safetensors, extra.safetensors (discriminator, distillation adapters) and state.pt: the
optimizer, scheduler and scaler states, the RNG states of python, numpy and torch, the step
(which is also the data position: the training stream is counter-based). state.pt holds
tensors and plain values only and is read with ``weights_only=True``. The folder is written
under a temporary name and renamed; ``latest`` (one line) is replaced atomically after it.
"""

import os
import random
import shutil
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lightsr.errors import LightSRError
from lightsr.files import atomic_write_text
from lightsr.models.weights import save_model


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
            save_file({f"{prefix}.{k}": v for prefix, m in extra.items() for k, v in _tensors(m).items()},
                      os.path.join(tmp, "extra.safetensors"))
        torch.save(state or {}, os.path.join(tmp, "state.pt"))
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


def latest_checkpoint(root):
    path = os.path.join(root, "latest")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        folder = os.path.join(root, f.read().strip())
    return folder if os.path.isdir(folder) else None


def load_checkpoint(folder, model, ema=None, extra=None):
    """Load the weights into the given modules (strict) and return the training state."""
    from safetensors import safe_open

    def load(module, path, prefix=None):
        if prefix is None:
            with safe_open(path, framework="pt") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        else:
            tensors = {k[len(prefix) + 1:]: v for k, v in load_file(path).items() if k.startswith(prefix + ".")}
        missing = set(module.state_dict()) - set(tensors)
        if missing:
            raise LightSRError(f"{path}: misses {sorted(missing)[:3]} (a checkpoint of another config?)")
        module.load_state_dict(tensors, strict=True)

    load(model, os.path.join(folder, "model.safetensors"))
    if ema is not None:
        load(ema, os.path.join(folder, "ema.safetensors"))
    for prefix, module in (extra or {}).items():
        load(module, os.path.join(folder, "extra.safetensors"), prefix)
    return torch.load(os.path.join(folder, "state.pt"), map_location="cpu", weights_only=True)
