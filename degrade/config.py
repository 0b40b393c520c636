"""Building pipelines from config dicts (YAML), with errors that name the offending key.

A node is an op, ``{op: NAME, <op options>}``, a list (a sequence) or a combinator:

    {sequence: [NODE, ...]}
    {maybe: NODE, p: 0.8}
    {one_of: [NODE, ...], p: [w, ...]}
    {shuffle: [NODE, ...], keep_order: [[i, j], ...]}
    {repeat: NODE, times: 2}

Any node may carry ``name``, which labels its steps in records and inspection sheets.
A pipeline file has ``name``, ``description``, ``source``, ``scale`` (default scale),
``scales`` (the scales it is defined for), ``gt`` (ops on the HR target) and ``lq``.
Top-level keys starting with ``x-`` are ignored (a place for YAML anchors).
"""

import inspect

import yaml

from lightsr.degrade.distributions import check_probability, check_weights
from lightsr.degrade.ops import op_class
from lightsr.degrade.pipeline import Maybe, OneOf, OpNode, Pipeline, Repeat, Sequence, Shuffle
from lightsr.errors import ConfigError

_COMBINATOR_KEYS = {
    "sequence": {"sequence", "name"},
    "maybe": {"maybe", "p", "name"},
    "one_of": {"one_of", "p", "name"},
    "shuffle": {"shuffle", "keep_order", "name"},
    "repeat": {"repeat", "times", "name"},
}
_PIPELINE_KEYS = {"name", "description", "source", "scale", "scales", "gt", "lq"}
# SR factors in use are 2, 3, 4 and 8; 16 leaves room and keeps nonsense (scale: 100000) out.
MAX_SCALE = 16


def _join(path, key):
    return f"{path}.{key}" if path else key


def _check_keys(spec, allowed, path, what):
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(_join(path, unknown[0]), f"unknown key for {what} (allowed: {', '.join(sorted(allowed))})")


def _node_list(value, path):
    if not isinstance(value, list):
        raise ConfigError(path, f"expected a list of nodes, got {type(value).__name__}")
    return [build_node(v, f"{path}[{i}]") for i, v in enumerate(value)]


def build_op(spec, path):
    name = spec["op"]
    cls = op_class(name, _join(path, "op"))
    options = {k: v for k, v in spec.items() if k not in ("op", "name")}
    sig = inspect.signature(cls.__init__)
    known = [p for p in sig.parameters if p != "self"]
    for key in options:
        if key not in known:
            raise ConfigError(_join(path, key), f"unknown option of op '{name}' (options: {', '.join(known)})")
    required = [p.name for p in sig.parameters.values() if p.default is inspect.Parameter.empty and p.name != "self"]
    missing = [name for name in required if name not in options]
    if missing:
        raise ConfigError(_join(path, missing[0]), f"op '{name}' needs this option")
    try:
        return cls(**options)
    except ConfigError as e:
        raise ConfigError(_join(path, e.key), e.detail) from None


def build_node(spec, path="lq"):
    """One config node -> a pipeline Node."""
    if isinstance(spec, list):
        return Sequence(_node_list(spec, path))
    if not isinstance(spec, dict):
        raise ConfigError(path, f"expected an op ({{op: name, ...}}), a list or a combinator, got {spec!r}")
    kinds = [k for k in ("op", *_COMBINATOR_KEYS) if k in spec]
    if len(kinds) != 1:
        raise ConfigError(path, f"a node needs exactly one of op, {', '.join(_COMBINATOR_KEYS)}; got keys {sorted(spec)}")
    kind, label = kinds[0], spec.get("name")
    if label is not None and not isinstance(label, str):
        raise ConfigError(_join(path, "name"), f"expected a string, got {label!r}")
    if kind == "op":
        return OpNode(build_op(spec, path), label)
    _check_keys(spec, _COMBINATOR_KEYS[kind], path, kind)
    if kind == "sequence":
        return Sequence(_node_list(spec["sequence"], _join(path, "sequence")), label)
    if kind == "maybe":
        if "p" not in spec:
            raise ConfigError(_join(path, "p"), "maybe needs a probability p")
        return Maybe(build_node(spec["maybe"], _join(path, "maybe")), check_probability(spec["p"], _join(path, "p")), label)
    if kind == "one_of":
        children = _node_list(spec["one_of"], _join(path, "one_of"))
        p = check_weights(spec.get("p", [1] * len(children)), _join(path, "p"), len(children))
        return OneOf(children, p, label)
    if kind == "shuffle":
        children = _node_list(spec["shuffle"], _join(path, "shuffle"))
        keep = spec.get("keep_order", [])
        key = _join(path, "keep_order")
        if not isinstance(keep, list) or not all(isinstance(c, list) for c in keep):
            raise ConfigError(key, f"expected a list of index lists, got {keep!r}")
        for chain in keep:
            if len(set(chain)) != len(chain) or not all(isinstance(i, int) and 0 <= i < len(children) for i in chain):
                raise ConfigError(key, f"chain {chain} must list distinct child indices in [0, {len(children) - 1}]")
        return Shuffle(children, keep, label)
    times = spec.get("times")
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ConfigError(_join(path, "times"), f"expected an integer >= 1, got {times!r}")
    return Repeat(build_node(spec["repeat"], _join(path, "repeat")), times, label)


def build_pipeline(config, scale=None, source_file=""):
    """A Pipeline from a config dict; ``scale`` overrides the config's default scale."""
    if not isinstance(config, dict):
        raise ConfigError(source_file, "a pipeline config must be a mapping")
    _check_keys({k for k in config if not str(k).startswith("x-")}, _PIPELINE_KEYS, "", "a pipeline")
    if "lq" not in config:
        raise ConfigError("lq", "a pipeline needs lq ops")
    scales = config.get("scales")
    if scales is not None and (not isinstance(scales, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SCALE for s in scales)):
        raise ConfigError("scales", f"expected a list of integers in [1, {MAX_SCALE}], got {scales!r}")
    default = config.get("scale", scales[0] if scales else 4)
    scale = default if scale is None else scale
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
        raise ConfigError("scale", f"expected an integer in [1, {MAX_SCALE}], got {scale!r}")
    name = config.get("name", "custom")
    if scales is not None and scale not in scales:
        raise ConfigError("scale", f"pipeline '{name}' is defined for scale {', '.join(map(str, scales))}, not {scale}")
    return Pipeline(
        lq=build_node(config["lq"], "lq"),
        gt=build_node(config.get("gt", []), "gt"),
        scale=scale,
        name=name,
        description=config.get("description", ""),
        source=config.get("source", ""),
        scales=scales,
    )


def load_yaml(path):
    """Read a YAML file; parse errors become a ConfigError naming the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "no such file") from None
    except yaml.YAMLError as e:
        raise ConfigError(str(path), f"not valid YAML: {e}") from None
