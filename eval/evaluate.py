"""Evaluating folders of SR outputs, matched by file name to references and LR inputs."""

import math
import os
from dataclasses import dataclass, field

import numpy as np

from lightsr.errors import LightSRError
from lightsr.eval.metrics import MetricContext, get_metric, higher_is_better
from lightsr.images import list_images, read_image


@dataclass
class MethodResult:
    """Per-image metric values of one folder of SR outputs."""

    name: str
    folder: str
    rows: list = field(default_factory=list)  # {"image": name, metric: value, ...}
    errors: list = field(default_factory=list)  # one line per problem
    info: dict = field(default_factory=dict)  # e.g. the model that made the outputs (lightsr-model.json)

    def mean(self, metric):
        vals = [r[metric] for r in self.rows if metric in r and r[metric] is not None and math.isfinite(r[metric])]
        return float(np.mean(vals)) if vals else None


def _stems(folder):
    return {os.path.splitext(os.path.basename(p))[0]: p for p in list_images(folder)}


def _shared_names(folder):
    """{stem: [file names]} of the images of ``folder`` whose names differ only by the extension."""
    by_stem = {}
    for p in list_images(folder):
        by_stem.setdefault(os.path.splitext(os.path.basename(p))[0], []).append(os.path.basename(p))
    return {k: v for k, v in by_stem.items() if len(v) > 1}


class Evaluator:
    """Computes the requested metrics (names of :mod:`lightsr.eval.metrics`) image by image; learned metrics
    are built once, here, so that missing weights fail before any work."""

    def __init__(self, metrics, scale=4, y=False, crop_border=None, device="cpu", weights_dir=None, lrc_kernel=None,
                 max_pixels=None):
        self.metrics = [m.strip().lower() for m in metrics if m.strip()]
        self.scale, self.y, self.device, self.weights_dir = scale, y, device, weights_dir
        self.max_pixels = max_pixels  # images above it are refused from their header (None: images.MAX_PIXELS)
        self.crop = scale if crop_border is None else crop_border
        self.lrc_kernel = lrc_kernel
        ctx = MetricContext(scale=scale, crop_border=self.crop, y=y, device=device, weights_dir=weights_dir,
                            lrc_kernel=lrc_kernel)
        self.specs = {m: get_metric(m) for m in self.metrics}  # an unknown name fails before anything is built
        self.built = {m: spec.build(ctx) for m, spec in self.specs.items()}  # {name: metrics.Metric}

    @property
    def needs_ref(self):
        return any(s.needs_ref for s in self.specs.values())

    @property
    def needs_lr(self):
        return any(s.needs_lr for s in self.specs.values())

    def higher_is_better(self, metric):
        """The direction of ``metric``: the built metric's own (pyiqa's ``lower_better``), else its spec's."""
        if metric in self.built:
            return self.built[metric].higher_is_better
        return higher_is_better(metric)

    def image(self, sr, ref=None, lr=None):
        """{metric: value} for one SR image (and its reference / LR input when given)."""
        out = {}
        for m, spec in self.specs.items():
            if spec.needs_ref and ref is None or spec.needs_lr and lr is None:
                continue
            try:
                if spec.needs_ref:
                    h, w, c = *sr.shape[:2], self.crop
                    if h <= 2 * c or w <= 2 * c:
                        raise LightSRError(f"is {w}x{h}: nothing is left after cropping {c} pixels per side (--crop-border)")
                out[m] = self.built[m](sr, ref, lr)
            except LightSRError as e:
                raise LightSRError(f"{m}: {e}") from None
            except (RuntimeError, ValueError, IndexError, AssertionError, ZeroDivisionError, MemoryError) as e:
                h, w = sr.shape[:2]
                size = f"is {w}x{h}, probably too small for it; " if min(h, w) < 128 else ""
                detail = str(e).splitlines()[0] if str(e) else ""
                raise LightSRError(f"{m} failed ({size}{type(e).__name__}: {detail})") from None
        return out

    def folder(self, sr_dir, ref_dir=None, lr_dir=None, name=None, progress=None):
        """Evaluate every image of ``sr_dir``; problems are collected per file, never fatal."""
        import json

        result = MethodResult(name or os.path.basename(os.path.normpath(sr_dir)), sr_dir)
        info_path = os.path.join(sr_dir, "lightsr-model.json")
        if os.path.isfile(info_path):
            try:
                with open(info_path, encoding="utf-8") as f:
                    result.info = json.load(f)
            except (OSError, ValueError) as e:
                result.errors.append(f"{info_path}: unreadable ({e}); the report shows no model for this folder")
        sr_files = _stems(sr_dir)
        if not sr_files:
            raise LightSRError(f"{sr_dir}: no images")
        for stem, files in _shared_names(sr_dir).items():
            result.errors.append(f"{sr_dir}: {', '.join(files)} share the name {stem}; only "
                                 f"{os.path.basename(sr_files[stem])} was evaluated (rename the others)")
        refs = _stems(ref_dir) if ref_dir else {}
        lrs = _stems(lr_dir) if lr_dir else {}
        for stem, path in sorted(sr_files.items()):
            try:
                result.rows.append({"image": stem, **self._one(stem, path, refs, lrs, ref_dir, lr_dir)})
            except LightSRError as e:
                message = str(e)
                result.errors.append(message if message.startswith(path) else f"{path}: {message}")
            if progress:
                progress(1)
        missing = sorted(set(refs) - set(sr_files))
        if missing:
            result.errors.append(f"{sr_dir}: no SR output for {len(missing)} reference(s): {', '.join(missing[:5])}"
                                 f"{' ...' if len(missing) > 5 else ''}")
        return result

    def _one(self, stem, path, refs, lrs, ref_dir, lr_dir):
        """The metrics of one SR file; every problem (its reference, its LR, a metric) is a LightSRError."""
        sr = read_image(path, max_pixels=self.max_pixels)[0]
        ref = lr = None
        if ref_dir:
            if stem not in refs:
                raise LightSRError(f"{path}: no reference {stem}.* in {ref_dir}")
            ref = read_image(refs[stem], max_pixels=self.max_pixels)[0]
            if ref.shape != sr.shape:
                other = os.path.basename(refs[stem])
                raise LightSRError(f"{path}: is {sr.shape[1]}x{sr.shape[0]}, its reference {other} "
                                   f"is {ref.shape[1]}x{ref.shape[0]}")
        if lr_dir:
            if stem not in lrs:
                raise LightSRError(f"{path}: no LR input {stem}.* in {lr_dir}")
            lr = read_image(lrs[stem], max_pixels=self.max_pixels)[0]
        return self.image(sr, ref, lr)
