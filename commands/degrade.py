"""``lightsr degrade``, ``presets``, ``inspect`` and ``demo``."""

import sys
import time

from lightsr.commands.common import progress_bar


def _print_summary(summary, out, seconds):
    rate = summary.written / seconds if seconds > 0 else 0.0
    print(f"{out}: {summary.written} pairs written, {summary.already_done} already done, "
          f"{len(summary.failed)} input(s) failed, {seconds:.1f} s ({rate:.1f} pairs/s)")
    if summary.records_complete:
        print(f"records: {summary.records_path}")
    else:
        print(f"records: {summary.records_path} (partial: other shards or failed inputs are missing)")
    for source, message in sorted(summary.failed.items()):
        print(f"  failed: {message}", file=sys.stderr)


def run_degrade_job(job, quiet=False):
    from lightsr.degrade.generate import run

    bar = None
    start = time.perf_counter()

    def progress(n):
        nonlocal bar
        if bar is not None:
            bar.update(n)

    if not quiet:
        from lightsr.images import list_images

        inputs = list_images(job.input_dir)
        shard_i, shard_n = job.shard
        total = sum(1 for i in range(len(inputs) * job.per_image) if i % shard_n == shard_i)
        bar = progress_bar(total, "degrade", "pair")
    try:
        summary = run(job, progress)
    finally:
        if bar is not None:
            bar.close()
    _print_summary(summary, job.output_dir, time.perf_counter() - start)
    return summary


def cmd_degrade(args):
    from lightsr.degrade.generate import DegradeJob, parse_shard

    job = DegradeJob(
        input_dir=args.input, output_dir=args.output, pipeline=args.config or args.preset, scale=args.scale,
        seed=args.seed, patch=args.patch, per_image=args.per_image, alpha=args.alpha, workers=args.workers,
        shard=parse_shard(args.shard), force=args.force, max_pixels=args.max_pixels,
    )
    summary = run_degrade_job(job, quiet=args.quiet)
    return 1 if summary.failed else 0


def cmd_presets(args):
    from lightsr.degrade.presets import list_presets, preset_path

    if args.show:
        with open(preset_path(args.show), encoding="utf-8") as f:
            print(f.read(), end="")
        return 0
    rows = list_presets()
    width = max(len(n) for n, _, _ in rows)
    for name, description, scales in rows:
        sc = ",".join(f"x{s}" for s in scales) if scales else "any"
        print(f"{name:<{width}}  {sc:<12} {description}")
    return 0


def _center_crop(img, size, scale):
    size = min(size, img.shape[0], img.shape[1])
    size -= size % scale
    top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[top:top + size, left:left + size]


def make_sheet(pipeline_name, image_path, output, samples=6, seed=0, scale=None, patch=256, max_pixels=None):
    import os

    import cv2

    from lightsr.degrade.presets import load_pipeline
    from lightsr.degrade.sheet import inspection_sheet
    from lightsr.errors import LightSRError
    from lightsr.images import WRITE_EXTENSIONS, check_min_size, read_image, write_image

    ext = os.path.splitext(output)[1].lower()
    if ext not in WRITE_EXTENSIONS:
        raise LightSRError(f"{output}: unsupported sheet extension {ext or '(none)'!r} (use {', '.join(WRITE_EXTENSIONS)})")
    if os.path.isdir(output):
        raise LightSRError(f"{output}: --output is a folder; give a sheet file such as sheet.png")
    pipeline = load_pipeline(pipeline_name, scale=scale)
    image = read_image(image_path, max_pixels=max_pixels)[0]
    check_min_size(image_path, image, 4 * pipeline.scale, f"inspect at x{pipeline.scale}")
    hr = _center_crop(image, patch, pipeline.scale)
    try:
        sheet, _ = inspection_sheet(pipeline, hr, samples=samples, seed=seed)
    except (ValueError, RuntimeError, IndexError, MemoryError, cv2.error) as e:  # not a user mistake: name the file
        lines = str(e).strip().splitlines()
        raise LightSRError(f"{image_path}: the pipeline failed on it ({type(e).__name__}: {lines[-1] if lines else ''})") from None
    write_image(output, sheet)
    return sheet


def cmd_inspect(args):
    sheet = make_sheet(args.config or args.preset, args.input, args.output, args.samples, args.seed, args.scale, args.patch,
                       max_pixels=getattr(args, "max_pixels", None))
    print(f"{args.output}: {sheet.shape[1]}x{sheet.shape[0]} inspection sheet, {args.samples} samples")
    return 0
