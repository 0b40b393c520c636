"""``lightsr models``, ``upscale`` and ``export``."""

import json
import os
import sys

from lightsr.commands.common import progress_bar
from lightsr.errors import ConfigError, LightSRError


def resolve_model(spec, scale=None, weights=None, random_init=False):
    """A model shipped with lightsr (``lightsr models`` lists them), a .safetensors file written by
    lightsr, a registry name with the authors' checkpoint (``weights``), or (for measurements
    only) random weights."""
    from lightsr.models import create_model, model_info
    from lightsr.models.weights import load_model, load_official

    from lightsr.models.pretrained import load_shipped, shipped

    if shipped(spec) is not None and not weights:  # trained by lightsr, inside the package
        model = load_shipped(spec)
        if scale is not None and scale != model.lightsr_spec["scale"]:
            raise ConfigError("scale", f"{spec} is a x{model.lightsr_spec['scale']} model, not x{scale}")
        return model
    if spec.endswith(".safetensors") or os.path.isfile(spec):
        model = load_model(spec)
        if scale is not None and scale != model.lightsr_spec["scale"]:
            raise ConfigError("scale", f"{spec} is a x{model.lightsr_spec['scale']} model, not x{scale}")
        return model
    info = model_info(spec)
    scale = scale or (4 if 4 in info.scales else info.scales[0])
    if weights:
        return load_official(info.name, weights, scale)
    if random_init:
        return create_model(info.name, scale=scale)
    raise ConfigError("model", f"{spec}: give a .safetensors file of trained weights, or --weights with the authors' "
                               f"checkpoint (--random-init only for timing)")


# ---------------------------------------------------------------- models


def model_rows(scale=4):
    """One dict per registered model defined at ``scale``: ours and the published figures side by side."""
    from lightsr.models import create_model, list_models
    from lightsr.models.complexity import count_macs, count_params
    from lightsr.models.reparameterize import reparameterize

    rows = []
    for info in list_models():
        if scale not in info.scales:
            continue
        pub = info.published.get(scale)
        counted = info.counted
        deploy = reparameterize(create_model(info.name, scale=scale))
        rows.append({
            "name": info.name,
            "family": info.family,
            "input": info.color,
            "params": count_params(deploy, counted),
            "params_all": count_params(deploy),
            "counted": counted,
            "macs_720p": count_macs(lambda: reparameterize(create_model(info.name, scale=scale)), scale, info.in_channels),
            "published_params": pub.params if pub else None,
            "published_macs": pub.macs if pub else None,
            "published_psnr_ssim": dict(pub.psnr_ssim) if pub else {},
            "published_source": pub.source if pub else "",
            "published_verified": pub.verified if pub else None,
            "faithful": info.faithful,
            "paper": info.paper,
            "notes": info.notes,
            "available": True,
        })
    return rows


def unavailable_rows():
    """The survey's systems the zoo does not build, each with the reason."""
    from lightsr.models.unavailable import UNAVAILABLE

    return [{"name": u.name, "family": u.family, "paper": u.paper, "faithful": f"no: {u.reason}", "available": False}
            for u in UNAVAILABLE]


def _k(n):
    return f"{n / 1e3:,.1f}K" if n is not None else "-"


def _g(n):
    return f"{n / 1e9:,.1f}G" if n is not None else "-"


def shipped_rows(scale=None):
    """The trained models inside the package, with their cards."""
    from lightsr.models.pretrained import SHIPPED

    return [{"name": m.name, "architecture": m.architecture, "scale": m.scale, "description": m.description,
             "shipped_weights": True, "weights": m.weights, "card": m.card()}
            for m in SHIPPED.values() if scale is None or m.scale == scale]


def show_card(name):
    """A shipped model's card as text."""
    from lightsr.models.pretrained import shipped

    m = shipped(name)
    if m is None:
        from lightsr.models.pretrained import SHIPPED

        raise ConfigError("--show", f"{name!r} is not a shipped model (shipped: {', '.join(SHIPPED)})")
    lines = [f"{m.name}: {m.description}", f"weights: {m.weights}"]
    for key, value in m.card().items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def cmd_models(args):
    if args.show:
        print(show_card(args.show))
        return 0
    rows = model_rows(args.scale)
    if args.format == "json":
        print(json.dumps(rows + shipped_rows(args.scale) + unavailable_rows(), indent=1))
        return 0
    head = ["model", "family", "in", "params", "published", "MACs@720p", "published", f"Set5 x{args.scale} (pub.)", "faithful"]
    table = []
    for r in rows:
        set5 = r["published_psnr_ssim"].get("Set5")
        mark = "" if r["published_verified"] in (None, True) else " (r)"
        params = _k(r["params"]) + {"weights": " w", "executed_leaves": " t"}.get(r["counted"], "")
        table.append([r["name"], r["family"], r["input"], params, _k(r["published_params"]) + mark, _g(r["macs_720p"]),
                      _g(r["published_macs"]), f"{set5[0]:.2f}/{set5[1]:.4f}" if set5 else "-",
                      "yes" if r["faithful"] == "yes" else "partial"])
    if args.format == "md":
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for t in table:
            print("| " + " | ".join(t) + " |")
    else:
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for t in table:
            print("  ".join(c.ljust(w) for c, w in zip(t, widths)))
    print(f"\nx{args.scale}; params of the deploy form ('w': the paper counts conv weights only; 't': counted as "
          "torchsummaryX does, leaf modules that run, which misses weights some networks use: see the notes); MACs counted from a "
          "forward pass for a 1280x720 output (MACs, 1 multiply-add each; the tables call them FLOPs); (r): published "
          "figure from a secondary source, unverified. 'lightsr models --format json' has sources and notes.")
    shipped = shipped_rows(args.scale)
    if shipped:
        print(f"\nTrained by lightsr, shipped with the package (lightsr upscale --model NAME; lightsr models --show NAME):")
        for m in shipped:
            print(f"- {m['name']} ({m['architecture']} x{m['scale']}): {m['description']}")
    print("\nNamed by the survey, not built (no faithful reading is possible from what is published):")
    for u in unavailable_rows():
        print(f"- {u['name']} ({u['family']}): {u['paper']}. {u['faithful'][4:]}")
    return 0


# ---------------------------------------------------------------- upscale


def _output_names(inputs, out_dir):
    """({input: output path}, [one-line failure per input whose output name another input also gets])."""
    by_name = {}
    for path in inputs:
        by_name.setdefault(os.path.splitext(os.path.basename(path))[0] + ".png", []).append(path)
    targets, collisions = {}, []
    for name, paths in by_name.items():
        if len(paths) > 1:
            others = ", ".join(os.path.basename(p) for p in paths)
            collisions += [f"{p}: {others} would all be written as {name}; rename all but one (none of them was upscaled)"
                           for p in paths]
        else:
            targets[paths[0]] = os.path.join(out_dir, name)
    return targets, collisions


def _prepare_output(folder):
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise LightSRError(f"{folder}: --output must be a folder, and this is a file")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise LightSRError(f"{folder}: cannot create the output folder ({e.strerror or e})") from None


def cmd_upscale(args):
    from lightsr.images import IMAGE_EXTENSIONS, list_images, read_image_with_alpha, write_image
    from lightsr.models.inference import Upscaler

    precision = "fp16" if args.half else "bf16" if args.bf16 else "fp32"
    if os.path.isdir(args.input):
        inputs = list_images(args.input)
    elif args.input.lower().endswith(IMAGE_EXTENSIONS) or os.path.exists(args.input):
        inputs = [args.input]
    else:
        raise LightSRError(f"{args.input}: no such file or folder")
    _prepare_output(args.output)
    model = resolve_model(args.model, args.scale, args.weights, args.random_init)
    up = Upscaler(model, device=args.device, precision=precision, tile=args.tile, tile_pad=args.tile_pad,
                  alpha_mode=args.alpha)
    from lightsr.commands.evaluate import write_model_info

    try:
        write_model_info(model, args.output)
    except OSError as e:
        raise LightSRError(f"{args.output}: cannot write lightsr-model.json ({e.strerror or e})") from None
    targets, failed = _output_names(inputs, args.output)
    skipped, done = [], 0
    overwrite = getattr(args, "overwrite", False)
    bar = progress_bar(len(inputs), "upscale", "img") if not args.quiet else None
    if bar and failed:
        bar.update(len(failed))
    for path, target in targets.items():
        try:
            if os.path.exists(target) and os.path.samefile(target, path):
                raise LightSRError(f"{path}: its output {target} is the input itself; choose another --output")
            if os.path.exists(target) and not overwrite:
                skipped.append(target)
            else:
                rgb, alpha, info = read_image_with_alpha(path, getattr(args, "max_pixels", None))
                try:
                    out, out_alpha = up.upscale(rgb, alpha)
                except (RuntimeError, ValueError, MemoryError) as e:  # too small for the model, out of memory, ...
                    h, w = rgb.shape[:2]
                    small = f"is {w}x{h}, too small for {up.info.name}? " if min(h, w) < 32 else ""
                    detail = str(e).splitlines()[0] if str(e) else ""
                    raise LightSRError(f"{path}: {small}{type(e).__name__}: {detail}") from None
                write_image(target, out, 16 if info.bit_depth == 16 else 8, alpha=out_alpha)
                done += 1
        except LightSRError as e:
            failed.append(str(e))
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    print(f"{args.output}: {done} image(s) upscaled x{up.scale} with {up.info.name}, {len(skipped)} skipped"
          f"{' (output exists; --overwrite to replace)' if skipped else ''}, {len(failed)} failed")
    for target in skipped:
        print(f"  skipped: {target} exists", file=sys.stderr)
    for message in failed:
        print(f"  failed: {message}", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------- export


def cmd_export(args):
    from lightsr.models import model_info
    from lightsr.models.export import export_onnx, onnx_parity

    model = resolve_model(args.model, args.scale, args.weights, args.random_init)
    info = model_info(model.lightsr_spec["name"])
    size = tuple(args.size) if args.size else None
    export_onnx(model, args.onnx, info.in_channels, size=size)
    print(f"{args.onnx}: {info.name} x{model.lightsr_spec['scale']} (deploy form), input 1x{info.in_channels}x"
          f"{'HxW' if size is None else f'{size[0]}x{size[1]}'}")
    if not args.no_check:
        sizes = (size,) if size else ((37, 45), (64, 48))
        diff = onnx_parity(model, args.onnx, info.in_channels, sizes=sizes)
        print(f"parity with PyTorch (onnxruntime): max abs diff {diff:.2e}")
        if diff > 1e-4:
            print("parity check failed (> 1e-4)", file=sys.stderr)
            return 1
    return 0
