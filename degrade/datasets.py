"""Torch datasets: on-the-fly degraded patches from HR folders, and paired LR/HR folders.

Every random choice of item ``i`` (crop position, flips, degradation) comes from
(seed, epoch, i) alone, so the batches are the same for any ``num_workers`` and any
process layout. Call ``set_epoch`` between epochs to draw new samples.
"""

import os

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from lightsr.degrade.datasets_common import CROP_STREAM
from lightsr.degrade.pipeline import sample_rng
from lightsr.errors import ImageError, LightSRError
from lightsr.images import list_images, read_image


def to_tensor(img):
    """HxWxC float32 -> CxHxW torch tensor (no copy of the values beyond the transpose)."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def collate(items):
    """Stack ``lr``/``hr`` tensors; keep records, names and indices as lists."""
    out = {}
    for key in items[0]:
        values = [it[key] for it in items]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out


def _dihedral(seed):
    """Uniform over the 8 flips/rotations (basicsr's hflip + rot), seeded per item."""
    return A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.Transpose(p=0.5)], seed=seed)


def _augment_seed(seed, epoch, index):
    return int(sample_rng(seed, index, epoch, CROP_STREAM).integers(0, 2**31 - 1))


def _paths(source):
    if isinstance(source, (str, os.PathLike)):
        paths = list_images(source)
        if not paths:
            raise ImageError(source, "no images (png, jpg, bmp, tif, webp) in this folder")
        return paths
    return [os.fspath(p) for p in source]


class DegradedPatches(Dataset):
    """(lr, hr, record) patches made on the fly from HR images through a degradation pipeline
    (or, with ``degrade=False``, the HR patches with their drawn records, for
    ``Pipeline.apply_batch`` on a GPU: drawing stays in the loader's workers).

    Item ``i`` takes image ``i // samples_per_image``, pads it (reflect-101) if smaller than
    ``patch_size``, crops a random ``patch_size`` square, applies a random flip/rotation
    (when ``augment``) and degrades it. ``hr`` is the pipeline's target (e.g. the
    USM-sharpened patch for Real-ESRGAN), ``hr_plain`` the patch before the gt ops.
    """

    def __init__(self, source, pipeline, patch_size=256, seed=0, samples_per_image=1, augment=True,
                 cache_images=False, alpha="drop", degrade=True):
        self.paths = _paths(source)
        self.degrade = degrade  # False: items carry the HR patch, its key and record; Pipeline.apply_batch on a device
        self.pipeline, self.patch_size, self.seed = pipeline, int(patch_size), int(seed)
        if self.patch_size % pipeline.scale:
            raise LightSRError(f"patch_size {patch_size} must be a multiple of the scale {pipeline.scale}")
        self.samples_per_image, self.augment, self.alpha = int(samples_per_image), augment, alpha
        self.epoch = 0
        self._cache = {} if cache_images else None
        p = self.patch_size
        self._crop = A.Compose([A.RandomCrop(p, p)])
        self._pad_crop = A.Compose([A.PadIfNeeded(p, p, border_mode=cv2.BORDER_REFLECT_101), A.RandomCrop(p, p)])

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.paths) * self.samples_per_image

    def _image(self, path):
        if self._cache is not None and path in self._cache:
            return self._cache[path]
        img = read_image(path, self.alpha)[0]
        if self._cache is not None:
            self._cache[path] = img
        return img

    def patch(self, index, epoch=None):
        """The HR patch of item ``index`` (in ``epoch``, default the current one) before degradation."""
        epoch = self.epoch if epoch is None else epoch
        img = self._image(self.paths[index // self.samples_per_image])
        seed = _augment_seed(self.seed, epoch, index)
        small = img.shape[0] < self.patch_size or img.shape[1] < self.patch_size
        crop = self._pad_crop if small else self._crop  # padding copies the whole image: only when needed
        crop.set_random_seed(seed)
        patch = crop(image=img)["image"]
        if self.augment:
            patch = _dihedral(seed)(image=patch)["image"]
        return np.ascontiguousarray(patch, dtype=np.float32)

    def __getitem__(self, index):
        """Item ``index`` of the current epoch, or of an explicit ``(epoch, index)`` (what samplers
        that span epochs pass, so workers need no shared epoch state)."""
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        if not 0 <= index < len(self):
            raise IndexError(index)
        plain = self.patch(index, epoch)
        if not self.degrade:  # the record is drawn here, in the loader's worker; a device applies it
            record = self.pipeline.sample(plain.shape, self.seed, index, epoch)
            return {"hr_plain": to_tensor(plain), "index": index, "epoch": epoch, "record": record}
        s = self.pipeline.run(plain, self.seed, index, epoch)
        return {"lr": to_tensor(s.lr), "hr": to_tensor(s.hr), "hr_plain": to_tensor(plain), "index": index, "record": s.record}


class PairedFolders(Dataset):
    """Aligned (lr, hr) pairs from two folders, matched by file name.

    With ``patch_size`` (an HR size), item ``i`` is a random aligned crop with a random
    flip/rotation (when ``augment``); without it, whole images.
    """

    def __init__(self, lr_dir, hr_dir, scale, patch_size=None, seed=0, augment=True):
        self.scale, self.patch_size, self.seed, self.augment = int(scale), patch_size, int(seed), augment
        if patch_size is not None and patch_size % self.scale:
            raise LightSRError(f"patch_size {patch_size} must be a multiple of the scale {scale}")
        lr = {os.path.splitext(os.path.basename(p))[0]: p for p in _paths(lr_dir)}
        hr = {os.path.splitext(os.path.basename(p))[0]: p for p in _paths(hr_dir)}
        missing_lr, missing_hr = sorted(set(hr) - set(lr)), sorted(set(lr) - set(hr))
        if missing_lr or missing_hr:
            parts = []
            if missing_lr:
                parts.append(f"no LR for {', '.join(missing_lr[:5])}{' ...' if len(missing_lr) > 5 else ''} in {lr_dir}")
            if missing_hr:
                parts.append(f"no HR for {', '.join(missing_hr[:5])}{' ...' if len(missing_hr) > 5 else ''} in {hr_dir}")
            raise LightSRError("; ".join(parts))
        self.names = sorted(hr)
        self.pairs = [(lr[n], hr[n]) for n in self.names]
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        lr_path, hr_path = self.pairs[index]
        lr, hr = read_image(lr_path)[0], read_image(hr_path)[0]
        s = self.scale
        if hr.shape[0] // s != lr.shape[0] or hr.shape[1] // s != lr.shape[1]:
            raise ImageError(hr_path, f"is {hr.shape[1]}x{hr.shape[0]}, its LR {os.path.basename(lr_path)} is "
                                      f"{lr.shape[1]}x{lr.shape[0]}: not a x{s} pair")
        hr = hr[: lr.shape[0] * s, : lr.shape[1] * s]
        if self.patch_size is not None:
            p = self.patch_size // s
            if lr.shape[0] < p or lr.shape[1] < p:
                raise ImageError(lr_path, f"is smaller than the LR patch {p}x{p}")
            rng = sample_rng(self.seed, index, epoch, CROP_STREAM)
            top, left = int(rng.integers(0, lr.shape[0] - p + 1)), int(rng.integers(0, lr.shape[1] - p + 1))
            lr = lr[top:top + p, left:left + p]
            hr = hr[top * s:(top + p) * s, left * s:(left + p) * s]
            if self.augment:
                t = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.Transpose(p=0.5)],
                              additional_targets={"lr": "image"}, is_check_shapes=False,
                              seed=_augment_seed(self.seed, epoch, index))
                out = t(image=hr, lr=lr)
                hr, lr = out["image"], out["lr"]
        return {"lr": to_tensor(np.ascontiguousarray(lr)), "hr": to_tensor(np.ascontiguousarray(hr)),
                "index": index, "name": self.names[index]}
