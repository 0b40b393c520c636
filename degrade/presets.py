"""The bundled presets (degrade/presets/*.yaml) and loading a pipeline by name or file."""

import os

from lightsr.degrade.config import build_pipeline, load_yaml
from lightsr.errors import ConfigError

PRESET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")


def preset_names():
    return sorted(os.path.splitext(n)[0] for n in os.listdir(PRESET_DIR) if n.endswith(".yaml"))


def preset_path(name):
    path = os.path.join(PRESET_DIR, f"{name}.yaml")
    if not os.path.isfile(path):
        raise ConfigError("preset", f"unknown preset {name!r} (available: {', '.join(preset_names())})")
    return path


def load_config(name_or_path):
    """The config dict of a preset name or a YAML file path."""
    if name_or_path.endswith((".yml", ".yaml")) or os.sep in name_or_path:
        return load_yaml(name_or_path)
    return load_yaml(preset_path(name_or_path))


def load_pipeline(name_or_path, scale=None):
    """A Pipeline from a preset name (``realesrgan``) or a config file (``my.yml``)."""
    config = load_config(name_or_path)
    try:
        return build_pipeline(config, scale=scale, source_file=name_or_path)
    except ConfigError as e:
        where = name_or_path if name_or_path in preset_names() else os.path.basename(name_or_path)
        raise ConfigError(f"{where}: {e.key}" if e.key else where, e.detail) from None


def list_presets():
    """[(name, description, scales)] for every bundled preset."""
    out = []
    for name in preset_names():
        cfg = load_yaml(preset_path(name))
        out.append((name, cfg.get("description", ""), cfg.get("scales")))
    return out
