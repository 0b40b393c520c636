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

# A file's metadata is untrusted input: create_model builds the network before any tensor is
# compared, so {"m": 100000000} would allocate gigabytes first. No zoo model has an integer
# option above 256 (channels, blocks, window sizes); 4096 leaves room for wider variants and
# still bounds what a file can make us allocate. Lists (per-stage depths) and mappings hold at most 64 items.
MAX_OPTION_INT = 4096
MAX_OPTION_LIST = 64
MAX_SCALE = 16


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


def _check_option(path, key, value):
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return
    if isinstance(value, int):
        if abs(value) > MAX_OPTION_INT:
            raise LightSRError(f"{path}: metadata {key} = {value} is refused (integer options are at most {MAX_OPTION_INT} "
                               f"in magnitude: a larger one can only be a damaged or hostile file)")
    elif isinstance(value, list):
        if len(value) > MAX_OPTION_LIST:
            raise LightSRError(f"{path}: metadata {key} is refused (a list of {len(value)} items; at most {MAX_OPTION_LIST})")
        for i, v in enumerate(value):
            _check_option(path, f"{key}[{i}]", v)
    elif isinstance(value, dict):
        if len(value) > MAX_OPTION_LIST:
            raise LightSRError(f"{path}: metadata {key} is refused (a mapping of {len(value)} keys; at most {MAX_OPTION_LIST})")
        for k, v in value.items():
            _check_option(path, f"{key}.{k}", v)


def model_spec(path, meta):
    """(architecture, scale, options) from a lightsr file's metadata, every value checked."""
    arch = meta.get("architecture")
    if not isinstance(arch, str) or not arch:
        raise LightSRError(f"{path}: metadata architecture is missing")
    try:
        scale = int(meta.get("scale"))
    except (TypeError, ValueError):
        raise LightSRError(f"{path}: metadata scale is {meta.get('scale')!r}, not an integer") from None
    if not 1 <= scale <= MAX_SCALE:
        raise LightSRError(f"{path}: metadata scale = {scale} is refused (1 to {MAX_SCALE})")
    try:
        options = json.loads(meta.get("options", "{}"))
    except (ValueError, RecursionError) as e:
        raise LightSRError(f"{path}: metadata options is not valid JSON ({type(e).__name__})") from None
    if not isinstance(options, dict):
        raise LightSRError(f"{path}: metadata options is a {type(options).__name__}, not a JSON object")
    for k, v in options.items():
        _check_option(path, f"options.{k}", v)
    return arch, scale, options


def load_model(path, device="cpu"):
    """Recreate a model from a file written by ``save_model`` (strict: every key must match)."""
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise LightSRError(f"{path}: no lightsr model metadata; use load_official for a paper's checkpoint")
    arch, scale, options = model_spec(path, meta)
    try:
        model = create_model(arch, scale=scale, **options)
    except ConfigError as e:
        raise LightSRError(f"{path}: metadata does not make a model ({e})") from None
    except TypeError as e:  # an option the builder does not take
        raise LightSRError(f"{path}: metadata options do not fit {arch} ({e})") from None
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
