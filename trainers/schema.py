"""Typed, validated configs from YAML: dataclasses checked field by field.

Every problem is a ConfigError naming its YAML path (``train.optimizer.lr: expected a number,
got 'fast'``), raised before any work starts: unknown keys, wrong types, values out of range
(``field(metadata={"min": ..., "max": ...})``) and Literal choices.
"""

import dataclasses
import re
import types
import typing

import yaml

from lightsr.errors import ConfigError

_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def _type_name(tp):
    return getattr(tp, "__name__", str(tp))


def convert(value, tp, path):
    """``value`` checked against the annotation ``tp`` (and converted: int -> float, list -> tuple)."""
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(value, arg, path)
            except ConfigError as e:
                errors.append(e.detail)
        raise ConfigError(path, errors[0] if len(errors) == 1 else f"none of the accepted forms fit: {'; '.join(errors)}")
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(path, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(path, f"expected {len(args)} values, got {len(value)}")
            return tuple(convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else typing.Any
        out = [convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {value!r}")
        kt, vt = typing.get_args(tp) or (typing.Any, typing.Any)
        return {convert(k, kt, path): convert(v, vt, _join(path, k)) for k, v in value.items()}
    if tp in (dict, list):  # unparameterised containers: any contents
        return convert(value, dict[str, typing.Any] if tp is dict else list[typing.Any], path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            return float(value)  # PyYAML reads 1e-3 (no dot) as a string; people write it anyway
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {path}")


def from_dict(cls, data, path=""):
    """An instance of the dataclass ``cls`` from a mapping, every field validated."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(_join(path, unknown[0]), f"unknown key (allowed: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        key = _join(path, name)
        if name in data:
            value = convert(data[name], hints[name], key)
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        else:
            raise ConfigError(key, "required")
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if value is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if lo is not None and value < lo or hi is not None and value > hi:
                raise ConfigError(key, f"must be in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}], got {value}")
        kwargs[name] = value
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check:
        check(path)
    return obj


def to_dict(obj):
    """A plain (YAML-able) dict of a config, tuples as lists."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(obj)


def apply_overrides(data, overrides):
    """``a.b=c`` strings applied to a nested dict (values parsed as YAML: 1e-3, true, [1, 2])."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(item, "an override looks like key.path=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(key, f"cannot parse {raw!r}: {e}") from None
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p, {}), dict):
                raise ConfigError(key, f"{p} is not a mapping")
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return data
