"""Evaluating folders of SR outputs, matched by file name to references and LR inputs."""

import math
import os
from dataclasses import dataclass, field

import numpy as np

from lightsr.errors import LightSRError
from lightsr.images import list_images, read_image

FULL_REFERENCE = ("psnr", "ssim", "lpips", "ifc")
NEEDS_LR = ("lrc",)
BUILTIN_NR = ("niqe", "piqe")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "ifc": True, "lrc": True}


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
    """Computes the requested metrics image by image; metric objects are built once."""

    def __init__(self, metrics, scale=4, y=False, crop_border=None, device="cpu", weights_dir=None, lrc_kernel=None,
                 max_pixels=None):
        self.metrics = [m.strip().lower() for m in metrics if m.strip()]
        self.scale, self.y, self.device, self.weights_dir = scale, y, device, weights_dir
        self.max_pixels = max_pixels  # images above it are refused from their header (None: images.MAX_PIXELS)
        self.crop = scale if crop_border is None else crop_border
        self.lrc_kernel = lrc_kernel
        self._nr, self._lpips = {}, None
        for m in self.metrics:  # build the learned metrics now: missing weights fail before any work
            if m == "lpips":
                from lightsr.eval.lpips import LPIPS

                self._lpips = LPIPS(weights_dir=weights_dir).to(device)
            elif m not in FULL_REFERENCE + NEEDS_LR:
                from lightsr.eval.noref import create_nr_metric

                self._nr[m] = create_nr_metric(m, device, weights_dir)

    @property
    def needs_ref(self):
        return any(m in FULL_REFERENCE for m in self.metrics)

    @property
    def needs_lr(self):
        return any(m in NEEDS_LR for m in self.metrics)

    def higher_is_better(self, metric):
        if metric in HIGHER_IS_BETTER:
            return HIGHER_IS_BETTER[metric]
        from lightsr.eval.noref import lower_is_better

        return not lower_is_better(metric)

    def image(self, sr, ref=None, lr=None):
        """{metric: value} for one SR image (and its reference / LR input when given)."""
        out = {}
        for m in self.metrics:
            if m in FULL_REFERENCE and ref is None or m in NEEDS_LR and lr is None:
                continue
            try:
                out[m] = self._metric(m, sr, ref, lr)
            except LightSRError as e:
                raise LightSRError(f"{m}: {e}") from None
            except (RuntimeError, ValueError, IndexError, AssertionError, ZeroDivisionError, MemoryError) as e:
                h, w = sr.shape[:2]
                size = f"is {w}x{h}, probably too small for it; " if min(h, w) < 128 else ""
                detail = str(e).splitlines()[0] if str(e) else ""
                raise LightSRError(f"{m} failed ({size}{type(e).__name__}: {detail})") from None
        return out

    def _metric(self, m, sr, ref, lr):
        import torch

        if m in FULL_REFERENCE:
            h, w, c = *sr.shape[:2], self.crop
            if h <= 2 * c or w <= 2 * c:
                raise LightSRError(f"is {w}x{h}: nothing is left after cropping {c} pixels per side (--crop-border)")
        if m == "psnr":
            from lightsr.eval.fullref import psnr

            return psnr(sr, ref, self.crop, self.y)
        elif m == "ssim":
            from lightsr.eval.fullref import ssim

            return ssim(sr, ref, self.crop, self.y)
        elif m == "lpips":
            a, b = (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device) for x in (sr, ref))
            with torch.no_grad():
                return float(self._lpips(a, b))
        elif m == "ifc":
            from lightsr.color import rgb_to_y
            from lightsr.eval.ifc import ifc

            c = self.crop
            crop = (slice(c, -c), slice(c, -c)) if c else (slice(None), slice(None))
            return ifc(rgb_to_y(ref)[crop] * 255.0, rgb_to_y(sr)[crop] * 255.0)
        elif m == "lrc":
            from lightsr.eval.lr_consistency import lr_consistency

            return lr_consistency(sr, lr, self.scale, self.lrc_kernel, y=self.y)
        else:
            t = torch.from_numpy(np.ascontiguousarray(sr.transpose(2, 0, 1)))[None].to(self.device)
            with torch.no_grad():
                return float(self._nr[m](t))

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
