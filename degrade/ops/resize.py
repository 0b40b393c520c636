"""Resizing ops: random up/down/keep resize, the final resize to HR/scale, decimation."""

import numpy as np

from lightsr.degrade.distributions import check_weights, cumulative, pick_index
from lightsr.degrade.ops.base import Op, check_bool, check_choice, check_modes, dist, register_op
from lightsr.degrade.resize import MODES, resize
from lightsr.errors import ConfigError


class _ModeChoice:
    """The interpolation mode, drawn per sample from ``modes`` (weights ``mode_p``)."""

    def __init__(self, modes, mode_p):
        self.modes = check_modes(modes, "modes", MODES)
        self._cum = cumulative(check_weights(mode_p, "mode_p", len(self.modes))) if mode_p else None

    def sample(self, rng):
        if len(self.modes) == 1:
            return self.modes[0]
        if self._cum is None:
            return self.modes[int(rng.integers(0, len(self.modes)))]
        return self.modes[pick_index(rng, self._cum)]


# The largest enlarging factor a resize op may draw: the presets go up to 2 (BSRGAN+'s up
# [1, 2], Real-ESRGAN's 1.5); 4 already makes a 2000 px crop a 0.8 GB float image, and a
# larger factor (a typo) can only exhaust memory.
MAX_RESIZE_FACTOR = 4


def _apply_resize(img, params):
    out = resize(img, params["h"], params["w"], params["mode"])
    if params.get("clip"):
        np.clip(out, 0.0, 1.0, out=out)
    return out


def _resized_shape(shape, params):
    return (params["h"], params["w"]) + tuple(shape[2:])


@register_op
class Resize(Op):
    """Random resize by a factor: ``scale`` (a distribution), or ``updown``:
    {p: [up, down, keep], up: [1, a], down: [b, 1]} as Real-ESRGAN and BSRGAN draw it.

    ``relative_to: target`` multiplies the factor with the final LR size instead of the
    current size (Real-ESRGAN's second-order resize).
    """

    name = "resize"

    def __init__(self, *, scale=None, updown=None, modes=("area", "bilinear", "bicubic"), mode_p=None,
                 relative_to="input", clip=False):
        if (scale is None) == (updown is None):
            raise ConfigError("scale", "give exactly one of 'scale' or 'updown'")
        self.scale = dist(scale, "scale", low=0, high=MAX_RESIZE_FACTOR) if scale is not None else None
        if updown is not None:
            if not isinstance(updown, dict) or set(updown) - {"p", "up", "down"}:
                raise ConfigError("updown", "expected {p: [up, down, keep], up: [1, a], down: [b, 1]}")
            self.updown_cum = cumulative(check_weights(updown.get("p"), "updown.p", 3))
            self.up = dist(updown.get("up", [1, 1]), "updown.up", low=1, high=MAX_RESIZE_FACTOR)
            self.down = dist(updown.get("down", [1, 1]), "updown.down", low=0, high=1)
        self.mode = _ModeChoice(modes, mode_p)
        self.relative_to = check_choice(relative_to, "relative_to", ("input", "target"))
        self.clip = check_bool(clip, "clip")

    def sample(self, rng, shape, ctx):
        if self.scale is not None:
            s = float(self.scale.sample(rng))
        else:
            kind = pick_index(rng, self.updown_cum)
            s = float(self.up.sample(rng)) if kind == 0 else float(self.down.sample(rng)) if kind == 1 else 1.0
        if self.relative_to == "target":
            base_h, base_w = ctx.hr_shape[0] / ctx.scale, ctx.hr_shape[1] / ctx.scale
        else:
            base_h, base_w = shape[0], shape[1]
        h, w = max(1, int(base_h * s)), max(1, int(base_w * s))
        return {"scale": s, "h": h, "w": w, "mode": self.mode.sample(rng), "clip": self.clip}

    apply = staticmethod(_apply_resize)
    output_shape = staticmethod(_resized_shape)


@register_op
class ResizeToTarget(Op):
    """Resize to exactly the LR size, floor(HR size / scale)."""

    name = "resize_to_target"

    def __init__(self, *, modes=("area", "bilinear", "bicubic"), mode_p=None, clip=False):
        self.mode = _ModeChoice(modes, mode_p)
        self.clip = check_bool(clip, "clip")

    def sample(self, rng, shape, ctx):
        h, w = ctx.target_hw
        return {"h": h, "w": w, "mode": self.mode.sample(rng), "clip": self.clip}

    apply = staticmethod(_apply_resize)
    output_shape = staticmethod(_resized_shape)


@register_op
class Decimate(Op):
    """Keep every ``factor``-th pixel starting at ``offset`` (nearest downsampling, x[o::f, o::f])."""

    name = "decimate"

    def __init__(self, *, factor, offset=0):
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ConfigError("factor", f"expected an integer >= 1, got {factor!r}")
        self.factor, self.offset = factor, offset
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < factor:
            raise ConfigError("offset", f"must be an integer in [0, factor), got {offset!r}")

    def sample(self, rng, shape, ctx):
        return {"factor": self.factor, "offset": self.offset}

    @staticmethod
    def apply(img, params):
        f, o = params["factor"], params["offset"]
        return np.ascontiguousarray(img[o::f, o::f])

    @staticmethod
    def output_shape(shape, params):
        f, o = params["factor"], params["offset"]
        return (len(range(o, shape[0], f)), len(range(o, shape[1], f))) + tuple(shape[2:])
