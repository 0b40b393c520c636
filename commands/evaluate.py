"""``lightsr eval`` and ``lightsr bench models``."""

import csv
import io
import json
import math
import os
import sys

from lightsr.commands.common import progress_bar
from lightsr.errors import LightSRError
from lightsr.eval.metrics import metrics_help  # noqa: F401  (the CLI's --metrics help)


def _centre(img, size):
    h, w = img.shape[:2]
    s = min(size, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return img[top:top + s, left:left + s]


def report_crops(methods, ref_dir, lr_dir, scale, count=6, size=128, max_pixels=None):
    """[(image, [(label, crop)])]: bicubic (from the LR), every method's output, the HR."""
    from lightsr.degrade.resize import imresize_matlab
    from lightsr.eval.evaluate import _stems
    from lightsr.images import read_image

    first = methods[0]
    names = [r["image"] for r in first.rows][:count]
    folders = [(m.name, _stems(m.folder)) for m in methods]
    refs = _stems(ref_dir) if ref_dir else {}
    lrs = _stems(lr_dir) if lr_dir else {}
    out = []
    for name in names:
        panels = []
        if name in lrs:
            lr = read_image(lrs[name], max_pixels=max_pixels)[0]
            panels.append(("LR, MATLAB bicubic", _centre(imresize_matlab(lr, scale), size)))
        for label, files in folders:
            if name in files:
                panels.append((label, _centre(read_image(files[name], max_pixels=max_pixels)[0], size)))
        if name in refs:
            panels.append(("HR", _centre(read_image(refs[name], max_pixels=max_pixels)[0], size)))
        out.append((name, panels))
    return out


def _json_row(row):
    """A row with non-finite values written as null (JSON has no inf/NaN), named under "nonfinite"."""
    out, odd = {}, {}
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k], odd[k] = None, "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        else:
            out[k] = v
    if odd:
        out["nonfinite"] = odd  # e.g. psnr of an output identical to its reference: inf
    return out


def _finite(obj):
    """``obj`` with every non-finite float replaced by None (valid JSON everywhere, e.g. in a model's info)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _print(methods, metrics, fmt):
    if fmt == "json":
        print(json.dumps(_finite([{"method": m.name, "folder": m.folder, "info": m.info, "mean": {k: m.mean(k) for k in metrics},
                                   "images": [_json_row(r) for r in m.rows], "errors": m.errors} for m in methods]),
                         indent=1, allow_nan=False))
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["method", "image", *metrics])
        for m in methods:
            for row in m.rows:
                w.writerow([m.name, row["image"], *[row.get(k, "") for k in metrics]])
            w.writerow([m.name, "mean", *[m.mean(k) if m.mean(k) is not None else "" for k in metrics]])
        print(buf.getvalue(), end="")
        return
    head = ["method", "images", *metrics]
    rows = [[m.name, str(len(m.rows)), *[("-" if m.mean(k) is None else f"{m.mean(k):.4f}") for k in metrics]] for m in methods]
    print(_text_table(head, rows, fmt))


def _text_table(head, rows, fmt="table"):
    """Rows of strings as a Markdown table (``fmt="md"``) or as left-aligned columns."""
    if fmt == "md":
        return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [head, *rows])


def cmd_benchmark(args):
    """``lightsr eval --benchmark set5,set14,... --root DIR --model NAME_OR_FILE --scale S``."""
    from lightsr.commands.models import resolve_model
    from lightsr.eval.benchmark import benchmark_table, format_table
    from lightsr.eval.standard_sets import load_pairs, standard_set
    from lightsr.models import model_info

    if not args.root or not args.model:
        raise LightSRError("--benchmark needs --root (the folder holding the datasets) and --model")
    sets = [standard_set(s).name for s in args.benchmark.split(",")]
    model = resolve_model(args.model, args.scale, args.weights, args.random_init)
    scale = model.lightsr_spec["scale"]
    total = sum(len(load_pairs(s, args.root, scale)) for s in sets)
    bar = None if args.quiet else progress_bar(total, "benchmark", "img")
    try:
        results = benchmark_table(model, sets, args.root, scale, bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    info = model_info(model.lightsr_spec["name"])
    if args.format == "json":
        print(json.dumps(_finite({"model": info.name, "scale": scale, "results": results,
                                  "published": dict(info.published[scale].psnr_ssim) if scale in info.published else {}}),
                         indent=1, allow_nan=False))
    else:
        print(format_table(results, info.name, scale, info.published.get(scale), "md" if args.format == "md" else "table"))
        print("\nY channel (BT.601), crop border = scale, outputs rounded to 8 bits; LR read where the set ships it at this "
              "scale, else MATLAB bicubic of the mod-cropped HR.")
    return 0


def cmd_eval(args):
    if args.benchmark:
        return cmd_benchmark(args)
    if not args.input:
        raise LightSRError("give --input SR folders (or --benchmark with --root and --model)")
    args.scale = args.scale or 4
    from lightsr.eval.evaluate import Evaluator
    from lightsr.eval.metrics import default_metrics, get_metric
    from lightsr.eval.report import build_report
    from lightsr.files import atomic_write_text
    from lightsr.images import list_images

    metrics = args.metrics.split(",") if args.metrics else default_metrics(bool(args.ref), bool(args.lr))
    kernel = None
    if args.lrc_kernel:
        import numpy as np

        try:
            kernel = np.load(args.lrc_kernel, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise LightSRError(f"{args.lrc_kernel}: not a readable .npy kernel ({str(e).splitlines()[0]})") from None
    specs = {m: get_metric(m) for m in (m.strip().lower() for m in metrics) if m}  # before any metric is built
    no_ref = [m for m, spec in specs.items() if spec.needs_ref and not args.ref]
    no_lr = [m for m, spec in specs.items() if spec.needs_lr and not args.lr]
    if no_ref or no_lr:
        flags = " and ".join(flag for flag, names in (("--ref", no_ref), ("--lr", no_lr)) if names)
        raise LightSRError(f"metrics {', '.join(dict.fromkeys(no_ref + no_lr))} need {flags}")
    ev = Evaluator(metrics, scale=args.scale, y=args.y, crop_border=args.crop_border, device=args.device,
                   weights_dir=args.weights_dir, lrc_kernel=kernel, max_pixels=getattr(args, "max_pixels", None))
    total = sum(len(list_images(d)) for d in args.input)
    bar = None if args.quiet else progress_bar(total, "eval", "img")
    methods = []
    try:
        for folder in args.input:
            methods.append(ev.folder(folder, args.ref, args.lr, progress=bar.update if bar else None))
    finally:
        if bar:
            bar.close()
    _print(methods, ev.metrics, args.format)
    for m in methods:
        for e in m.errors:
            print(f"  {m.name}: {e}", file=sys.stderr)
    if args.report:
        notes = [f"x{args.scale}; {'Y channel' if args.y else 'RGB'}; crop border {ev.crop} for full-reference metrics; "
                 f"lrc = PSNR between the SR output degraded back ({'given kernel' if kernel is not None else 'MATLAB bicubic'}) "
                 f"and its LR input"]
        crops = report_crops(methods, args.ref, args.lr, args.scale, args.crops, max_pixels=ev.max_pixels) if args.crops else ()
        page = build_report(args.title, [{"methods": methods, "metrics": ev.metrics, "crops": crops}], ev.higher_is_better, notes)
        try:
            atomic_write_text(args.report, page)
        except OSError as e:
            raise LightSRError(f"{args.report}: cannot write the report ({e.strerror or e})") from None
        print(f"report: {args.report}", file=sys.stderr)  # stdout holds only the results (csv/json stay parseable)
    return 1 if any(m.errors for m in methods) else 0


# ---------------------------------------------------------------- bench models


def cmd_bench_models(args):
    from lightsr.eval.bench import benchmark_models, ntire_scores

    names = args.names.split(",") if args.names else None
    rows = benchmark_models(names, scale=args.scale, device=args.device, size=tuple(args.size), repeat=args.repeat,
                            warmup=args.warmup)
    if args.baseline:
        ntire_scores(rows, args.baseline)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    head = ["model", "params", "MACs", "latency ms", "peak MB", "score" if args.baseline else ""]
    lines = [[r["name"], f"{r['params'] / 1e3:,.1f}K", f"{r['macs'] / 1e9:,.2f}G", f"{r['latency_ms']:.2f}",
              f"{r['peak_mb']:.1f}", f"{r['score']:.3f}" if "score" in r else ""] for r in rows]
    print(_text_table(head, lines))
    h, w = args.size
    where = rows[0]["device"] if rows else args.device
    print(f"\nx{args.scale}, input {h}x{w} on {where}; latency: median of {args.repeat} runs; "
          f"peak: {'CUDA allocator peak' if args.device.startswith('cuda') else 'resident memory growth during the forward pass'}"
          + (f"; score (NTIRE 2024-25): 0.7 exp(2 t/t0) + 0.15 exp(2 F/F0) + 0.15 exp(2 P/P0) against {args.baseline}"
             if args.baseline else ""))
    return 0


def write_model_info(model, out_dir):
    """``lightsr-model.json`` beside upscaled outputs: which model made them (read by eval reports)."""
    from lightsr.files import atomic_write_text
    from lightsr.models.complexity import count_params
    from lightsr.models.reparameterize import reparameterize

    spec = model.lightsr_spec
    info = {"model": spec["name"], "scale": spec["scale"], "options": spec["options"],
            "params": count_params(reparameterize(model))}
    atomic_write_text(os.path.join(out_dir, "lightsr-model.json"), json.dumps(info, indent=1) + "\n")
