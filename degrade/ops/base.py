"""The op contract: ``sample`` draws parameters, ``apply`` uses them.

    params = op.sample(rng, shape, ctx)   # JSON-serialisable dict
    out    = type(op).apply(img, params)  # pure: same img + same params -> same out

``apply`` and ``output_shape`` are static: they need nothing but the params, so a record
(a list of op names and params) can be replayed without the config that drew it. Config
values (ranges, probabilities) only shape the draw.
"""

from dataclasses import dataclass

from lightsr.degrade.distributions import parse_distribution
from lightsr.errors import ConfigError

OPS = {}


def register_op(cls):
    """Class decorator: make an op available to configs and records under ``cls.name``."""
    if not cls.name or cls.name in OPS:
        raise ValueError(f"op name {cls.name!r} is empty or taken")
    OPS[cls.name] = cls
    return cls


def op_class(name, key=""):
    try:
        return OPS[name]
    except KeyError:
        raise ConfigError(key, f"unknown op {name!r} (known: {', '.join(sorted(OPS))})") from None


@dataclass(frozen=True)
class SampleContext:
    """What an op may need to know beyond the current shape: the HR size and the scale."""

    hr_shape: tuple
    scale: int

    @property
    def target_hw(self):
        """The LR size every pipeline must end at: floor(HR / scale)."""
        return self.hr_shape[0] // self.scale, self.hr_shape[1] // self.scale


class Op:
    """Base class. Subclasses set ``name``, define ``__init__`` with keyword-only config
    arguments, ``sample`` and the static ``apply`` (and ``output_shape`` if they resize)."""

    name = ""

    def sample(self, rng, shape, ctx):
        raise NotImplementedError

    @staticmethod
    def apply(img, params):
        raise NotImplementedError

    @staticmethod
    def output_shape(shape, params):
        return shape

    @staticmethod
    def describe(params):
        """A short caption of the params, for inspection sheets."""
        parts = []
        for k, v in params.items():
            if k == "seed":
                continue
            if isinstance(v, float):
                v = f"{v:.3g}"
            parts.append(f"{k}={v}")
        return " ".join(parts)


def dist(value, key, **bounds):
    """A config value parsed as a Distribution, errors naming ``key``."""
    return parse_distribution(value, key, **bounds)


def check_choice(value, key, allowed):
    if value not in allowed:
        raise ConfigError(key, f"expected one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def check_bool(value, key):
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {value!r}")
    return value


def check_modes(modes, key, allowed):
    if isinstance(modes, str):
        modes = [modes]
    if not isinstance(modes, (list, tuple)) or not modes:
        raise ConfigError(key, f"expected a list of modes, got {modes!r}")
    for m in modes:
        check_choice(m, key, allowed)
    return list(modes)


def new_seed(rng):
    """A seed for the noise field of one sample, drawn from the sample's own generator."""
    return int(rng.integers(0, 2**63 - 1))
