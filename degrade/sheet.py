"""Inspection sheets: what a pipeline does to an image, as one picture.

Top: K samples of the pipeline (LR shown enlarged with nearest neighbour, so the pixels
stay visible). Below: every step of the first sample with its input and output and the
blur kernel where there is one, captioned with the op's parameters.
Drawn with OpenCV only (no plotting library needed).
"""

import cv2
import numpy as np

from lightsr.degrade.kernels import make_kernel
from lightsr.degrade.ops import OPS
from lightsr.degrade.pipeline import Pipeline

TILE = 192
PAD = 8
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.42
LINE_H = 15
BG = (32, 32, 32)
FG = (235, 235, 235)


def _fit(img, size=TILE):
    """Show ``img`` (float RGB) in a size x size tile: nearest when enlarging, area when shrinking."""
    h, w = img.shape[:2]
    f = size / max(h, w)
    interp = cv2.INTER_NEAREST if f >= 1 else cv2.INTER_AREA
    out = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=interp)
    out = out if out.ndim == 3 else out[:, :, None].repeat(3, 2)
    tile = np.full((size, size, 3), 0.12, np.float32)
    y, x = (size - out.shape[0]) // 2, (size - out.shape[1]) // 2
    tile[y:y + out.shape[0], x:x + out.shape[1]] = np.clip(out, 0, 1)
    return tile


def kernel_tile(kernel, size=TILE):
    """A blur kernel as a heat map (viridis), scaled to its peak."""
    k = kernel - kernel.min()
    k = k / k.max() if k.max() > 0 else k
    u8 = cv2.resize((k * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    bgr = cv2.applyColorMap(u8, cv2.COLORMAP_VIRIDIS)
    return bgr[:, :, ::-1].astype(np.float32) / 255.0


def _wrap(text, width_px):
    words, lines, line = text.split(), [], ""
    for word in words:
        trial = f"{line} {word}".strip()
        if cv2.getTextSize(trial, FONT, FONT_SCALE, 1)[0][0] > width_px and line:
            lines.append(line)
            line = word
        else:
            line = trial
    if line:
        lines.append(line)
    return lines


def _card(tiles, caption, caption_lines=4):
    """Tiles side by side with a wrapped caption below, as uint8 BGR."""
    width = len(tiles) * TILE + (len(tiles) - 1) * PAD
    text_h = caption_lines * LINE_H + 6
    card = np.full((TILE + text_h, width, 3), BG, np.uint8)
    for i, t in enumerate(tiles):
        x = i * (TILE + PAD)
        card[:TILE, x:x + TILE] = (np.clip(t, 0, 1)[:, :, ::-1] * 255 + 0.5).astype(np.uint8)
    for j, line in enumerate(_wrap(caption, width)[:caption_lines]):
        cv2.putText(card, line, (2, TILE + 4 + (j + 1) * LINE_H - 4), FONT, FONT_SCALE, FG, 1, cv2.LINE_AA)
    return card


def _grid(cards, columns):
    """Arrange cards (uint8) in rows, left-aligned."""
    rows = []
    for r in range(0, len(cards), columns):
        row = cards[r:r + columns]
        h = max(c.shape[0] for c in row)
        parts = []
        for c in row:
            padded = np.full((h, c.shape[1], 3), BG, np.uint8)
            padded[: c.shape[0]] = c
            parts += [padded, np.full((h, PAD * 2, 3), BG, np.uint8)]
        rows.append(np.hstack(parts[:-1]))
    width = max(r.shape[1] for r in rows)
    out = [np.hstack([r, np.full((r.shape[0], width - r.shape[1], 3), BG, np.uint8)]) for r in rows]
    spacer = np.full((PAD * 2, width, 3), BG, np.uint8)
    return np.vstack([x for r in out for x in (r, spacer)][:-1])


def _title(text, width):
    bar = np.full((28, width, 3), (60, 60, 60), np.uint8)
    cv2.putText(bar, text, (6, 19), FONT, 0.55, FG, 1, cv2.LINE_AA)
    return bar


def inspection_sheet(pipeline: Pipeline, hr, samples=6, seed=0):
    """The sheet as an RGB float image; also returns the records drawn (sample 0 first)."""
    records = [pipeline.sample(hr.shape, seed, i) for i in range(samples)]
    sample_cards = [_card([_fit(hr)], f"HR {hr.shape[1]}x{hr.shape[0]}", 2)]
    for rec in records:
        lr = Pipeline.replay(hr, rec)
        ops = " > ".join(s["op"] for s in rec["lq"])
        sample_cards.append(_card([_fit(lr)], f"sample {rec['index']}: LR {lr.shape[1]}x{lr.shape[0]}. {ops}", 4))
    step_cards = []
    for n, t in enumerate(Pipeline.trace(hr, records[0])):
        step, cls = t.step, OPS[t.step["op"]]
        tiles = [_fit(t.before), _fit(t.after)]
        if step["op"] == "blur":
            tiles.append(kernel_tile(make_kernel(step["params"])))
        where = f" [{step['label']}]" if step.get("label") else ""
        size = f"{t.before.shape[1]}x{t.before.shape[0]} -> {t.after.shape[1]}x{t.after.shape[0]}"
        step_cards.append(_card(tiles, f"{n + 1}. {t.stage}: {step['op']}{where} {size}: {cls.describe(step['params'])}", 4))
    top = _grid(sample_cards, columns=min(len(sample_cards), 7))
    bottom = _grid(step_cards, columns=2)
    width = max(top.shape[1], bottom.shape[1])

    def widen(a):
        return np.hstack([a, np.full((a.shape[0], width - a.shape[1], 3), BG, np.uint8)])

    parts = [
        _title(f"lightsr inspect: pipeline '{pipeline.name}' x{pipeline.scale}, seed {seed}, {samples} samples", width),
        widen(top),
        _title("sample 0 step by step (before | after | kernel)", width),
        widen(bottom),
    ]
    sheet = np.vstack([p for part in parts for p in (part, np.full((PAD, width, 3), BG, np.uint8))])
    return sheet[:, :, ::-1].astype(np.float32) / 255.0, records
