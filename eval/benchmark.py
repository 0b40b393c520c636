"""The paper-style table: Y-PSNR/SSIM (crop border = scale) of a model on the standard test sets,
beside the figures its paper publishes and bicubic interpolation."""

import numpy as np

from lightsr.degrade.resize import imresize_matlab
from lightsr.eval.fullref import psnr, ssim
from lightsr.eval.standard_sets import PAPER_NAMES, load_pairs


def _quantize(img):
    return np.rint(np.clip(img, 0, 1) * 255) / 255  # SR outputs are compared as the 8-bit files papers save


def benchmark_table(model, sets, root, scale, progress=None):
    """{set: {"model": (psnr, ssim), "bicubic": (psnr, ssim), "images": n}} on the Y channel."""
    from lightsr.models.inference import Upscaler

    up = Upscaler(model)
    out = {}
    for name in sets:
        pairs = load_pairs(name, root, scale)
        ours, bic = [], []
        for _, lr, hr in pairs:
            sr = _quantize(up.upscale(lr)[0])
            b = _quantize(imresize_matlab(lr, scale))
            ours.append((psnr(sr, hr, scale, True), ssim(sr, hr, scale, True)))
            bic.append((psnr(b, hr, scale, True), ssim(b, hr, scale, True)))
            if progress:
                progress(1)
        out[name] = {"model": tuple(np.mean(ours, axis=0)), "bicubic": tuple(np.mean(bic, axis=0)), "images": len(pairs)}
    return out


def format_table(results, model_name, scale, published=None, fmt="md"):
    """The table the SR literature prints: rows of methods, columns of test sets, PSNR/SSIM cells."""
    sets = list(results)
    head = ["method"] + [f"{PAPER_NAMES.get(s, s)} ({results[s]['images']})" for s in sets]
    rows = [[f"{model_name} x{scale} (this run)"] + [f"{results[s]['model'][0]:.2f}/{results[s]['model'][1]:.4f}" for s in sets]]
    if published is not None and published.psnr_ssim:
        cells = [published.psnr_ssim.get(PAPER_NAMES.get(s, s)) for s in sets]
        mark = "" if published.verified else ", unverified"
        rows.append([f"{model_name} x{scale} (published: {published.source}{mark})"]
                    + [f"{c[0]:.2f}/{c[1]:.4f}" if c else "–" for c in cells])
    rows.append([f"bicubic x{scale} (this run)"] + [f"{results[s]['bicubic'][0]:.2f}/{results[s]['bicubic'][1]:.4f}" for s in sets])
    if fmt == "md":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)
