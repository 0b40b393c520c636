"""Value-range ops: clipping and rounding to a bit depth (the final step of the presets)."""

import numpy as np

from lightsr.degrade.distributions import check_number
from lightsr.degrade.ops.base import Op, register_op
from lightsr.errors import ConfigError


@register_op
class Clip(Op):
    """Clamp values to [low, high]."""

    name = "clip"

    def __init__(self, *, low=0.0, high=1.0):
        self.low, self.high = float(check_number(low, "low")), float(check_number(high, "high"))
        if self.low > self.high:
            raise ConfigError("low", f"must not exceed high ({self.high}), got {low}")

    def sample(self, rng, shape, ctx):
        return {"low": self.low, "high": self.high}

    @staticmethod
    def apply(img, params):
        return np.clip(img, params["low"], params["high"]).astype(np.float32, copy=False)


@register_op
class Quantize(Op):
    """Clamp to [0, 1] and round to ``bits`` bits, as an image saved to an 8-bit file would be."""

    name = "quantize"

    def __init__(self, *, bits=8):
        if bits not in (8, 16):
            raise ConfigError("bits", f"expected 8 or 16, got {bits!r}")
        self.bits = bits

    def sample(self, rng, shape, ctx):
        return {"bits": self.bits}

    @staticmethod
    def apply(img, params):
        top = np.float32(2 ** params["bits"] - 1)
        return (np.rint(np.clip(img, 0.0, 1.0) * top) / top).astype(np.float32, copy=False)
