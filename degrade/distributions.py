"""Random-value specifications used in degradation configs.

A config value that is drawn per sample is written as one of:

    3.5                      a constant (numbers may use pi: "pi/3", "-pi", "2*pi/3")
    [a, b]                   uniform float in [a, b)
    {uniform: [a, b]}        the same, spelled out
    {randint: [a, b]}        uniform integer in [a, b], both ends included
    {odd: [a, b]}            uniform odd integer in [a, b] (kernel sizes)
    {choice: [v, ...], p: [w, ...]}   one of the values (weights optional)
    {split: [a, m, b]}       50 %: uniform [a, m), 50 %: uniform [m, b) (basicsr's beta draw)
    {log10_uniform: [a, b]}  10 ** uniform [a, b) (BSRGAN's Poisson levels)
    {sqrt_uniform: [a, b]}   sqrt(uniform [a, b)) (a sigma from a uniformly drawn variance)
    {reciprocal_uniform: [a, b]}  1 / uniform [a, b) (BSRGAN's 1/sf1 resize factors)

Each spec becomes a Distribution with ``sample(rng)`` (``rng`` is a numpy Generator), so
every draw goes through the sample's own counter-based generator.
"""

import math
import re

from lightsr.errors import ConfigError

_NUMBER = re.compile(r"^\s*([+-])?\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)?\s*(\*?\s*pi)?\s*(?:/\s*(\d+(?:\.\d*)?))?\s*$")


def parse_number(value, key=""):
    """A number from YAML: int/float, or a string like 'pi/3', '-pi', '2*pi/3', '1e-3'."""
    if isinstance(value, bool):
        raise ConfigError(key, f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        m = _NUMBER.match(value)
        if m and (m.group(2) or m.group(3)):
            sign, coef, pi, denom = m.groups()
            if coef and not pi and not denom:
                out = float(coef)
            else:
                out = float(coef) if coef else 1.0
                if pi:
                    out *= math.pi
                if denom:
                    out /= float(denom)
            return -out if sign == "-" else out
    raise ConfigError(key, f"expected a number (e.g. 0.5, 'pi/3'), got {value!r}")


class Distribution:
    """A per-sample random value. ``low``/``high`` bound every value it can produce."""

    kind = ""

    def sample(self, rng):
        raise NotImplementedError

    def to_spec(self):
        raise NotImplementedError

    def __repr__(self):
        return f"Distribution({self.to_spec()!r})"

    def __eq__(self, other):
        return isinstance(other, Distribution) and self.to_spec() == other.to_spec()


class Constant(Distribution):
    kind = "constant"

    def __init__(self, value):
        self.value = value
        self.low = self.high = value

    def sample(self, rng):
        return self.value

    def to_spec(self):
        return self.value


class _Range(Distribution):
    """Base of the distributions defined by an interval [a, b]."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def to_spec(self):
        return {self.kind: [self.a, self.b]}


class Uniform(_Range):
    kind = "uniform"

    @property
    def low(self):
        return self.a

    @property
    def high(self):
        return self.b

    def sample(self, rng):
        return float(rng.uniform(self.a, self.b))

    def to_spec(self):
        return [self.a, self.b]


class RandInt(_Range):
    kind = "randint"
    low = property(lambda self: self.a)
    high = property(lambda self: self.b)

    def sample(self, rng):
        return int(rng.integers(self.a, self.b + 1))


class OddInt(_Range):
    kind = "odd"

    @property
    def low(self):
        return self.a + (1 - self.a % 2)

    @property
    def high(self):
        return self.b - (1 - self.b % 2)

    def sample(self, rng):
        n = (self.high - self.low) // 2 + 1
        return int(self.low + 2 * rng.integers(0, n))


class Split(Distribution):
    """Half the time uniform [a, m), half the time uniform [m, b).

    basicsr draws the shape parameter beta of generalized-Gaussian and plateau kernels this
    way (``beta_range[0] < 1 < beta_range[1]``, split at 1).
    """

    kind = "split"

    def __init__(self, a, m, b):
        self.a, self.m, self.b = a, m, b
        self.low, self.high = a, b

    def sample(self, rng):
        if rng.uniform() < 0.5:
            return float(rng.uniform(self.a, self.m))
        return float(rng.uniform(self.m, self.b))

    def to_spec(self):
        return {"split": [self.a, self.m, self.b]}


class Log10Uniform(_Range):
    kind = "log10_uniform"
    low = property(lambda self: 10.0**self.a)
    high = property(lambda self: 10.0**self.b)

    def sample(self, rng):
        return float(10.0 ** rng.uniform(self.a, self.b))


class SqrtUniform(_Range):
    kind = "sqrt_uniform"
    low = property(lambda self: math.sqrt(self.a))
    high = property(lambda self: math.sqrt(self.b))

    def sample(self, rng):
        return float(math.sqrt(rng.uniform(self.a, self.b)))


class ReciprocalUniform(_Range):
    kind = "reciprocal_uniform"
    low = property(lambda self: 1.0 / self.b)
    high = property(lambda self: 1.0 / self.a)

    def sample(self, rng):
        return float(1.0 / rng.uniform(self.a, self.b))


class Choice(Distribution):
    kind = "choice"

    def __init__(self, values, p=None):
        self.values, self.p = list(values), (list(p) if p is not None else None)
        numeric = all(isinstance(v, (int, float)) for v in self.values)
        self.low = min(self.values) if numeric else None
        self.high = max(self.values) if numeric else None
        self._cum = cumulative(self.p) if self.p else None

    def sample(self, rng):
        if self._cum is None:
            return self.values[int(rng.integers(0, len(self.values)))]
        return self.values[pick_index(rng, self._cum)]

    def to_spec(self):
        spec = {"choice": self.values}
        if self.p:
            spec["p"] = self.p
        return spec


def cumulative(weights):
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def pick_index(rng, cumulative):
    """Index drawn with the probabilities whose running sum is ``cumulative``."""
    u = rng.uniform()
    for i, c in enumerate(cumulative):
        if u < c:
            return i
    return len(cumulative) - 1


def check_weights(weights, key, count=None):
    """Validate a probability/weight list; returns it as floats."""
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ConfigError(key, f"expected a list of weights, got {weights!r}")
    out = [parse_number(w, key) for w in weights]
    if any(w < 0 for w in out) or sum(out) <= 0:
        raise ConfigError(key, f"weights must be >= 0 with a positive sum, got {weights!r}")
    if count is not None and len(out) != count:
        raise ConfigError(key, f"expected {count} weights, got {len(out)}")
    return out


def check_number(value, key, low=None, high=None):
    """A single number (not a distribution) within [low, high]."""
    x = parse_number(value, key)
    if (low is not None and x < low) or (high is not None and x > high):
        lo, hi = "-inf" if low is None else low, "inf" if high is None else high
        raise ConfigError(key, f"must be in [{lo}, {hi}], got {value!r}")
    return x


def check_probability(value, key):
    p = parse_number(value, key)
    if not 0.0 <= p <= 1.0:
        raise ConfigError(key, f"probability must be in [0, 1], got {value!r}")
    return float(p)


_RANGES = {
    "uniform": Uniform,
    "randint": RandInt,
    "odd": OddInt,
    "log10_uniform": Log10Uniform,
    "sqrt_uniform": SqrtUniform,
    "reciprocal_uniform": ReciprocalUniform,
}


def _pair(value, key, integer=False):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(key, f"expected [low, high], got {value!r}")
    a, b = (parse_number(v, key) for v in value)
    if integer and not (float(a).is_integer() and float(b).is_integer()):
        raise ConfigError(key, f"expected integer bounds, got {value!r}")
    if a > b:
        raise ConfigError(key, f"low must not exceed high, got {value!r}")
    return (int(a), int(b)) if integer else (a, b)


def parse_distribution(spec, key="", low=None, high=None, integer=False):
    """Turn a config value into a Distribution; ``low``/``high`` bound what it may produce."""
    if isinstance(spec, (list, tuple)):
        a, b = _pair(spec, key, integer)
        dist = RandInt(a, b) if integer else Uniform(a, b)
    elif isinstance(spec, dict):
        if len(spec) == 0 or (len(spec) > 1 and set(spec) != {"choice", "p"}):
            raise ConfigError(key, f"a distribution has one key (uniform, randint, odd, choice, split, ...), got {sorted(spec)}")
        kind = next(iter(spec)) if "choice" not in spec else "choice"
        body = spec[kind]
        if kind in _RANGES:
            a, b = _pair(body, f"{key}.{kind}", integer=kind in ("randint", "odd"))
            if kind == "sqrt_uniform" and a < 0:
                raise ConfigError(key, f"sqrt_uniform needs low >= 0, got {body!r}")
            elif kind == "reciprocal_uniform" and a <= 0:
                raise ConfigError(key, f"reciprocal_uniform needs low > 0, got {body!r}")
            elif kind == "odd" and a + (1 - a % 2) > b - (1 - b % 2):
                raise ConfigError(key, f"no odd integer in {body!r}")
            dist = _RANGES[kind](a, b)
        elif kind == "split":
            if not isinstance(body, (list, tuple)) or len(body) != 3:
                raise ConfigError(key, f"split expects [low, middle, high], got {body!r}")
            a, m, b = (parse_number(v, key) for v in body)
            if not a <= m <= b:
                raise ConfigError(key, f"split expects low <= middle <= high, got {body!r}")
            dist = Split(a, m, b)
        elif kind == "choice":
            if not isinstance(body, (list, tuple)) or not body:
                raise ConfigError(key, f"choice expects a list of values, got {body!r}")
            values = [parse_number(v, key) for v in body]
            p = check_weights(spec["p"], f"{key}.p", len(values)) if "p" in spec else None
            dist = Choice(values, p)
        else:
            known = ", ".join(["constant", "[a, b]", *_RANGES, "split", "choice"])
            raise ConfigError(key, f"unknown distribution {kind!r} (known: {known})")
    else:
        value = parse_number(spec, key)
        if integer and not float(value).is_integer():
            raise ConfigError(key, f"expected an integer, got {spec!r}")
        dist = Constant(int(value) if integer else value)
    if low is not None and dist.low is not None and dist.low < low:
        raise ConfigError(key, f"values must be >= {low}, {spec!r} allows {dist.low}")
    if high is not None and dist.high is not None and dist.high > high:
        raise ConfigError(key, f"values must be <= {high}, {spec!r} allows {dist.high}")
    return dist
