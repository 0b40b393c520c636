"""Training and validation data for the trainer.

The training stream is a counter-based sequence: position p of the (endless) stream is item
``perm_e[p % n]`` of epoch ``e = p // n``, with ``perm_e`` drawn from (seed, e); step s takes
positions [s B, (s + 1) B) and DDP rank r takes every world-th of those. So a run resumed at
step s, or split over any number of processes, sees exactly the same samples.
"""

import functools
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from lightsr.errors import ConfigError
from lightsr.images import list_images, read_image
from lightsr.sample_data import photo_name, photo_paths

PERMUTATION_STREAM = 2


def hr_paths(source, exclude=(), include=()):
    """HR image files of a folder, or of the embedded photos; names in ``exclude`` are left out."""
    embedded = source == "embedded"
    paths = photo_paths() if embedded else list_images(source)
    name = photo_name if embedded else os.path.basename
    names = {name(p) for p in paths}
    for n in list(exclude) + list(include):
        if n not in names:
            raise ConfigError("data", f"{n!r} is not among the images of {source}")
    paths = [p for p in paths if name(p) not in set(exclude)]
    if include:
        paths = [p for p in paths if name(p) in set(include)]
    if not paths:
        raise ConfigError("data.hr", f"no images in {source}")
    return paths


class StreamBatchSampler(Sampler):
    """Endless batches of (epoch, index) keys from ``start_step`` on, for this rank."""

    def __init__(self, n, global_batch, seed, start_step=0, rank=0, world=1):
        if global_batch % world:
            raise ConfigError("data.batch", f"the global batch {global_batch} must be divisible by the {world} processes")
        self.n, self.batch, self.seed = n, global_batch, seed
        self.step, self.rank, self.world = start_step, rank, world
        self._perms = {}

    def _perm(self, epoch):
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, epoch, PERMUTATION_STREAM]).permutation(self.n)
        return self._perms[epoch]

    def keys(self, step):
        """The whole global batch of ``step`` (every rank's share)."""
        out = []
        for p in range(step * self.batch, (step + 1) * self.batch):
            epoch = p // self.n
            out.append((epoch, int(self._perm(epoch)[p % self.n])))
        return out

    def __iter__(self):
        while True:
            yield self.keys(self.step)[self.rank::self.world]
            self.step += 1


# read_image's values of an 8-bit file: level u is float32(u) / float32(255), as numpy divides
LEVELS = np.arange(256, dtype=np.float32) / np.float32(255)
_LEVELS_ON = {}  # device -> LEVELS there (one entry per device this process trains on)


def as_levels(patches):
    """HR patches (float32 tensors) as one uint8 batch of their 8-bit levels when every value is one
    of LEVELS (patches of 8-bit photos), else None (16-bit or float sources): the same values in a
    quarter of the bytes to stack, pin and send. Checked value by value, so never lossy."""
    import cv2

    out = []
    for p in patches:
        a = p.numpy().reshape(-1, p.shape[-1])
        q = cv2.convertScaleAbs(a, alpha=255.0)  # round(|255 x|), saturated to 0..255
        if not np.array_equal(cv2.LUT(q, LEVELS), a):
            return None
        out.append(torch.from_numpy(q).view(p.shape))
    return torch.stack(out)


def from_levels(x):
    """``x`` as float32 in [0, 1]: a uint8 batch of ``as_levels`` through the table LEVELS (on x's
    device), so that the values are bit for bit read_image's (on CUDA, ``x / 255`` multiplies by the
    reciprocal and differs in the last bit for 126 of the 256 levels); float batches as they are."""
    if x.dtype != torch.uint8:
        return x
    table = _LEVELS_ON.get(x.device)
    if table is None:  # once per device: a blocking copy would wait for the device's queue each step
        table = _LEVELS_ON[x.device] = torch.from_numpy(LEVELS).to(x.device)
    return table[x.int()]


def collate_pairs(items, plan=False):
    """A batch; degraded on the device: HR patches (uint8 where they are 8-bit, see ``as_levels``),
    their (epoch, index) keys and records, and with ``plan`` the host half of applying them
    (degrade.batched.static), done here in the worker."""
    if "lr" not in items[0]:
        patches = [it["hr_plain"] for it in items]
        levels = as_levels(patches)
        out = {"hr_plain": torch.stack(patches) if levels is None else levels, "index": [it["index"] for it in items],
               "epoch": [it["epoch"] for it in items], "records": [it["record"] for it in items]}
        if plan:
            from lightsr.degrade.batched import static

            try:
                out["plan"] = static.plan_records(out["records"], tuple(out["hr_plain"].shape))
                out["plan"].buffers()  # packed here too: one tensor per dtype crosses to the trainer
            except static.NotStatic:
                pass  # the device applies the records through the dynamic rounds
        return out
    out = {"lr": torch.stack([it["lr"] for it in items]), "hr": torch.stack([it["hr"] for it in items])}
    out["hr_plain"] = torch.stack([it.get("hr_plain", it["hr"]) for it in items])
    return out


def train_dataset(cfg):
    """The training Dataset of a Config (degraded on the fly, or paired folders)."""
    d = cfg.data
    if d.type == "paired":
        from lightsr.degrade.datasets import PairedFolders

        return PairedFolders(d.lr, d.hr, cfg.scale, patch_size=d.patch, seed=cfg.seed, augment=d.augment)
    from lightsr.degrade.datasets import DegradedPatches
    from lightsr.degrade.presets import load_pipeline

    pipeline = load_pipeline(d.pipeline, scale=cfg.scale)
    return DegradedPatches(hr_paths(d.hr, d.exclude), pipeline, patch_size=d.patch, seed=cfg.seed,
                           samples_per_image=d.samples_per_image, augment=d.augment, cache_images=True,
                           degrade=d.degrade_on == "workers")


def train_loader(cfg, start_step, rank=0, world=1, device="cpu"):
    """(dataset, sampler, loader); batches degraded on ``device`` come planned for its fixed-shape
    path where that path is taken there (``data.device_path.static``, degrade.batched.static.wanted)."""
    from lightsr.degrade.batched import static

    device = torch.device(device)
    ds = train_dataset(cfg)
    sampler = StreamBatchSampler(len(ds), cfg.data.batch, cfg.seed, start_step, rank, world)
    collate = functools.partial(collate_pairs, plan=static.wanted(device, cfg.data.device_path.static))
    # pinned batches: the trainer's copies to a GPU run asynchronously (non_blocking)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=cfg.data.workers, collate_fn=collate,
                        persistent_workers=cfg.data.workers > 0, prefetch_factor=4 if cfg.data.workers else None,
                        pin_memory=device.type == "cuda")
    return ds, sampler, loader


def _centre(img, size, scale):
    if size <= 0:
        h, w = img.shape[:2]
        return img[: h - h % scale, : w - w % scale]
    h, w = img.shape[:2]
    s = min(size, h - h % scale, w - w % scale)
    top, left = (h - s) // 2, (w - s) // 2
    return img[top:top + s, left:left + s]


def validation_pairs(cfg):
    """[(name, lr, hr)] float RGB arrays: fixed pairs made once from ``val.seed`` (degraded) or read (paired)."""
    v = cfg.val
    if v.type == "none":
        return []
    if v.type == "paired":
        from lightsr.degrade.datasets import PairedFolders

        ds = PairedFolders(v.lr, v.hr, cfg.scale)
        out = []
        for i in range(min(v.count, len(ds))):
            item = ds[i]
            out.append((item["name"], item["lr"].numpy().transpose(1, 2, 0), item["hr"].numpy().transpose(1, 2, 0)))
        return out
    from lightsr.degrade.presets import load_pipeline

    pipeline = load_pipeline(v.pipeline, scale=cfg.scale)
    out = []
    for i, path in enumerate(hr_paths(v.hr, include=v.include)[: v.count]):
        hr = np.ascontiguousarray(_centre(read_image(path)[0], v.crop, cfg.scale))
        lr, _ = pipeline(hr, seed=v.seed, index=i)
        out.append((os.path.splitext(os.path.basename(path))[0], lr, hr))
    return out
