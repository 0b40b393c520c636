"""Self-contained HTML reports: tables, side-by-side crops, plots (inline SVG), images embedded."""

import base64
import html
import math

import numpy as np

from lightsr.images import encode_image

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.best{font-weight:bold;background:#e8f5e9}
.crops{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:14px}.crop{text-align:center;font-size:12px}
.crop img{width:224px;height:224px;image-rendering:pixelated;border:1px solid #999;display:block}
.plots{display:flex;flex-wrap:wrap;gap:18px}.err{color:#b00020;font-size:13px}.note{color:#555;font-size:13px}
"""

SCRIPT = """
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
  document.body.dataset.imagesLoaded = ok ? 'true' : 'false';
  document.body.dataset.imageCount = String(imgs.length);
});
"""


def png_data_uri(img):
    return "data:image/png;base64," + base64.b64encode(encode_image(np.clip(img, 0, 1), ".png")).decode("ascii")


def _fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return "inf"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


# ---------------------------------------------------------------- plots (SVG)

_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _axis_ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2)]


def _frame(width, height, title, ticks, y, left, pw):
    """An SVG's opening tag, bold title and horizontal grid lines with their labels."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
             f'<text x="{left}" y="14" font-weight="bold">{html.escape(title)}</text>']
    for t in ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 4}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    return parts


def svg_strip(metric, groups, width=420, height=240, arrow=""):
    """Each group's values as jittered dots with its mean as a bar: the distribution at a glance."""
    vals = [v for vs in groups.values() for v in vs if v is not None and math.isfinite(v)]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.08 or 0.5
    ticks = _axis_ticks(lo - pad, hi + pad)
    lo, hi = ticks[0], ticks[-1]
    left, right, top, bottom = 56, 12, 24, 40
    pw, ph = width - left - right, height - top - bottom

    def y(v):
        return top + ph - (v - lo) / (hi - lo) * ph

    parts = _frame(width, height, f"{metric} {arrow}", ticks, y, left, pw)
    n = len(groups)
    rng = np.random.default_rng(0)
    for i, (name, vs) in enumerate(groups.items()):
        cx = left + pw * (i + 0.5) / n
        color = _COLORS[i % len(_COLORS)]
        good = [v for v in vs if v is not None and math.isfinite(v)]
        for v in good:
            jx = cx + rng.uniform(-0.25, 0.25) * pw / n
            parts.append(f'<circle cx="{jx:.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}" fill-opacity="0.6"/>')
        if good:
            m = float(np.mean(good))
            parts.append(f'<line x1="{cx - pw / n * 0.35:.1f}" x2="{cx + pw / n * 0.35:.1f}" y1="{y(m):.1f}" y2="{y(m):.1f}" '
                         f'stroke="#000" stroke-width="2"/>')
        parts.append(f'<text x="{cx:.1f}" y="{height - 22}" text-anchor="middle">{html.escape(name[:18])}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#999"/></svg>')
    return "".join(parts)


def svg_scatter(points, xlabel, ylabel, width=420, height=260, log_x=True):
    """Labelled points (label, x, y); x on a log scale (parameter counts span decades)."""
    pts = [(lab, x, yv) for lab, x, yv in points if x and yv is not None and math.isfinite(yv)]
    if not pts:
        return ""
    xs = [math.log10(x) if log_x else x for _, x, _ in pts]
    ys = [p[2] for p in pts]
    x0, x1 = min(xs) - 0.2, max(xs) + 0.2
    yt = _axis_ticks(min(ys) - 0.05 * (max(ys) - min(ys) + 1e-9), max(ys) + 0.05 * (max(ys) - min(ys) + 1e-9))
    y0, y1 = yt[0], yt[-1]
    left, right, top, bottom = 56, 16, 24, 40
    pw, ph = width - left - right, height - top - bottom

    def px(v):
        return left + (v - x0) / (x1 - x0) * pw

    def py(v):
        return top + ph - (v - y0) / (y1 - y0) * ph

    parts = _frame(width, height, f"{ylabel} vs {xlabel}", yt, py, left, pw)
    for e in range(math.floor(x0), math.ceil(x1) + 1):
        if x0 <= e <= x1:
            parts.append(f'<text x="{px(e):.1f}" y="{height - 22}" text-anchor="middle">1e{e}</text>')
    for i, ((lab, _, yv), xv) in enumerate(zip(pts, xs)):
        color = _COLORS[i % len(_COLORS)]
        parts.append(f'<circle cx="{px(xv):.1f}" cy="{py(yv):.1f}" r="4" fill="{color}"/>'
                     f'<text x="{px(xv) + 6:.1f}" y="{py(yv) - 6:.1f}">{html.escape(lab)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{html.escape(xlabel)}</text></svg>')
    return "".join(parts)


# ---------------------------------------------------------------- the page


def build_report(title, sections, higher_is_better, notes=()):
    """HTML page; each section is a dict with ``title``, ``methods`` (MethodResult list),
    ``metrics`` and optional ``crops`` [(image, [(label, array)])] and ``notes``."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
           f"<style>{CSS}</style><script>{SCRIPT}</script></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for n in notes:
        out.append(f"<p class='note'>{html.escape(n)}</p>")
    for section in sections:
        if section.get("title"):
            out.append(f"<h1 style='margin-top:40px'>{html.escape(section['title'])}</h1>")
        for n in section.get("notes", ()):
            out.append(f"<p class='note'>{html.escape(n)}</p>")
        out.extend(_section(section["methods"], section["metrics"], higher_is_better, section.get("crops", ())))
    out.append("</body></html>")
    return "\n".join(out)


def _section(methods, metrics, higher_is_better, crops):
    out = []
    arrows = {m: "↑" if higher_is_better(m) else "↓" for m in metrics}
    out.append("<h2>Summary (mean over images)</h2><table><tr><th>method</th><th>images</th>"
               + "".join(f"<th>{html.escape(m)} {arrows[m]}</th>" for m in metrics) + "<th>params</th></tr>")
    best = {}
    for m in metrics:
        means = [(r.mean(m), r.name) for r in methods if r.mean(m) is not None]
        if means:
            best[m] = (max if arrows[m] == "↑" else min)(means)[1]
    for r in methods:
        cells = "".join(f"<td class='{'best' if best.get(m) == r.name and len(methods) > 1 else ''}'>{_fmt(r.mean(m))}</td>"
                        for m in metrics)
        params = r.info.get("params")
        params = f"{params:,}" if params else "–"
        out.append(f"<tr><td>{html.escape(r.name)}</td><td>{len(r.rows)}</td>{cells}<td>{params}</td></tr>")
    out.append("</table>")

    plots = [svg_strip(m, {r.name: [row.get(m) for row in r.rows] for r in methods}, arrow=arrows[m]) for m in metrics]
    with_params = [r for r in methods if r.info.get("params")]
    if len(with_params) > 1:  # a trade-off needs at least two points
        for m in metrics:
            if any(r.mean(m) is not None for r in with_params):
                plots.append(svg_scatter([(r.name, r.info["params"], r.mean(m)) for r in with_params], "parameters", m))
    out.append("<h2>Distributions</h2><div class='plots'>" + "".join(p for p in plots if p) + "</div>")

    if crops:
        out.append("<h2>Side by side (centre crops)</h2>")
        for image_name, panels in crops:
            out.append(f"<div><b>{html.escape(image_name)}</b><div class='crops'>")
            for label, img in panels:
                label = html.escape(label)
                out.append(f"<div class='crop'><img alt='{label}' src='{png_data_uri(img)}'>{label}</div>")
            out.append("</div></div>")

    out.append("<h2>Per image</h2>")
    for r in methods:
        out.append(f"<h3>{html.escape(r.name)}</h3><table><tr><th>image</th>"
                   + "".join(f"<th>{html.escape(m)}</th>" for m in metrics) + "</tr>")
        for row in r.rows:
            cells = "".join(f"<td>{_fmt(row.get(m))}</td>" for m in metrics)
            out.append(f"<tr><td>{html.escape(row['image'])}</td>{cells}</tr>")
        out.append("</table>")
        for e in r.errors:
            out.append(f"<p class='err'>{html.escape(e)}</p>")
    return out
