"""The model zoo's registry: every architecture registers a builder with its metadata.

    create_model("imdn", scale=4)          # a torch.nn.Module
    list_models(family="distillation")     # [ModelInfo, ...]

Registration is explicit: ``lightsr.models`` imports each family file by name.
"""

from dataclasses import dataclass, field

from lightsr.errors import ConfigError

FAMILIES = ("convolution", "residual", "dense", "distillation", "attention", "extremely_lightweight", "reparameterizable")
BENCHMARKS = ("Set5", "Set14", "B100", "Urban100", "Manga109")


@dataclass(frozen=True)
class Published:
    """Figures a paper (or a comparison table) reports for one scale.

    ``params`` is a count, ``macs`` multiply-accumulates for a 1280x720 output (the
    efficient-SR convention; those tables often call them FLOPs), ``psnr_ssim`` maps a
    benchmark to (Y-PSNR, SSIM), ``source`` names the table. ``verified`` is False for
    figures taken from a secondary source that still need checking against the paper.
    """

    params: int = None
    macs: float = None
    psnr_ssim: dict = field(default_factory=dict)
    source: str = ""
    verified: bool = True


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    paper: str
    year: int
    color: str  # "rgb" or "y" (BT.601 luma, 1 channel)
    scales: tuple
    builder: object
    published: dict = field(default_factory=dict)  # scale -> Published
    defaults: dict = field(default_factory=dict)  # the paper's options for the builder
    faithful: str = "yes"  # "yes" or "partial: <what the paper leaves open>"
    notes: str = ""
    counted: str = "all"  # what the paper's count includes: "all", conv "weights" only, or "executed_leaves" (torchsummaryX)

    @property
    def in_channels(self):
        return 1 if self.color == "y" else 3


MODELS = {}


def register_model(name, **info):
    """Decorator for a builder ``fn(scale, **options) -> nn.Module`` with its metadata."""

    def wrap(builder):
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        if info.get("family") not in FAMILIES:
            raise ValueError(f"model {name!r}: family must be one of {FAMILIES}")
        MODELS[name] = ModelInfo(name=name, builder=builder, **info)
        return builder

    return wrap


def model_info(name):
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise ConfigError("model", f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})") from None


def create_model(name, scale=4, **overrides):
    """Build a registered model at ``scale`` with the paper's options, overridden by ``overrides``."""
    info = model_info(name)
    if scale not in info.scales:
        raise ConfigError("scale", f"{info.name} is defined for scale {', '.join(map(str, info.scales))}, not {scale}")
    options = {**info.defaults, **overrides}
    try:
        model = info.builder(scale=scale, **options)
    except TypeError as e:
        raise ConfigError(info.name, f"bad option: {e}") from None
    model.lightsr_spec = {"name": info.name, "scale": scale, "options": options}
    return model


def list_models(family=None):
    return [m for m in sorted(MODELS.values(), key=lambda m: (FAMILIES.index(m.family), m.name))
            if family is None or m.family == family]
