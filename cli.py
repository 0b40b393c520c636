"""The ``lightsr`` command line. Library code never prints; this module owns all output."""

import argparse
import os
import shutil
import sys
import time

from lightsr import __version__
from lightsr.errors import LightSRError


def _progress(total, desc):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pair", dynamic_ncols=True, file=sys.stderr)


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
    from lightsr.degrade.generate import (
        plan,  # noqa: F401  (import errors early)
        run,
    )

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
        bar = _progress(total, "degrade")
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
        shard=parse_shard(args.shard),
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


def make_sheet(pipeline_name, image_path, output, samples=6, seed=0, scale=None, patch=256):
    from lightsr.degrade.presets import load_pipeline
    from lightsr.degrade.sheet import inspection_sheet
    from lightsr.images import read_image, write_image

    pipeline = load_pipeline(pipeline_name, scale=scale)
    hr = _center_crop(read_image(image_path)[0], patch, pipeline.scale)
    sheet, _ = inspection_sheet(pipeline, hr, samples=samples, seed=seed)
    write_image(output, sheet)
    return sheet


def cmd_inspect(args):
    sheet = make_sheet(args.config or args.preset, args.input, args.output, args.samples, args.seed, args.scale, args.patch)
    print(f"{args.output}: {sheet.shape[1]}x{sheet.shape[0]} inspection sheet, {args.samples} samples")
    return 0


def cmd_demo(args):
    """The main job on the embedded photos (no download): degrade them into a dataset and inspect it."""
    from lightsr.degrade.generate import DegradeJob
    from lightsr.sample_data import photo_paths

    out = args.out
    photos = photo_paths(include_debian=not args.no_debian)
    src = os.path.join(out, "photos")
    os.makedirs(src, exist_ok=True)
    for p in photos:
        dst = os.path.join(src, os.path.basename(p))
        if not os.path.exists(dst):
            shutil.copyfile(p, dst + ".part")
            os.replace(dst + ".part", dst)
    print(f"{len(photos)} embedded photos in {src}")
    job = DegradeJob(input_dir=src, output_dir=os.path.join(out, "dataset"), pipeline=args.preset, scale=4,
                     seed=args.seed, patch=256, per_image=args.per_image, workers=args.workers)
    summary = run_degrade_job(job, quiet=args.quiet)
    sheet_path = os.path.join(out, "inspect.png")
    make_sheet(args.preset, photos[0], sheet_path, samples=6, seed=args.seed)
    print(f"inspection sheet: {sheet_path}")
    return 1 if summary.failed else 0


def build_parser():
    parser = argparse.ArgumentParser(prog="lightsr", description="Real-world degradation and lightweight blind SR.")
    parser.add_argument("--version", action="version", version=f"lightsr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("degrade", help="write a degraded dataset (hr/, lr/, records.jsonl) from a folder of HR images")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="a bundled preset (see 'lightsr presets')")
    src.add_argument("--config", help="a pipeline YAML file")
    p.add_argument("--input", required=True, help="folder of HR images")
    p.add_argument("--output", required=True, help="output folder (resumable: rerun the same command to finish)")
    p.add_argument("--scale", type=int, help="down-scaling factor (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patch", type=int, help="crop random HR patches of this size (default: whole images)")
    p.add_argument("--per-image", type=int, default=1, help="pairs drawn per input image")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (0: in-process)")
    p.add_argument("--shard", default="0/1", help="I/N: this process's share of a job array")
    p.add_argument("--alpha", default="drop", choices=["drop", "white", "black", "error"], help="what to do with transparency")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_degrade)

    p = sub.add_parser("presets", help="list the bundled degradation presets")
    p.add_argument("--show", metavar="NAME", help="print a preset's YAML")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("inspect", help="draw a contact sheet of what a pipeline does to an image")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset")
    src.add_argument("--config")
    p.add_argument("--input", required=True, help="an image")
    p.add_argument("--output", required=True, help="sheet file (.png)")
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int)
    p.add_argument("--patch", type=int, default=256, help="centre crop of the input shown (HR size)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("demo", help="the main job on the embedded photos: a degraded dataset and its inspection sheet")
    p.add_argument("--out", default="lightsr-demo")
    p.add_argument("--preset", default="realesrgan")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-image", type=int, default=4)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--no-debian", action="store_true", help="only scikit-image's photos")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LightSRError as e:
        print(f"lightsr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lightsr {args.command}: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
