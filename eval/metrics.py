"""The metrics lightsr computes: one registry of specs, read by ``lightsr eval``, training validation,
reports and the CLI's help.

A metric is a :class:`MetricSpec`: a function ``compute(sr, ref, lr, ctx) -> float`` (or, for a
learned metric whose network is built once, a ``factory(ctx)`` returning ``fn(sr, ref, lr) -> float``),
whether it needs the reference and/or the LR input, and its direction. Images are H x W x C float
arrays in [0, 1]; ``ctx`` is a :class:`MetricContext` (scale, crop border, Y channel, device, weights
folder, LR-consistency kernel). Adding a metric is one :func:`register_metric` call.

pyiqa's no-reference metrics enter through the same registry: any name that pyiqa lists as NR
resolves on demand (built by :func:`lightsr.eval.noref.create_nr_metric`, weight files checked),
its direction read from the built metric object's own ``lower_better``.

Importing this module is cheap (no torch, no pyiqa): the CLI reads it for its help.
"""

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

from lightsr.errors import LightSRError


@dataclass(frozen=True)
class MetricContext:
    """What a metric may need besides the images."""

    scale: int = 4
    crop_border: int = 4  # pixels removed per side by full-reference metrics that crop (psnr, ssim, ifc)
    y: bool = False  # full-reference metrics on the BT.601 Y channel
    device: Any = "cpu"
    weights_dir: Optional[str] = None
    lrc_kernel: Any = None  # LR-consistency blur kernel (None: MATLAB bicubic)


@dataclass(frozen=True)
class MetricSpec:
    """One metric. Exactly one of ``compute`` / ``factory`` is given.

    ``higher_is_better`` is None only for metrics whose direction is known once built (pyiqa's).
    ``default``: computed by ``lightsr eval`` when ``--metrics`` is not given (see :func:`default_metrics`).
    """

    name: str
    compute: Optional[Callable] = None  # compute(sr, ref, lr, ctx) -> float
    factory: Optional[Callable] = None  # factory(ctx) -> fn(sr, ref, lr) -> float; fn may carry .higher_is_better
    needs_ref: bool = False
    needs_lr: bool = False
    higher_is_better: Optional[bool] = True
    description: str = ""
    default: bool = False

    @property
    def full_reference(self):
        return self.needs_ref and not self.needs_lr

    def build(self, ctx=None):
        """A :class:`Metric` ready to call image by image (a learned metric's network is built here, once)."""
        ctx = ctx or MetricContext()
        if self.factory is not None:
            fn = self.factory(ctx)
            direction = getattr(fn, "higher_is_better", self.higher_is_better)
        else:
            compute = self.compute

            def fn(sr, ref=None, lr=None):
                return compute(sr, ref, lr, ctx)

            direction = self.higher_is_better
        return Metric(self, fn, bool(direction) if direction is not None else True)


@dataclass(frozen=True)
class Metric:
    """A built metric: ``metric(sr, ref, lr) -> float``."""

    spec: MetricSpec
    fn: Callable = field(repr=False)
    higher_is_better: bool = True

    @property
    def name(self):
        return self.spec.name

    def __call__(self, sr, ref=None, lr=None):
        return float(self.fn(sr, ref, lr))


_REGISTRY: dict = {}  # name -> MetricSpec, in registration order
_PYIQA: dict = {}  # pyiqa NR metrics resolved so far


def register_metric(spec=None, **kwargs):
    """Add a metric: ``register_metric(MetricSpec(...))`` or ``register_metric(name=..., compute=..., ...)``.
    Returns the spec. A name already registered is an error (unregister it first)."""
    spec = spec if spec is not None else MetricSpec(**kwargs)
    name = spec.name.strip().lower()
    if not name or "," in name:
        raise LightSRError(f"metric name {spec.name!r}: give a non-empty name without commas")
    if (spec.compute is None) == (spec.factory is None):
        raise LightSRError(f"metric {name}: give exactly one of compute and factory")
    if name in _REGISTRY:
        raise LightSRError(f"metric {name} is already registered")
    if name != spec.name:
        spec = replace(spec, name=name)
    _REGISTRY[name] = spec
    return spec


def unregister_metric(name):
    """Remove a registered metric (tests, plug-ins replacing a metric)."""
    _REGISTRY.pop(name.strip().lower(), None)


def list_metrics():
    """The registered specs, in registration order (pyiqa's other NR metrics are not listed: they resolve on demand)."""
    return list(_REGISTRY.values())


def pyiqa_nr_names():
    import pyiqa

    return list(pyiqa.list_models(metric_mode="NR"))


def get_metric(name, pyiqa=True):
    """The spec of ``name``: a registered metric, else (``pyiqa=True``) any metric pyiqa lists as no-reference."""
    key = name.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    if pyiqa:
        if key in _PYIQA:
            return _PYIQA[key]
        nr = pyiqa_nr_names()
        if key in nr:
            return _PYIQA.setdefault(key, pyiqa_metric(key))
        raise LightSRError(f"unknown metric {name!r} (lightsr has: {', '.join(_REGISTRY)}; "
                           f"pyiqa's no-reference metrics: {', '.join(nr)})")
    raise LightSRError(f"unknown metric {name!r} (lightsr has: {', '.join(_REGISTRY)})")


def higher_is_better(name):
    """The direction of ``name`` without building it (a pyiqa metric: the configuration pyiqa builds it from)."""
    spec = get_metric(name)
    if spec.higher_is_better is not None:
        return spec.higher_is_better
    from pyiqa.default_model_configs import DEFAULT_CONFIGS  # what InferenceModel sets .lower_better from

    return not DEFAULT_CONFIGS[spec.name].get("lower_better", False)


def default_metrics(has_ref, has_lr):
    """The metrics ``lightsr eval`` computes when ``--metrics`` is not given: the default full-reference ones
    with references, the default no-reference ones without, plus those needing the LR input when it is given."""

    def fits(spec):
        if spec.needs_lr:
            return has_lr and (has_ref or not spec.needs_ref)
        return has_ref if spec.needs_ref else not has_ref

    return [s.name for s in list_metrics() if s.default and fits(s)]


def metrics_help():
    """The ``--metrics`` help line."""
    return f"comma-separated: {','.join(_REGISTRY)} or any pyiqa NR metric"


# ---------------------------------------------------------------- the built-in metrics


def _chw(img, device):
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device)


def _psnr(sr, ref, lr, ctx):
    from lightsr.eval.fullref import psnr

    return psnr(sr, ref, ctx.crop_border, ctx.y)


def _ssim(sr, ref, lr, ctx):
    from lightsr.eval.fullref import ssim

    return ssim(sr, ref, ctx.crop_border, ctx.y)


def _lpips(ctx):
    import torch

    from lightsr.eval.lpips import LPIPS

    net = LPIPS(weights_dir=ctx.weights_dir).to(ctx.device)

    def lpips(sr, ref, lr=None):
        a, b = (_chw(x, ctx.device) for x in (sr, ref))
        if a.shape[1] == 1:  # a Y-channel model's output (training validation): gray RGB
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        with torch.no_grad():
            return float(net(a, b))

    return lpips


def _ifc(sr, ref, lr, ctx):
    from lightsr.color import rgb_to_y
    from lightsr.eval.ifc import ifc

    c = ctx.crop_border
    crop = (slice(c, -c), slice(c, -c)) if c else (slice(None), slice(None))

    def y(img):
        return img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else rgb_to_y(img)

    return ifc(y(ref)[crop] * 255.0, y(sr)[crop] * 255.0)


def _lrc(sr, ref, lr, ctx):
    from lightsr.eval.lr_consistency import lr_consistency

    return lr_consistency(sr, lr, ctx.scale, ctx.lrc_kernel, y=ctx.y)


def _noise(sr, ref, lr, ctx):
    from lightsr.eval.noise import noise_sigma

    return noise_sigma(sr, ctx.scale)


def pyiqa_metric(name, default=False, description=""):
    """The spec of pyiqa's no-reference metric ``name``; its direction is the built object's ``lower_better``."""

    def factory(ctx):
        import torch

        from lightsr.eval.noref import create_nr_metric

        model = create_nr_metric(name, ctx.device, ctx.weights_dir)

        def score(sr, ref=None, lr=None):
            with torch.no_grad():
                return float(model(_chw(sr, ctx.device)))

        score.model = model
        score.higher_is_better = not bool(getattr(model, "lower_better", False))
        return score

    return MetricSpec(name, factory=factory, higher_is_better=None, default=default,
                      description=description or f"pyiqa's {name} (no reference)")


register_metric(MetricSpec("psnr", _psnr, needs_ref=True, default=True,
                           description="PSNR in dB (basicsr's formula; crop border, --y)"))
register_metric(MetricSpec("ssim", _ssim, needs_ref=True, default=True,
                           description="SSIM (basicsr's formula; crop border, --y)"))
register_metric(MetricSpec("lpips", factory=_lpips, needs_ref=True, higher_is_better=False,
                           description="LPIPS v0.1 VGG16 distance (offline weights)"))
register_metric(MetricSpec("ifc", _ifc, needs_ref=True, description="information fidelity criterion on Y"))
register_metric(pyiqa_metric("niqe", default=True, description="NIQE through pyiqa with basicsr's parameters"))
register_metric(pyiqa_metric("piqe", default=True, description="PIQE through pyiqa"))
register_metric(MetricSpec("lrc", _lrc, needs_lr=True, default=True,
                           description="LR-consistency: PSNR (dB) of the SR output degraded back against its LR input"))
register_metric(MetricSpec("noise", _noise, higher_is_better=False,
                           description="noise sigma (0-255) of the output at the input's size (scikit-image estimate_sigma)"))
