"""The standard SR datasets, as they ship: where their HR and LR images are, how they pair.

No downloading: the user points at a folder (``--root``) holding the datasets as unpacked
from their archives; a missing or mis-laid dataset raises one message saying what was expected
where. Test sets are mod-cropped to the scale; when a set ships without LR images at the
scale, the LR is made as the literature makes it: MATLAB bicubic, rounded to 8 bits.
"""

import glob
import os
import re
from dataclasses import dataclass, field

import numpy as np

from lightsr.errors import LightSRError
from lightsr.images import IMAGE_EXTENSIONS, read_image


@dataclass(frozen=True)
class StandardSet:
    name: str
    folders: tuple  # candidate folder names under the root (the first that exists is used)
    kind: str  # "train", "test" or "real"
    hr: tuple  # glob patterns of HR images, relative to the dataset folder ({s} = scale)
    lr: tuple = ()  # glob patterns of LR images at the scale
    note: str = ""
    aliases: tuple = field(default_factory=tuple)


_BENCH_HR = ("HR/*", "GTmod12/*", "GTmod{s}/*", "original/*", "image_SRF_{s}/*_HR.*", "*.png", "*.bmp")
_BENCH_LR = ("LR_bicubic/X{s}/*", "LRbicx{s}/*", "image_SRF_{s}/*_LR.*")

SETS = {s.name: s for s in (
    StandardSet("div2k", ("DIV2K",), "train", ("DIV2K_train_HR/*", "DIV2K_valid_HR/*"),
                ("DIV2K_train_LR_bicubic/X{s}/*", "DIV2K_valid_LR_bicubic/X{s}/*"), "800 train + 100 validation 2K images"),
    StandardSet("flickr2k", ("Flickr2K",), "train", ("Flickr2K_HR/*",), ("Flickr2K_LR_bicubic/X{s}/*",), "2650 2K images"),
    StandardSet("flickr1024", ("Flickr1024",), "train", ("Train/*", "Validation/*", "Test/*"), (),
                "1024 stereo pairs (*_L.png, *_R.png); each view is an HR image"),
    StandardSet("ost", ("OutdoorSceneTraining", "OutdoorSceneTrain_v2", "OST"), "train", ("*/*",), (),
                "outdoor scenes in category folders (animal, building, grass, mountain, plant, sky, water)"),
    StandardSet("set5", ("Set5",), "test", _BENCH_HR, _BENCH_LR, "5 images"),
    StandardSet("set14", ("Set14",), "test", _BENCH_HR, _BENCH_LR, "14 images"),
    StandardSet("b100", ("B100", "BSD100", "BSDS100"), "test", _BENCH_HR, _BENCH_LR, "100 BSD300 test images", ("bsd100",)),
    StandardSet("urban100", ("Urban100",), "test", _BENCH_HR, _BENCH_LR, "100 urban scenes"),
    StandardSet("manga109", ("Manga109",), "test", _BENCH_HR, _BENCH_LR, "109 manga volumes' covers"),
    StandardSet("realsr", ("RealSR", "RealSR(V3)", "RealSR_V3"), "real", ("*/Test/{s}/*_HR.*",), ("*/Test/{s}/*_LR{s}.*",),
                "Canon and Nikon pairs (Cai et al. 2019); V3 ships the LR at the HR size: it is resized down by 1/s"),
    StandardSet("drealsr", ("DRealSR",), "real", ("x{s}/Test_x{s}/test_HR/*", "Test_x{s}/test_HR/*"),
                ("x{s}/Test_x{s}/test_LR/*", "Test_x{s}/test_LR/*"), "DSLR zoom pairs (Wei et al. 2020)"),
)}
BENCHMARKS = ("set5", "set14", "b100", "urban100", "manga109")
PAPER_NAMES = {"set5": "Set5", "set14": "Set14", "b100": "B100", "urban100": "Urban100", "manga109": "Manga109"}

_SUFFIX = re.compile(r"(_HR|_LR\d*|_x\d+|x\d+|_SRF_\d+)$", re.IGNORECASE)


def standard_set(name):
    key = name.lower().replace("-", "").replace("_", "")
    for s in SETS.values():
        if key == s.name or key in s.aliases:
            return s
    raise LightSRError(f"unknown dataset {name!r} (known: {', '.join(SETS)})")


def _stem(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    while True:
        stripped = _SUFFIX.sub("", stem)
        if stripped == stem:
            return stem
        stem = stripped


def _images(folder, patterns, scale):
    for pattern in patterns:
        found = sorted(p for p in glob.glob(os.path.join(folder, pattern.format(s=scale))) if p.lower().endswith(IMAGE_EXTENSIONS))
        if found:
            return found, pattern.format(s=scale)
    return [], None


def locate(name, root, scale):
    """(dataset folder, [(stem, hr_path, lr_path or None)]) of a standard set under ``root``."""
    spec = standard_set(name)
    folder = next((os.path.join(root, f) for f in spec.folders if os.path.isdir(os.path.join(root, f))), None)
    if folder is None:
        raise LightSRError(f"{spec.name}: expected a folder {' or '.join(spec.folders)} in {root} ({spec.note})")
    hr, hr_pattern = _images(folder, spec.hr, scale)
    if not hr:
        raise LightSRError(f"{spec.name}: no HR images in {folder}: expected {' or '.join(p.format(s=scale) for p in spec.hr)}")
    lr, _ = _images(folder, spec.lr, scale) if spec.lr else ([], None)
    lr_by_stem = {_stem(p): p for p in lr}
    pairs = [(_stem(p), p, lr_by_stem.get(_stem(p))) for p in hr if not os.path.basename(p).startswith(".")]
    if hr_pattern in ("*.png", "*.bmp"):  # a flat folder: keep out LR files that sit beside the HR
        pairs = [t for t in pairs if not re.search(r"(_LR\d*|x\d+)$", os.path.splitext(os.path.basename(t[1]))[0])]
    return folder, pairs


def modcrop(img, scale):
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def load_pairs(name, root, scale):
    """[(stem, lr, hr)] float RGB arrays: HR mod-cropped; LR read (checked) or made by MATLAB bicubic."""
    from lightsr.degrade.resize import imresize_matlab

    spec = standard_set(name)
    _, pairs = locate(name, root, scale)
    out = []
    for stem, hr_path, lr_path in pairs:
        hr = modcrop(read_image(hr_path)[0], scale)
        target = (hr.shape[0] // scale, hr.shape[1] // scale)
        if lr_path is None:
            lr = np.rint(np.clip(imresize_matlab(hr, 1.0 / scale), 0, 1) * 255) / 255
        else:
            lr = read_image(lr_path)[0]
            if spec.name == "realsr" and lr.shape[:2] == hr.shape[:2]:
                lr = np.clip(imresize_matlab(modcrop(lr, scale), 1.0 / scale), 0, 1)
            lr = lr[: target[0], : target[1]]
            if lr.shape[:2] != target:
                raise LightSRError(f"{lr_path}: is {lr.shape[1]}x{lr.shape[0]}, the x{scale} LR of {os.path.basename(hr_path)} "
                                   f"({hr.shape[1]}x{hr.shape[0]} after mod-crop) is {target[1]}x{target[0]}")
        out.append((stem, np.ascontiguousarray(lr, dtype=np.float32), np.ascontiguousarray(hr, dtype=np.float32)))
    return out
