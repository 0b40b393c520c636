"""Weights on disk: safetensors with the architecture in the metadata; official checkpoints.

A file written by ``save_model`` recreates its model alone (``load_model(path)``): the
metadata holds the registry name, scale and builder options as JSON. Loading never
unpickles code: safetensors holds tensors only, and official ``.pth`` checkpoints are read
with ``torch.load(weights_only=True)``.
"""

import json
import os

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save

from lightsr.errors import ConfigError, LightSRError
from lightsr.files import atomic_write_bytes
from lightsr.models.registry import create_model, model_info
from lightsr.models.reparameterize import is_reparameterizable, reparameterize

FORMAT = "lightsr-model-1"


def save_model(model, path, extra=None):
    """Write a zoo model (made by ``create_model``) as safetensors with its spec, atomically."""
    spec = getattr(model, "lightsr_spec", None)
    if spec is None:
        raise LightSRError("only models made by lightsr.models.create_model carry the spec needed to save them")
    meta = {"format": FORMAT, "architecture": spec["name"], "scale": str(spec["scale"]), "options": json.dumps(spec["options"]),
            "form": "deploy" if _is_deploy_form(model) else "train"}
    for k, v in (extra or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(v)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, safetensors_save(tensors, metadata=meta))


def _is_deploy_form(model):
    """True when ``model``'s re-parameterisable blocks are already folded."""
    spec = model.lightsr_spec
    fresh = create_model(spec["name"], scale=spec["scale"], **spec["options"])
    return set(model.state_dict()) != set(fresh.state_dict())


def read_metadata(path):
    try:
        with safe_open(path, framework="pt") as f:
            return f.metadata() or {}
    except FileNotFoundError:
        raise LightSRError(f"{path}: no such file") from None
    except Exception as e:
        raise LightSRError(f"{path}: not a safetensors file ({e})") from None


def load_model(path, device="cpu"):
    """Recreate a model from a file written by ``save_model`` (strict: every key must match)."""
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise LightSRError(f"{path}: no lightsr model metadata; use load_official for a paper's checkpoint")
    model = create_model(meta["architecture"], scale=int(meta["scale"]), **json.loads(meta["options"]))
    if meta.get("form") == "deploy":
        spec, model = model.lightsr_spec, reparameterize(model)
        model.lightsr_spec = spec
    state = {}
    with safe_open(path, framework="pt", device=str(device)) as f:
        for k in f.keys():
            state[k] = f.get_tensor(k)
    _load_strict(model, state, path)
    return model.to(device)


def _load_strict(model, state, path):
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}{' ...' if len(unexpected) > 4 else ''}")
        raise LightSRError(f"{path}: keys do not match {model.lightsr_spec['name']}: {'; '.join(parts)}")
    for k, v in state.items():
        if ours[k].shape != v.shape:
            raise LightSRError(f"{path}: {k} has shape {tuple(v.shape)}, the model expects {tuple(ours[k].shape)}")
    model.load_state_dict(state, strict=True)


def read_checkpoint(path):
    """A state dict from an official .pth/.pt/.safetensors checkpoint, without unpickling code.

    Unwraps the usual containers (``params_ema``, ``params``, ``state_dict``, ``model``) and a
    DataParallel ``module.`` prefix.
    """
    if not os.path.isfile(path):
        raise LightSRError(f"{path}: no such file")
    if path.endswith(".safetensors"):
        with safe_open(path, framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise LightSRError(f"{path}: cannot read as a tensor-only checkpoint ({type(e).__name__}: {e})") from None
    for key in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise LightSRError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_official(name, path, scale=4, **overrides):
    """A zoo model with the weights of its authors' release (keys mapped, strict).

    Models whose module names follow the official code load as they are; others define
    ``official_key_map`` (official key -> ours) on their model class, and
    ``official_options`` for what the release assumed (e.g. ECBSR's 0-255 input range).
    A checkpoint of a deploy form (only folded convs) is loaded into the fused model.
    """
    info = model_info(name)
    model = create_model(info.name, scale=scale, **overrides)
    official = getattr(type(model), "official_options", {})
    if official:
        model = create_model(info.name, scale=scale, **{**official, **overrides})
    state = read_checkpoint(path)
    mapper = getattr(type(model), "official_key_map", None)
    if mapper is not None:
        state = mapper(state)
    ours = model.state_dict()
    if set(state) != set(ours) and is_reparameterizable(model):
        fused = reparameterize(model)
        if set(state) == set(fused.state_dict()):
            fused.lightsr_spec = model.lightsr_spec
            model = fused
    try:
        _load_strict(model, state, path)
    except LightSRError as e:
        raise ConfigError(info.name, f"{e} (is this the official {info.name} x{scale} checkpoint?)") from None
    return model
