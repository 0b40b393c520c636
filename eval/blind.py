"""A blind-SR comparison: bicubic against models on a held-out synthetic blind set (with ground
truth) and on real low-resolution images (without), as ``lightsr demo`` and the shipped models'
cards report it.

- blind set: held-out photos, each degraded several times by the realesrgan preset with a fixed
  seed; PSNR / SSIM on the luma (crop border = scale) and LPIPS on RGB against the plain HR;
- real LR: scikit-image's 25x25 faces and motion-blurred clock, and the most detailed 128-px window of each of Debian's JPEG
  nature photos when installed; NIQE, PIQE, LR-consistency and the noise left in the output.
"""

import json
import os

import numpy as np

HELD_OUT = ("astronaut.png", "coffee.png")
BLIND_SEED = 2024  # the held-out blind set's seed (training draws from the recipe's seed)
BLIND_SAMPLES = 8  # degraded versions of each held-out photo (with 4, one stage-1 model gained +0.33 dB over bicubic on one seed, -0.14 on another)
DEBIAN_CROP = 128  # real JPEG photos: one window each (the whole 2560-px photos x4 would take minutes)
FULL_REFERENCE = ("psnr", "ssim", "lpips")
NO_REFERENCE = ("niqe", "piqe", "lrc", "noise")


def write_blind_set(photos_dir, out, scale, seed=BLIND_SEED, samples=BLIND_SAMPLES, held_out=HELD_OUT):
    """The held-out photos, each degraded ``samples`` times by the realesrgan preset: lr/, hr/ (the
    plain HR, mod-cropped: what an SR output should match) and records.jsonl (to replay them)."""
    from lightsr.degrade import load_pipeline
    from lightsr.images import read_image, write_image

    pipe = load_pipeline("realesrgan", scale=scale)
    for d in ("hr", "lr"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    lines = []
    for k, name in enumerate(held_out):
        hr = read_image(os.path.join(photos_dir, name))[0]
        hr = np.ascontiguousarray(hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale])
        for i in range(samples):
            index = k * samples + i
            sample = pipe.run(hr, seed=seed, index=index)
            stem = f"{os.path.splitext(name)[0]}_{i}"
            write_image(os.path.join(out, "hr", stem + ".png"), hr)
            write_image(os.path.join(out, "lr", stem + ".png"), sample.lr)
            lines.append(json.dumps({"name": stem, "source": name, "seed": seed, "index": index, "record": sample.record}))
    with open(os.path.join(out, "records.jsonl.part"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(os.path.join(out, "records.jsonl.part"), os.path.join(out, "records.jsonl"))


def detailed_window(img, size):
    """(top, left) of the ``size`` square with the most detail (the largest mean absolute Laplacian
    of the luma) among a 5 x 5 grid of windows: the centre of a wallpaper photo is often plain sky,
    where neither an SR model nor JPEG leaves anything to see."""
    import cv2

    h, w = img.shape[:2]
    gray = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3], dtype=np.float32), cv2.COLOR_RGB2GRAY)
    energy = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    best, where = -1.0, (0, 0)
    for top in np.linspace(0, h - size, 5).astype(int):
        for left in np.linspace(0, w - size, 5).astype(int):
            e = float(energy[top:top + size, left:left + size].mean())
            if e > best:
                best, where = e, (int(top), int(left))
    return where


def write_real_set(out, faces, include_debian):
    """Real LR images: scikit-image's faces and motion-blurred clock, and the most detailed
    128-px window of each of Debian's JPEG nature photos when installed (real compression artefacts)."""
    from lightsr.eval.realsets import mate_backgrounds, write_set
    from lightsr.images import write_image

    write_set("lfw_faces", out, limit=faces)
    write_set("clock_motion", out)
    if include_debian:
        for name, img in mate_backgrounds():
            s = min(DEBIAN_CROP, *img.shape[:2])
            top, left = detailed_window(img, s)
            write_image(os.path.join(out, f"mate_{name}.png"), img[top:top + s, left:left + s])


def side_by_side(names, lr_dir, columns, ref_dir, scale, size):
    """[(image, [(label, crop)])]: the LR (pixels enlarged), each method's output, the HR."""
    from lightsr.eval.evaluate import _stems
    from lightsr.images import read_image

    lrs, refs = _stems(lr_dir), _stems(ref_dir) if ref_dir else {}
    files = [(label, _stems(folder)) for label, folder in columns]
    out = []
    for name in names:
        lr = read_image(lrs[name])[0]
        h, w = lr.shape[0] * scale, lr.shape[1] * scale
        s = min(size, h, w)
        top, left = (h - s) // 2 // scale * scale, (w - s) // 2 // scale * scale
        window = (slice(top, top + s), slice(left, left + s))
        panels = [("LR (nearest)", np.repeat(np.repeat(lr, scale, 0), scale, 1)[window])]
        for label, stems in files:
            if name in stems:
                panels.append((label, read_image(stems[name])[0][window]))
        if name in refs:
            panels.append(("HR", read_image(refs[name])[0][window]))
        out.append((name, panels))
    return out


def upscale_all(methods, root, scale):
    """``methods``: [(name, model file or None for MATLAB bicubic)]; writes root/NAME/ from root/lr/."""
    from lightsr.commands.demo import bicubic_folder, upscale_folder
    from lightsr.models.inference import Upscaler
    from lightsr.models.weights import load_model

    for name, path in methods:
        if path is None:
            bicubic_folder(os.path.join(root, "lr"), os.path.join(root, name), scale)
        else:
            upscale_folder(Upscaler(load_model(path)), os.path.join(root, "lr"), os.path.join(root, name))


def evaluate(methods, blind_dir, real_dir, scale, weights_dir=None):
    """(full-reference Evaluator, blind results, no-reference Evaluator, real results), one result per method."""
    from lightsr.eval.evaluate import Evaluator

    fr = Evaluator(list(FULL_REFERENCE), scale=scale, y=True, weights_dir=weights_dir)
    blind = [fr.folder(os.path.join(blind_dir, m), os.path.join(blind_dir, "hr"), name=m) for m, _ in methods]
    nr = Evaluator(list(NO_REFERENCE), scale=scale, weights_dir=weights_dir)
    real = [nr.folder(os.path.join(real_dir, m), lr_dir=os.path.join(real_dir, "lr"), name=m) for m, _ in methods]
    return fr, blind, nr, real


def table(results, metrics, title):
    """The means of each method, as aligned text."""
    rows = [f"{title:<22}" + "".join(f"{m:>10}" for m in metrics)]
    for r in results:
        rows.append(f"  {r.name:<20}" + "".join(f"{r.mean(m):>10.4f}" if r.mean(m) is not None else f"{'-':>10}"
                                                   for m in metrics))
    return "\n".join(rows)
