"""``lightsr demo --classic``: the classical (non-blind) story on the photos that ship offline.

1. the embedded photos; a blind (realesrgan) degraded dataset of them and its inspection sheet;
2. training a lightweight model (the x4_bicubic_psnr_cpu recipe, SESR-M5) on the photos, two held out;
3. upscaling the held-out photos' bicubic LR and real low-resolution images (scikit-image's
   25x25 faces, its motion-blurred clock) with the model and with bicubic interpolation;
4. evaluation: Y-PSNR/SSIM on the held-out photos (the model must beat bicubic), NIQE, PIQE and
   LR-consistency on the real LR images; one HTML report.
"""

import os
import sys
import time

from lightsr.eval.blind import HELD_OUT
RECIPE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "x4_bicubic_psnr_cpu.yml")


def classic_demo(args):
    from lightsr.commands.degrade import make_sheet, run_degrade_job
    from lightsr.commands.demo import bicubic_folder, copy_photos, train_stage, upscale_folder
    from lightsr.commands.evaluate import report_crops
    from lightsr.degrade import load_pipeline
    from lightsr.degrade.generate import DegradeJob
    from lightsr.eval.evaluate import Evaluator
    from lightsr.eval.realsets import write_set
    from lightsr.eval.report import build_report
    from lightsr.files import atomic_write_text
    from lightsr.images import read_image, write_image
    from lightsr.models.inference import Upscaler
    from lightsr.models.weights import load_model

    start = time.perf_counter()
    out, scale = args.out, 4
    args.steps = args.steps or 3000
    args.workers = args.workers or os.cpu_count() or 1
    src, photos = copy_photos(out, not args.no_debian)
    print(f"[1/4] {len(photos)} embedded photos in {src}")

    # the degradation engine: a blind dataset of the training photos, and a look at what it does
    job = DegradeJob(input_dir=src, output_dir=os.path.join(out, "dataset"), pipeline=args.preset, scale=scale,
                     seed=args.seed, patch=256, per_image=args.per_image, workers=args.workers)
    summary = run_degrade_job(job, quiet=args.quiet)
    make_sheet(args.preset, photos[0], os.path.join(out, "inspect.png"), samples=6, seed=args.seed)
    print(f"      inspection sheet: {os.path.join(out, 'inspect.png')}")

    # training
    overrides = [f"train.total_steps={args.steps}", f"output_root={os.path.join(out, 'runs')}", f"seed={args.seed}",
                 f"data.hr={src}", f"val.hr={src}", f"val.every={max(args.steps // 3, 1)}",
                 f"checkpoint_every={max(args.steps // 3, 1)}", "device=cpu"]
    print(f"[2/4] training x{scale} for {args.steps} steps (recipe {os.path.basename(RECIPE)}, "
          f"{', '.join(HELD_OUT)} held out)")
    cfg, model_path, _, _ = train_stage(RECIPE, overrides, "train", args.quiet)
    model = load_model(model_path)
    print(f"      model: {model_path}")

    # upscaling: the held-out photos (synthetic bicubic LR, with HR) and real LR images (no HR)
    print("[3/4] upscaling held-out photos and real low-resolution images")
    held = os.path.join(out, "heldout")
    pipe = load_pipeline("bicubic", scale=scale)
    for d in ("hr", "lr"):
        os.makedirs(os.path.join(held, d), exist_ok=True)
    for name in HELD_OUT:
        hr = read_image(os.path.join(src, name))[0]
        hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
        lr, _ = pipe(hr, seed=args.seed, index=0)
        stem = os.path.splitext(name)[0]
        write_image(os.path.join(held, "hr", stem + ".png"), hr)
        write_image(os.path.join(held, "lr", stem + ".png"), lr)
    up = Upscaler(model)
    upscale_folder(up, os.path.join(held, "lr"), os.path.join(held, cfg.model.name))
    bicubic_folder(os.path.join(held, "lr"), os.path.join(held, "bicubic"), scale)
    real = os.path.join(out, "real")
    write_set("lfw_faces", os.path.join(real, "lr"), limit=args.faces)
    write_set("clock_motion", os.path.join(real, "lr"))
    upscale_folder(up, os.path.join(real, "lr"), os.path.join(real, cfg.model.name))
    bicubic_folder(os.path.join(real, "lr"), os.path.join(real, "bicubic"), scale)

    # evaluation
    print("[4/4] evaluating")
    fr = Evaluator(["psnr", "ssim"], scale=scale, y=True)
    synthetic = [fr.folder(os.path.join(held, m), os.path.join(held, "hr"), name=m) for m in ("bicubic", cfg.model.name)]
    nr = Evaluator(["niqe", "piqe", "lrc"], scale=scale, weights_dir=args.weights_dir)
    real_results = [nr.folder(os.path.join(real, m), lr_dir=os.path.join(real, "lr"), name=m) for m in ("bicubic", cfg.model.name)]
    sections = [
        {"title": "Held-out photos (synthetic x4 bicubic LR, with ground truth)", "methods": synthetic, "metrics": fr.metrics,
         "crops": report_crops(synthetic, os.path.join(held, "hr"), os.path.join(held, "lr"), scale, 2, 160),
         "notes": ["Y-PSNR / SSIM on the BT.601 luma, crop border 4, as the SR literature reports them."]},
        {"title": "Real low-resolution images (no ground truth)", "methods": real_results, "metrics": nr.metrics,
         "crops": report_crops(real_results, None, os.path.join(real, "lr"), scale, 4, 100),
         "notes": ["scikit-image's real 25x25 LFW faces and its motion-blurred clock photo. NIQE and PIQE: lower is "
                   "better; lrc: PSNR between the output degraded back (MATLAB bicubic) and its input, higher is better."]},
    ]
    report = os.path.join(out, "report.html")
    notes = [f"lightsr demo: {cfg.model.name} x{scale} trained {args.steps} steps on {len(photos) - len(HELD_OUT)} photos "
             f"in {time.perf_counter() - start:.0f} s on this machine."]
    atomic_write_text(report, build_report("lightsr demo", sections, nr.higher_is_better, notes))

    bic, ours = synthetic[0].mean("psnr"), synthetic[1].mean("psnr")
    print(f"\nheld-out photos, x4 Y-PSNR: bicubic {bic:.2f} dB, {cfg.model.name} {ours:.2f} dB ({ours - bic:+.2f} dB)")
    print(f"                 SSIM:      bicubic {synthetic[0].mean('ssim'):.4f}, {cfg.model.name} {synthetic[1].mean('ssim'):.4f}")
    for r in real_results:
        print(f"real LR ({len(r.rows)} images), {r.name}: " + ", ".join(f"{m} {r.mean(m):.3f}" for m in nr.metrics))
    print(f"report: {report}\ndataset: {os.path.join(out, 'dataset')} ({summary.written + summary.already_done} pairs)\n"
          f"total {time.perf_counter() - start:.0f} s")
    problems = [e for r in synthetic + real_results for e in r.errors] + list(summary.failed.values())
    for p in problems:
        print(f"  problem: {p}", file=sys.stderr)
    if not ours > bic:
        print(f"the trained model does not beat bicubic ({ours:.2f} <= {bic:.2f} dB)", file=sys.stderr)
        return 1
    return 1 if problems else 0
