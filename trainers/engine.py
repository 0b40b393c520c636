"""The trainer: one place owns the step (losses, AMP, clipping, EMA, GAN and distillation
strategies), checkpoints, exact resume, validation, logging and DDP.

Library code: nothing is printed. Progress goes to the ``events(kind, data)`` callback;
metrics go to ``run/metrics.jsonl`` (and TensorBoard when installed).
"""

import copy
import json
import math
import os
import time

import torch
import torch.distributed as dist
import yaml
from torch import nn

from lightsr.color import rgb_to_y, rgb_to_y_tensor
from lightsr.errors import ConfigError, LightSRError
from lightsr.files import atomic_write_text
from lightsr.models import create_model, model_info
from lightsr.models.weights import load_model, save_model
from lightsr.trainers import checkpoint as ckpt
from lightsr.trainers.config import check_resume
from lightsr.trainers.data import from_levels, train_loader, validation_pairs
from lightsr.trainers.distillation import PrivilegedEncoder, PrivilegedTeacher, feature_loss, load_encoder, save_encoder
from lightsr.trainers.losses import AdversarialLoss, PerceptualLoss, pixel_loss, total_variation
from lightsr.trainers.regularizers import ContrastiveLoss, pyramid_pixel_loss, sparsity_loss
from lightsr.trainers.schedules import lr_multiplier
from lightsr.trainers.schema import to_dict


def distributed_env():
    """(rank, world, local_rank) from torchrun's environment; (0, 1, 0) when run directly."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _module_at(model, path):
    module = model
    for part in path.split("."):
        if not hasattr(module, part):
            raise ConfigError("train.distill", f"{type(model).__name__} has no module {path!r}")
        module = getattr(module, part)
    return module


class _FeatureTap:
    """Forward hooks that keep the outputs of named modules (for feature distillation)."""

    def __init__(self, model, paths):
        self.out, self.handles = {}, []
        for p in paths:
            self.handles.append(_module_at(model, p).register_forward_hook(self._keep(p)))

    def _keep(self, path):
        def hook(module, inputs, output):
            self.out[path] = output[0] if isinstance(output, tuple) else output
        return hook


def _to_floats(window):
    """The window's losses (dicts of 0-dim device tensors, or floats) as floats: one read for all."""
    tensors = [v for w in window for v in w.values() if torch.is_tensor(v)]
    values = iter(torch.stack([v.float() for v in tensors]).tolist() if tensors else [])
    return [{k: next(values) if torch.is_tensor(v) else v for k, v in w.items()} for w in window]


class Trainer:
    def __init__(self, cfg, run_dir=None, resume=True, events=None):
        self.cfg, t = cfg, cfg.train
        self.rank, self.world, self.local_rank = distributed_env()
        self.events = events or (lambda kind, data: None)
        if cfg.device == "auto":
            device = f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"
        elif cfg.device == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError("device", "cuda was asked for but no CUDA device is available")
            device = f"cuda:{self.local_rank}"
        else:
            device = "cpu"
        self.device = torch.device(device)
        if self.device.type == "cpu":
            from lightsr.threads import plan_cpu_threads

            torch.set_num_threads(cfg.threads or plan_cpu_threads(cfg.data.workers)[1])
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.run_dir = run_dir or os.path.join(cfg.output_root, cfg.name)
        self.ckpt_dir = os.path.join(self.run_dir, "checkpoints")

        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.info = model_info(cfg.model.name)
        self.model = create_model(cfg.model.name, scale=cfg.scale, **cfg.model.options)
        if cfg.model.pretrained:
            pre = load_model(cfg.model.pretrained)
            if pre.lightsr_spec["name"] != self.info.name or pre.lightsr_spec["scale"] != cfg.scale:
                raise ConfigError("model.pretrained", f"{cfg.model.pretrained} is {pre.lightsr_spec['name']} "
                                                      f"x{pre.lightsr_spec['scale']}, not {self.info.name} x{cfg.scale}")
            self.model.load_state_dict(pre.state_dict())
        self.model.to(self.device)
        self.ema = copy.deepcopy(self.model).eval() if t.ema else None

        # losses
        self.pixel = pixel_loss(t.pixel.type, t.pixel.eps) if t.pixel.weight > 0 else None
        self.perceptual = None
        if t.perceptual.weight > 0 or t.perceptual.style_weight > 0:
            p = t.perceptual
            self.perceptual = PerceptualLoss(p.layers, p.network, p.criterion, p.style_weight, p.weights_file,
                                             fallback=p.fallback).to(self.device)
            if self.perceptual.notice and self.rank == 0:
                self.events("notice", {"message": self.perceptual.notice})
        self.pyramid = pixel_loss(t.pyramid.type, t.pyramid.eps) if t.pyramid.weight > 0 else None
        self.contrastive = None
        if t.contrastive.weight > 0:
            c = t.contrastive
            self.contrastive = ContrastiveLoss(self.info.in_channels, c.extractor, c.channels, cfg.seed, c.negatives,
                                               c.weights_file).to(self.device)

        # PISR step 1: an encoder of the HR trained with the model (the teacher's decoder)
        self.encoder = None
        if t.privileged.enabled:
            self.encoder = PrivilegedEncoder(cfg.scale, self.info.in_channels).to(self.device)

        # distillation: a frozen teacher (fed the LR, or an encoder's image of the HR), feature losses
        # with their learned parts (adapters, VID heads) trained with the student
        self.teacher, self.teacher_encoder, self.adapters = None, None, nn.ModuleList()
        if t.distill.teacher:
            self._setup_distillation(t.distill)

        # adversarial: a discriminator and its optimizer
        self.disc, self.adversarial = None, None
        if t.gan.weight > 0:
            from lightsr.trainers.discriminators import build_discriminator

            self.disc = build_discriminator(t.gan.discriminator, self.info.in_channels, **t.gan.d_options).to(self.device)
            self.adversarial = AdversarialLoss(t.gan.type, t.gan.relativistic)

        self.g_params = list(self.model.parameters()) + list(self.adapters.parameters())
        if self.encoder is not None:
            self.g_params += list(self.encoder.parameters())
        self.opt_g = self._optimizer(t.optimizer, self.g_params)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_multiplier(t.scheduler, t.optimizer.lr, t.total_steps))
        if self.disc is not None:
            self.opt_d = self._optimizer(t.gan.optimizer, self.disc.parameters())
            self.sched_d = torch.optim.lr_scheduler.LambdaLR(
                self.opt_d, lr_multiplier(t.scheduler, t.gan.optimizer.lr, t.total_steps))
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(t.amp)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.amp == "fp16")

        self.net, self.dnet = self.model, self.disc
        if self.encoder is not None:
            self.net = PrivilegedTeacher(self.encoder, self.model)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DDP(self.net, device_ids=ids)
            if self.disc is not None:
                self.dnet = DDP(self.disc, device_ids=ids)

        self.step, self.nan_streak, self.history = 0, 0, []
        if resume:
            self._resume()
        if self.rank == 0:
            os.makedirs(self.run_dir, exist_ok=True)
            self._trim_metrics()
            atomic_write_text(os.path.join(self.run_dir, "config.yml"), yaml.safe_dump(to_dict(cfg), sort_keys=False))
        self.val_pairs = validation_pairs(cfg) if self.rank == 0 else []
        self._tb = None

    # ------------------------------------------------------------ setup helpers

    @staticmethod
    def _optimizer(o, params):
        cls = torch.optim.AdamW if o.type == "adamw" else torch.optim.Adam
        return cls(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)

    def _setup_distillation(self, d):
        teacher = load_model(d.teacher) if d.teacher.endswith(".safetensors") else None
        if teacher is None:
            raise ConfigError("train.distill.teacher", "expected a .safetensors model file written by lightsr (train or save)")
        if teacher.lightsr_spec["scale"] != self.cfg.scale:
            raise ConfigError("train.distill.teacher", f"the teacher is x{teacher.lightsr_spec['scale']}, the student x{self.cfg.scale}")
        if model_info(teacher.lightsr_spec["name"]).color != self.info.color:
            raise ConfigError("train.distill.teacher", "teacher and student must both be RGB or both Y-channel models")
        self.teacher = teacher.to(self.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        if d.teacher_input == "privileged":
            self.teacher_encoder = load_encoder(d.encoder)
            if self.teacher_encoder.scale != self.cfg.scale or self.teacher_encoder.in_ch != self.info.in_channels:
                raise ConfigError("train.distill.encoder", f"{d.encoder} encodes x{self.teacher_encoder.scale} "
                                                           f"{self.teacher_encoder.in_ch}-channel images")
            self.teacher_encoder = self.teacher_encoder.to(self.device).eval()
            for p in self.teacher_encoder.parameters():
                p.requires_grad_(False)
        self.s_tap = _FeatureTap(self.model, d.student_layers)
        self.t_tap = _FeatureTap(self.teacher, d.teacher_layers)
        if d.student_layers:  # discover the feature widths with a dry run
            x = torch.zeros(1, self.info.in_channels, 24, 24, device=self.device)
            with torch.no_grad():
                self.model(x)
                self.teacher(x)
            for s, tp in zip(d.student_layers, d.teacher_layers):
                self.adapters.append(feature_loss(d.feature_loss, self.s_tap.out[s].shape[1], self.t_tap.out[tp].shape[1])
                                     .to(self.device))

    # ------------------------------------------------------------ checkpoints

    def _extra(self):
        extra = {}
        if self.disc is not None:
            extra["disc"] = self.disc
        if len(self.adapters):
            extra["adapters"] = self.adapters
        if self.encoder is not None:
            extra["encoder"] = self.encoder
        return extra

    def _state(self):
        state = {"step": self.step, "nan_streak": self.nan_streak, "rng": ckpt.rng_state(),
                 "opt_g": self.opt_g.state_dict(), "sched_g": self.sched_g.state_dict(), "scaler": self.scaler.state_dict(),
                 "history": self.history[-200:]}
        if self.disc is not None:
            state.update(opt_d=self.opt_d.state_dict(), sched_d=self.sched_d.state_dict())
        return state

    def save(self):
        if self.rank == 0:
            path = ckpt.save_checkpoint(self.ckpt_dir, self.step, self.model, self.ema, self._extra(), self._state(),
                                        keep=self.cfg.keep_checkpoints)
            self.events("checkpoint", {"step": self.step, "path": path})
        if self.world > 1:
            dist.barrier()

    def _restore(self, folder, weights_only=False):
        state = ckpt.load_checkpoint(folder, self.model, self.ema, self._extra())
        self.opt_g.load_state_dict(state["opt_g"])
        self.scaler.load_state_dict(state["scaler"])
        if self.disc is not None:
            self.opt_d.load_state_dict(state["opt_d"])
        if weights_only:  # a NaN rollback: the weights and optimizer go back, time and data go on
            return
        self.sched_g.load_state_dict(state["sched_g"])
        if self.disc is not None:
            self.sched_d.load_state_dict(state["sched_d"])
        ckpt.set_rng_state(state["rng"])
        self.step, self.nan_streak, self.history = state["step"], state["nan_streak"], list(state["history"])

    def _resume(self):
        """Restore the newest readable checkpoint, after checking that the config still fits the run.
        An unreadable one (truncated by a crash or a full disk) is reported and the previous one used."""
        folders = ckpt.checkpoint_folders(self.ckpt_dir)
        for folder in folders:
            check_resume(self.cfg, self.run_dir, int(os.path.basename(folder)[len("step-"):]))
            try:
                self._restore(folder)
            except ckpt.UnreadableCheckpoint as e:
                self.events("checkpoint_unreadable", {"checkpoint": folder, "error": str(e)})
                continue
            self.events("resumed", {"step": self.step, "checkpoint": folder})
            return
        if folders:
            raise LightSRError(f"{self.ckpt_dir}: no checkpoint can be read; use --no-resume to start over")

    # ------------------------------------------------------------ the step

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def _prepare(self, batch):
        if "lr" not in batch:  # data.degrade_on: device: the batched backend applies the workers' records here
            from lightsr.degrade.batched import apply_records
            from lightsr.degrade.batched.static import apply_plan

            plain = from_levels(batch["hr_plain"].to(self.device, non_blocking=True))  # uint8 from 8-bit photos
            how = self.cfg.data.device_path
            if "plan" in batch:  # planned in the workers (fixed-shape path): only the device half runs here
                lr, hr = apply_plan(plain, batch["plan"], compile=how.compile, cuda_graphs=how.cuda_graphs)
            else:
                lr, hr = apply_records(plain, batch["records"], static=how.static, compile=how.compile,
                                       cuda_graphs=how.cuda_graphs)
        else:
            lr, hr, plain = (batch[k].to(self.device, non_blocking=True) for k in ("lr", "hr", "hr_plain"))
        if self.info.color == "y":
            lr, hr, plain = rgb_to_y_tensor(lr), rgb_to_y_tensor(hr), rgb_to_y_tensor(plain)
        return lr, hr, plain

    def _generator_losses(self, lr, hr, plain, sr):
        t, losses = self.cfg.train, {}
        srf = sr.float()
        if self.pixel is not None:
            losses["pixel"] = t.pixel.weight * self.pixel(srf, plain if t.pixel.target == "plain" else hr)
        if self.pyramid is not None:
            losses["pyramid"] = t.pyramid.weight * pyramid_pixel_loss(srf, hr, self.pyramid, t.pyramid.levels, t.pyramid.weights)
        if t.sparsity.weight > 0:
            losses["sparsity"] = t.sparsity.weight * sparsity_loss(self.model, t.sparsity.kind)
        if self.contrastive is not None:
            losses["contrastive"] = t.contrastive.weight * self.contrastive(srf, hr, lr)
        if self.perceptual is not None:
            percep, style = self.perceptual(srf, hr)
            if t.perceptual.weight > 0:
                losses["perceptual"] = t.perceptual.weight * percep
            if t.perceptual.style_weight > 0:
                losses["style"] = style
        if t.tv_weight > 0:
            losses["tv"] = t.tv_weight * total_variation(srf)
        if self.teacher is not None:
            with torch.no_grad():
                target = self.teacher(lr if self.teacher_encoder is None else self.teacher_encoder(hr)).float()
            if t.distill.output_weight > 0:
                losses["distill_out"] = t.distill.output_weight * nn.functional.l1_loss(srf, target)
            if t.distill.feature_weight > 0:
                feat = sum(loss(self.s_tap.out[s].float(), self.t_tap.out[tp].float())
                           for loss, s, tp in zip(self.adapters, t.distill.student_layers, t.distill.teacher_layers))
                losses["distill_feat"] = t.distill.feature_weight * feat
        if self.disc is not None:
            real = plain if t.gan.real == "plain" else hr
            for p in self.disc.parameters():
                p.requires_grad_(False)
            d_fake = self.disc(sr)
            d_real = self.disc(real) if t.gan.relativistic else None
            losses["gan"] = t.gan.weight * self.adversarial.generator(d_fake.float(), None if d_real is None else d_real.float())
            for p in self.disc.parameters():
                p.requires_grad_(True)
        return losses

    def train_step(self, batch):
        """One optimisation step on a batch; returns the losses as detached 0-dim tensors on the
        device (``{"skipped": 1.0}`` on a non-finite loss). No loss is read back here: ``fit``
        converts them to floats at log steps, one read for the whole window."""
        t = self.cfg.train
        lr, hr, plain = self._prepare(batch)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            if self.encoder is None:
                sr = self.net(lr)
                losses = self._generator_losses(lr, hr, plain, sr)
            else:  # PISR step 1: the decoder reconstructs HR from the encoder's image of it
                sr, encoded = self.net(hr)
                losses = self._generator_losses(lr, hr, plain, sr)
                losses["imitation"] = t.privileged.imitation_weight * nn.functional.l1_loss(encoded.float(), lr)
        total = sum(losses.values())
        finite = torch.isfinite(total)
        if self.world > 1:  # every rank must take the same decision
            flag = finite.float().to(self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = flag > 0
        # The step's one read of a device value. Skipping a non-finite step exactly needs the answer
        # on the host now: the learning-rate schedule does not advance, the NaN streak and its
        # rollback, the non_finite event. A device-side skip (updates masked by the flag) would keep
        # the weights and optimizer state but not the schedule, the rollback's timing or the event.
        # On the CPU the read costs nothing; on CUDA it drains the queue once per step (the losses'
        # float() reads, a second drain, are gone); bench/gpu_check.sh profiles what is left.
        if not bool(finite):
            return self._non_finite(losses)
        self.nan_streak = 0
        self.scaler.scale(total).backward()
        if self.world > 1 and len(self.adapters):  # the learned distillation heads live outside DDP: average them here
            for p in self.adapters.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world
        if t.grad_clip > 0:
            self.scaler.unscale_(self.opt_g)
            nn.utils.clip_grad_norm_(self.g_params, t.grad_clip)
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self.sched_g.step()
        if self.ema is not None:
            self._update_ema(t.ema)
        out = {k: v.detach() for k, v in losses.items()}
        if self.disc is not None:
            out["d"] = self._discriminator_step(plain if t.gan.real == "plain" else hr, sr.detach())
        out["total"] = total.detach()
        return out

    def _discriminator_step(self, real, fake):
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self.adversarial.discriminator(self.dnet(real).float(), self.dnet(fake).float())
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_d)
        self.scaler.update()
        self.sched_d.step()
        return loss.detach()

    @torch.no_grad()
    def _update_ema(self, decay):
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        for e, b in zip(self.ema.buffers(), self.model.buffers()):
            e.copy_(b)

    def _non_finite(self, losses):
        """Skip the step; after ``nan_guard`` in a row, go back to the last checkpoint's weights."""
        self.opt_g.zero_grad(set_to_none=True)
        self.nan_streak += 1
        event = {"step": self.step, "losses": {k: float(v.detach()) for k, v in losses.items()}, "streak": self.nan_streak}
        if self.nan_streak >= self.cfg.train.nan_guard:
            latest = ckpt.latest_checkpoint(self.ckpt_dir)
            if latest is None:
                raise LightSRError(f"{self.nan_streak} non-finite losses in a row at step {self.step} and no checkpoint to go "
                                   f"back to; lower train.optimizer.lr or enable train.grad_clip")
            self._restore(latest, weights_only=True)
            event["rolled_back_to"] = latest
            self.nan_streak = 0
        self.events("non_finite", event)
        self._log({"step": self.step, "event": "non_finite", **{f"loss/{k}": v for k, v in event["losses"].items()}})
        return {"skipped": 1.0}

    # ------------------------------------------------------------ validation and logging

    @torch.no_grad()
    def validate(self):
        """Validation metrics of the EMA model (else the model) on the fixed pairs: any full-reference
        metric of :mod:`lightsr.eval.metrics` (psnr, ssim, lpips, ifc, ...), built once per run."""
        from lightsr.eval.metrics import MetricContext, get_metric, list_metrics

        v, scale = self.cfg.val, self.cfg.scale
        built = getattr(self, "_val_metrics", None)
        if built is None or list(built) != list(dict.fromkeys(v.metrics)):
            specs = {}
            for m in v.metrics:
                try:
                    spec = get_metric(m, pyiqa=False)
                except LightSRError:
                    spec = None
                if spec is None or not spec.full_reference:
                    names = ", ".join(s.name for s in list_metrics() if s.full_reference)
                    raise ConfigError("val.metrics", f"validation computes the full-reference metrics ({names}); got {m!r} "
                                                     f"(use lightsr eval for more)")
                specs[m] = spec
            # a Y-channel model is scored on Y already; an RGB one on Y when val.y
            ctx = MetricContext(scale=scale, crop_border=scale, y=v.y and self.info.color != "y", device=self.device)
            built = self._val_metrics = {m: spec.build(ctx) for m, spec in specs.items()}
        model = (self.ema or self.model).eval()
        totals = {m: 0.0 for m in v.metrics}
        for _, lr, hr in self.val_pairs:
            x = torch.from_numpy(lr.transpose(2, 0, 1).copy())[None].to(self.device)
            if self.info.color == "y":
                x = rgb_to_y_tensor(x)
            with self._autocast():
                sr = model(x).float().clamp(0, 1)[0].cpu().numpy().transpose(1, 2, 0)
            ref = rgb_to_y(hr)[:, :, None] if self.info.color == "y" else hr
            for m, metric in built.items():
                totals[m] += metric(sr, ref)
        self.model.train()
        return {m: totals[m] / max(len(self.val_pairs), 1) for m in v.metrics}

    def _trim_metrics(self):
        """metrics.jsonl from the resumed step on is written again: drop the lines after it (and a
        partial last line), so that no step appears twice."""
        path = os.path.join(self.run_dir, "metrics.jsonl")
        if not os.path.isfile(path):
            return
        keep = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if line.endswith("\n") and isinstance(record, dict) and record.get("step", 0) <= self.step:
                    keep.append(line)
        atomic_write_text(path, "".join(keep))

    def _log(self, record):
        if self.rank != 0:
            return
        # strict JSON: a non-finite number is written as null (bare NaN is not JSON)
        safe = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
        with open(os.path.join(self.run_dir, "metrics.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(safe, allow_nan=False) + "\n")
        if self.cfg.tensorboard:
            if self._tb is None:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self._tb = SummaryWriter(os.path.join(self.run_dir, "tensorboard"))
                except ImportError:
                    self._tb = False
            if self._tb:
                for k, v in record.items():
                    if k != "step" and isinstance(v, (int, float)):
                        self._tb.add_scalar(k, v, record["step"])

    # ------------------------------------------------------------ the loop

    def fit(self, until=None):
        """Train until ``train.total_steps`` (or stop early at step ``until``, as an interruption
        would, the schedule unchanged); returns a summary dict."""
        cfg = self.cfg
        total = cfg.train.total_steps
        stop = min(total, until) if until else total
        _, sampler, loader = train_loader(cfg, self.step, self.rank, self.world, self.device)
        batches = iter(loader)
        self.model.train()
        wait = busy = 0.0
        window = []
        shown = {}  # the losses of the last log step (the 'step' event's: a progress bar shows them)
        last_val = None
        ran = skipped = 0
        while self.step < stop:
            t0 = time.perf_counter()
            batch = next(batches)
            t1 = time.perf_counter()
            losses = self.train_step(batch)
            self.step += 1
            ran, skipped = ran + 1, skipped + ("skipped" in losses)
            t2 = time.perf_counter()
            wait, busy = wait + (t1 - t0), busy + (t2 - t0)
            window.append(losses)
            info = {"step": self.step, "total": total, "losses": shown, "data_wait": wait / busy if busy else 0.0,
                    "lr": self.opt_g.param_groups[0]["lr"]}
            if self.step % cfg.log_every == 0 or self.step == total:
                window = _to_floats(window)
                shown = {k: sum(w.get(k, 0.0) for w in window) / len(window) for k in window[-1]}
                info["losses"] = shown
                record = {"step": self.step, **{f"loss/{k}": v for k, v in shown.items()}, "lr": info["lr"],
                          "data_wait": info["data_wait"], "steps_per_s": self.step / busy if busy else 0.0}
                self.history.append(record)
                self._log(record)
                window = []
            if cfg.val.type != "none" and self.rank == 0 and (self.step % cfg.val.every == 0 or self.step == total):
                last_val = self.validate()
                self._log({"step": self.step, **{f"val/{k}": v for k, v in last_val.items()}})
                info["val"] = last_val
            if self.step % cfg.checkpoint_every == 0 or self.step in (total, stop):
                self.save()
            self.events("step", info)
        if ran and skipped == ran:
            raise LightSRError(f"{self.run_dir}: every step ({ran}) had a non-finite loss and was skipped, so the model did not "
                               f"train; lower train.optimizer.lr, enable train.grad_clip or check the data")
        summary = {"steps": self.step, "run_dir": self.run_dir, "val": last_val, "data_wait": wait / busy if busy else 0.0}
        if self.rank == 0 and self.step == total:
            final = os.path.join(self.run_dir, "model.safetensors")
            save_model(self.ema or self.model, final)
            summary["model"] = final
            if self.encoder is not None:
                summary["encoder"] = os.path.join(self.run_dir, "encoder.safetensors")
                save_encoder(self.encoder, summary["encoder"])
        if self.world > 1:
            dist.barrier()
        return summary

    def close(self):
        if self._tb:
            self._tb.close()
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

