"""The training config: close in shape to BasicSR's options (name, scale, network, datasets,
train, val, logger), validated before anything runs. See configs/ for recipes.

A resumed run keeps its config: ``check_resume`` compares the resolved config with the run's
saved config.yml and refuses any difference except in ``RESUME_SAFE`` keys, which change how
the run is watched or where it runs, never what it trains."""

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Literal, Optional, Union

import yaml

from lightsr.degrade.config import load_yaml
from lightsr.errors import ConfigError
from lightsr.trainers.schema import apply_overrides, from_dict, to_dict


@dataclass
class ModelConfig:
    name: str
    options: dict = field(default_factory=dict)
    pretrained: Optional[str] = None  # a .safetensors written by lightsr (e.g. stage 1 of a two-stage recipe)


@dataclass
class DevicePathConfig:
    """How the batched backend runs when ``degrade_on: device`` (each "auto" switch is on where it
    pays: on CUDA). Results are the same either way, to float rounding."""

    compile: Union[bool, Literal["auto"]] = "auto"  # torch.compile of the elementwise chains (noise, JPEG)
    static: Union[bool, Literal["auto"]] = "auto"  # the fixed-shape path, planned in the loader workers
    cuda_graphs: Union[bool, Literal["auto"]] = "auto"  # the fixed-shape path replayed as CUDA graphs (false: eagerly)


@dataclass
class DataConfig:
    """Training pairs: on the fly from HR images through a degradation, or paired folders."""

    type: Literal["degraded", "paired"] = "degraded"
    hr: str = "embedded"  # a folder of HR images, or "embedded" (the photos that ship offline)
    lr: Optional[str] = None  # paired only
    pipeline: str = "bicubic"  # a preset name or a pipeline YAML (degraded only)
    degrade_on: Literal["workers", "device"] = "workers"  # device: HR patches go to the GPU, degraded there in batches
    device_path: DevicePathConfig = field(default_factory=DevicePathConfig)  # how degrade_on: device runs
    exclude: list[str] = field(default_factory=list)  # file names kept out of training (held-out photos)
    patch: int = field(default=96, metadata={"min": 8})  # HR patch size
    samples_per_image: int = field(default=1, metadata={"min": 1})
    batch: int = field(default=16, metadata={"min": 1})  # the global batch (split across DDP ranks)
    workers: int = field(default=0, metadata={"min": 0})
    augment: bool = True


@dataclass
class ValConfig:
    """Fixed validation pairs, made once from a seed (degraded) or read (paired)."""

    type: Literal["degraded", "paired", "none"] = "none"
    hr: str = "embedded"
    lr: Optional[str] = None
    pipeline: str = "bicubic"
    include: list[str] = field(default_factory=list)  # only these file names (e.g. the held-out photos)
    count: int = field(default=8, metadata={"min": 1})
    crop: int = field(default=128, metadata={"min": 0})  # HR centre crop; 0 keeps whole images (mod-cropped)
    seed: int = field(default=1234, metadata={"min": 0})
    every: int = field(default=500, metadata={"min": 1})
    metrics: list[str] = field(default_factory=lambda: ["psnr", "ssim"])
    y: bool = True


@dataclass
class OptimizerConfig:
    type: Literal["adam", "adamw"] = "adam"
    lr: float = field(default=2e-4, metadata={"min": 0})
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = field(default=0.0, metadata={"min": 0})


@dataclass
class SchedulerConfig:
    type: Literal["constant", "cosine", "multistep"] = "cosine"
    warmup_steps: int = field(default=0, metadata={"min": 0})
    min_lr: float = field(default=1e-7, metadata={"min": 0})
    milestones: list[int] = field(default_factory=list)
    gamma: float = field(default=0.5, metadata={"min": 0, "max": 1})


@dataclass
class PixelLossConfig:
    type: Literal["l1", "l2", "charbonnier"] = "l1"
    weight: float = field(default=1.0, metadata={"min": 0})
    eps: float = field(default=1e-3, metadata={"min": 0})  # Charbonnier's epsilon
    # what the pixel loss compares with: the pipeline's target (Real-ESRGAN's USM-sharpened HR, its
    # l1_gt_usm) or the plain HR (what PSNR against the HR measures)
    target: Literal["target", "plain"] = "target"


@dataclass
class PerceptualConfig:
    weight: float = field(default=0.0, metadata={"min": 0})
    network: Literal["vgg16", "vgg19"] = "vgg19"  # Real-ESRGAN's: VGG19 conv1_2 ... conv5_4, before ReLU
    layers: Optional[dict[str, float]] = None  # default: conv1_2, conv2_2 (0.1) and each later block's last conv (1)
    fallback: bool = True  # vgg19 whose file cannot be had: the offline VGG16 at the same positions, with a notice
    style_weight: float = field(default=0.0, metadata={"min": 0})
    criterion: Literal["l1", "l2"] = "l1"
    weights_file: Optional[str] = None  # VGG weights; default: the weights folder


@dataclass
class GanConfig:
    weight: float = field(default=0.0, metadata={"min": 0})
    type: Literal["vanilla", "lsgan", "hinge"] = "vanilla"
    relativistic: bool = False  # relativistic average GAN (ESRGAN)
    discriminator: Literal["unet", "patchgan"] = "unet"
    d_options: dict = field(default_factory=dict)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-4))
    real: Literal["plain", "target"] = "plain"  # Real-ESRGAN: the discriminator sees the un-sharpened HR


@dataclass
class PyramidConfig:
    """Multi-scale pixel loss: the pixel loss again at 1/2, 1/4, ... of the output size."""

    weight: float = field(default=0.0, metadata={"min": 0})
    levels: int = field(default=3, metadata={"min": 2})
    weights: list[float] = field(default_factory=list)  # one per level, full size first; default all 1
    type: Literal["l1", "l2", "charbonnier"] = "charbonnier"
    eps: float = field(default=1e-3, metadata={"min": 0})


@dataclass
class SparsityConfig:
    weight: float = field(default=0.0, metadata={"min": 0})
    kind: Literal["group", "l1", "bn"] = "group"  # per-filter group lasso, element lasso, or BN scales


@dataclass
class ContrastiveConfig:
    """RLFN's contrastive loss (SR pulled to HR, pushed from the bicubic-upsampled LR)."""

    weight: float = field(default=0.0, metadata={"min": 0})
    extractor: Literal["random", "vgg16", "vgg19"] = "random"
    channels: int = field(default=64, metadata={"min": 1})  # the random extractor's width
    negatives: Literal["own", "batch"] = "own"
    weights_file: Optional[str] = None  # VGG weights (vgg16/vgg19 extractors)


@dataclass
class PrivilegedConfig:
    """PISR step 1: train the model as a teacher that decodes an encoder's image of the HR."""

    enabled: bool = False
    imitation_weight: float = field(default=1e-4, metadata={"min": 0})  # L1(encoded, real LR)


@dataclass
class DistillConfig:
    """Knowledge distillation from a teacher (a .safetensors written by lightsr)."""

    teacher: Optional[str] = None
    teacher_input: Literal["lr", "privileged"] = "lr"  # privileged: the teacher decodes encoder(HR) (PISR step 2)
    encoder: Optional[str] = None  # the encoder.safetensors of the privileged teacher's run
    output_weight: float = field(default=1.0, metadata={"min": 0})
    feature_weight: float = field(default=0.0, metadata={"min": 0})
    feature_loss: Literal["adapter_l1", "vid", "attention"] = "adapter_l1"
    student_layers: list[str] = field(default_factory=list)  # module paths, e.g. "IMDB3"
    teacher_layers: list[str] = field(default_factory=list)

    def validate(self, path):
        if len(self.student_layers) != len(self.teacher_layers):
            raise ConfigError(f"{path}.teacher_layers", "needs one teacher layer per student layer")
        if self.feature_weight > 0 and not self.student_layers:
            raise ConfigError(f"{path}.student_layers", "feature distillation needs layers to match")
        if self.teacher_input == "privileged" and not self.encoder:
            raise ConfigError(f"{path}.encoder", "a privileged teacher needs the encoder.safetensors its run wrote")


@dataclass
class TrainConfig:
    total_steps: int = field(default=1000, metadata={"min": 1})
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    pixel: PixelLossConfig = field(default_factory=PixelLossConfig)
    perceptual: PerceptualConfig = field(default_factory=PerceptualConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    tv_weight: float = field(default=0.0, metadata={"min": 0})
    pyramid: PyramidConfig = field(default_factory=PyramidConfig)
    sparsity: SparsityConfig = field(default_factory=SparsityConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    privileged: PrivilegedConfig = field(default_factory=PrivilegedConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    ema: Optional[float] = field(default=None, metadata={"min": 0, "max": 1})
    amp: Optional[Literal["bf16", "fp16"]] = None
    grad_clip: float = field(default=0.0, metadata={"min": 0})
    nan_guard: int = field(default=3, metadata={"min": 1})  # consecutive non-finite losses before rolling back


@dataclass
class Config:
    name: str
    scale: int = field(default=4, metadata={"min": 1})
    seed: int = field(default=0, metadata={"min": 0})
    device: Literal["auto", "cpu", "cuda"] = "auto"
    model: ModelConfig = None
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    threads: Optional[int] = field(default=None, metadata={"min": 1})  # CPU training: torch threads (default: the
    # cores the loader workers leave, lightsr.threads; torch's one per core beside the workers oversubscribes)
    checkpoint_every: int = field(default=500, metadata={"min": 1})
    keep_checkpoints: int = field(default=2, metadata={"min": 1})
    log_every: int = field(default=50, metadata={"min": 1})
    tensorboard: bool = True
    output_root: str = "runs"

    def validate(self, path):
        name = self.name
        if (not name or name in (".", "..") or os.path.isabs(name) or "/" in name or "\\" in name or "\0" in name
                or (os.altsep and os.altsep in name)):
            raise ConfigError("name", f"must be a plain folder name (it names the run folder under output_root), got {name!r}")
        if self.model is None:
            raise ConfigError("model", "required: {name: <zoo model>, options: {...}}")
        from lightsr.models import model_info

        try:
            info = model_info(self.model.name)
        except ConfigError as e:
            raise ConfigError("model.name", e.detail) from None
        if self.scale not in info.scales:
            raise ConfigError("scale", f"{info.name} is defined for scale {', '.join(map(str, info.scales))}")
        if self.data.patch % self.scale:
            raise ConfigError("data.patch", f"must be a multiple of the scale {self.scale}")
        if self.data.type == "paired" and not self.data.lr:
            raise ConfigError("data.lr", "paired data needs an LR folder")
        if self.data.type == "paired" and self.data.degrade_on == "device":
            raise ConfigError("data.degrade_on", "paired folders are not degraded; use workers")
        if self.val.type != "none" and self.val.crop % self.scale:
            raise ConfigError("val.crop", f"must be a multiple of the scale {self.scale}")
        if self.train.amp == "fp16" and self.device == "cpu":
            raise ConfigError("train.amp", "fp16 needs CUDA; use bf16 on the CPU")
        t = self.train
        if t.pyramid.weights and len(t.pyramid.weights) != t.pyramid.levels:
            raise ConfigError("train.pyramid.weights", f"needs {t.pyramid.levels} weights (one per level)")
        if t.privileged.enabled and (t.distill.teacher or t.gan.weight > 0 or t.ema):
            raise ConfigError("train.privileged", "trains a PISR teacher; it does not combine with distillation, a GAN or "
                                                  "EMA (the saved decoder must match the saved encoder)")


def load_config(path, overrides=()):
    """A validated Config from a YAML file and ``a.b=c`` overrides."""
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "a training config must be a mapping")
    return from_dict(Config, apply_overrides(data, overrides))


# Keys that may change when a run is resumed: they change logging, checkpointing, validation
# frequency, data loading speed or the machine, not the optimisation. (The training stream is
# counter-based, so data.workers does not change the batches; device moves a run between
# machines; data.device_path changes how the device degrades, to float rounding, as a move
# between machines does.) train.total_steps may change with a constant or multi-step schedule; the cosine
# schedule is stretched over total_steps, so there it would change every remaining step's rate.
RESUME_SAFE = ("name", "output_root", "device", "threads", "log_every", "checkpoint_every", "keep_checkpoints", "tensorboard",
               "val.every", "data.workers", "train.total_steps", "data.device_path.compile", "data.device_path.static",
               "data.device_path.cuda_graphs")


def _differences(cls, saved, new, path=""):
    """(key, saved value, new value) for every field of ``cls`` that differs; fields missing from
    ``saved`` (added by a later lightsr) are not compared."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        if f.name not in saved:
            continue
        old, value = saved[f.name], new.get(f.name)
        tp = hints[f.name]
        sub = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)] or ([tp] if dataclasses.is_dataclass(tp) else [])
        if sub and isinstance(old, dict) and isinstance(value, dict):
            out += _differences(sub[0], old, value, key)
        elif old != value:
            out.append((key, old, value))
    return out


def check_resume(cfg, run_dir, step):
    """Refuse to resume the run in ``run_dir`` (at checkpoint ``step``) with a config that changes it."""
    path = os.path.join(run_dir, "config.yml")
    if not os.path.isfile(path):
        return
    saved = load_yaml(path)
    if not isinstance(saved, dict):
        raise ConfigError(path, "the run's saved config is not a mapping; remove the run folder or use --no-resume")
    new = yaml.safe_load(yaml.safe_dump(to_dict(cfg), sort_keys=False))  # the form config.yml holds
    lines = []
    for key, old, value in _differences(Config, saved, new):
        if key == "train.total_steps":
            if cfg.train.scheduler.type == "cosine":
                lines.append(f"{key}: {old} -> {value} (the cosine schedule spans train.total_steps)")
            elif value < step:
                lines.append(f"{key}: {old} -> {value} (below the checkpoint's step {step})")
        elif key not in RESUME_SAFE:
            lines.append(f"{key}: {old!r} -> {value!r}")
    if lines:
        raise ConfigError(path, "resuming this run with a different config would change it; use the saved values, "
                                "--no-resume to start over, or another --run-dir:\n  " + "\n  ".join(lines))
