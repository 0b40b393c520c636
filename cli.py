"""The ``lightsr`` command line. Library code never prints; this module owns all output."""

import argparse
import os
import sys

from lightsr import __version__
from lightsr.commands.degrade import cmd_degrade, cmd_inspect, cmd_presets
from lightsr.commands.demo import cmd_demo
from lightsr.commands.evaluate import cmd_bench_models, cmd_eval, metrics_help
from lightsr.commands.models import cmd_export, cmd_models, cmd_upscale
from lightsr.commands.train import cmd_train
from lightsr.errors import LightSRError


def _pixels(text):
    """--max-pixels: an integer, or a float like 2e8; 0 lifts lightsr's own limit."""
    try:
        value = int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a pixel count: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _add_max_pixels(p):
    p.add_argument("--max-pixels", type=_pixels, metavar="N",
                   help="refuse images of more pixels than this, read from their header (default 2**27 = 134M; 0: no limit)")


def _add_offline(p):
    p.add_argument("--offline", action="store_true",
                   help="never download weight files: every lookup is local, a missing file is an error "
                        "(also LIGHTSR_OFFLINE=1)")


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
    _add_max_pixels(p)
    p.add_argument("--force", action="store_true", help="write into a non-empty --output that is not a lightsr job "
                                                        "(files with the outputs' names are replaced)")
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
    _add_max_pixels(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("train", help="train a model from a YAML recipe (resumes from its last checkpoint)")
    p.add_argument("config", help="a training YAML (see configs/)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.total_steps=2000")
    p.add_argument("--run-dir", help="where checkpoints, logs and the model go (default: output_root/name)")
    p.add_argument("--no-resume", action="store_true", help="start over even if the run folder has checkpoints")
    _add_offline(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", help="list the model zoo with parameters, MACs and the published figures")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--format", choices=["table", "md", "json"], default="table")
    p.add_argument("--show", metavar="NAME", help="the model card of a shipped model (e.g. blind_abpn_x4)")
    p.set_defaults(func=cmd_models)

    for name, text in (("upscale", "upscale images or folders with a model"), ("export", "export a model to ONNX")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--model", required=True, help="a shipped model (e.g. blind_abpn_x4), a .safetensors file written by "
                                                      "lightsr, or a zoo name with --weights")
        p.add_argument("--weights", help="the authors' checkpoint (.pth/.safetensors) for a zoo name")
        p.add_argument("--scale", type=int)
        p.add_argument("--random-init", action="store_true", help="untrained weights (for timing and tests only)")
        if name == "upscale":
            p.add_argument("--input", required=True, help="an image or a folder")
            p.add_argument("--output", required=True, help="output folder (PNG, same bit depth as the input)")
            p.add_argument("--tile", type=int, default=0, help="LR tile size (0: whole image)")
            p.add_argument("--tile-pad", type=int, default=16, help="overlap in LR pixels around each tile")
            p.add_argument("--device", default="cpu")
            prec = p.add_mutually_exclusive_group()
            prec.add_argument("--half", action="store_true", help="fp16 (CUDA)")
            prec.add_argument("--bf16", action="store_true")
            p.add_argument("--alpha", choices=["model", "bicubic"], default="model", help="how to upscale transparency")
            p.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
            p.add_argument("--quiet", action="store_true")
            _add_max_pixels(p)
            _add_offline(p)
            p.set_defaults(func=cmd_upscale)
        else:
            p.add_argument("--onnx", required=True, help="output .onnx file")
            p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="fixed input size (default: dynamic)")
            p.add_argument("--no-check", action="store_true", help="skip the onnxruntime parity check")
            p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="full-reference, no-reference and LR-consistency metrics of SR outputs, with a report")
    p.add_argument("--input", action="append", help="folder of SR outputs (repeat to compare methods)")
    p.add_argument("--ref", help="folder of HR references (matched by file name)")
    p.add_argument("--lr", help="folder of the LR inputs (for lrc and the bicubic crops)")
    p.add_argument("--metrics", help=metrics_help())  # the names of lightsr.eval.metrics
    p.add_argument("--scale", type=int, help="the SR factor (default 4; with --benchmark, the model's)")
    p.add_argument("--y", action="store_true", help="full-reference metrics on the BT.601 Y channel")
    p.add_argument("--crop-border", type=int, help="pixels cropped on each side (default: the scale)")
    p.add_argument("--lrc-kernel", help="a .npy blur kernel for LR-consistency (default: MATLAB bicubic)")
    p.add_argument("--format", choices=["table", "csv", "json", "md"], default="table")
    p.add_argument("--report", help="write a self-contained HTML report here")
    p.add_argument("--title", default="lightsr evaluation")
    p.add_argument("--crops", type=int, default=6, help="images shown side by side in the report")
    p.add_argument("--weights-dir", help="folder of metric weight files (looked up first; see --offline)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--benchmark", help="paper-style table on standard sets: set5,set14,b100,urban100,manga109 (with --root)")
    p.add_argument("--root", help="folder holding the standard datasets as unpacked (Set5/, Set14/, B100/, ...)")
    p.add_argument("--model", help="with --benchmark: a .safetensors file, or a zoo name with --weights")
    p.add_argument("--weights", help="with --benchmark: the authors' checkpoint for a zoo name")
    p.add_argument("--random-init", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true")
    _add_max_pixels(p)
    _add_offline(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="what", required=True)
    p = bench.add_parser("models", help="params, MACs, latency, peak memory and the NTIRE score of zoo models")
    p.add_argument("--names", help="comma-separated model names (default: all at the scale)")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"), help="input size")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--baseline", help="a benchmarked model to score against (NTIRE 2024: rlfn)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_bench_models)

    p = sub.add_parser("demo", help="the main job on the embedded photos: blind x4 SR in two stages, evaluated, with a report")
    p.add_argument("--out", default="lightsr-demo")
    p.add_argument("--steps", type=int, help="stage 1 steps (default: the x4_blind_stage1_cpu recipe's; --classic: 3000)")
    p.add_argument("--gan-steps", type=int, help="stage 2 steps (default: the x4_blind_stage2_cpu recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faces", type=int, default=12, help="real LR faces to upscale and evaluate")
    p.add_argument("--workers", type=int, help="data loader workers (default: all cores but one; --classic: degrade workers)")
    p.add_argument("--weights-dir", help="folder of weight files (VGG16 for LPIPS and the perceptual loss, metrics)")
    p.add_argument("--no-debian", action="store_true", help="only scikit-image's photos")
    p.add_argument("--classic", action="store_true", help="the non-blind story: bicubic pairs, L1, SESR-M5")
    p.add_argument("--preset", default="realesrgan", help="--classic: degradation of the generated dataset")
    p.add_argument("--per-image", type=int, default=4, help="--classic: degraded samples per photo")
    p.add_argument("--quiet", action="store_true")
    _add_offline(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    from lightsr.weights_dir import set_offline

    args = build_parser().parse_args(argv)
    offline = getattr(args, "offline", False)
    previous = set_offline(True) if offline else None
    try:
        return args.func(args)
    except LightSRError as e:
        print(f"lightsr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lightsr {args.command}: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130
    finally:
        if offline:
            set_offline(previous)


if __name__ == "__main__":
    sys.exit(main())
