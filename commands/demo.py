"""``lightsr demo``: blind lightweight SR end to end on the photos that ship offline, on a small CPU.

1. the embedded photos (two held out) and an inspection sheet of the ``realesrgan`` degradation;
2. stage 1: a lightweight model trained with Charbonnier on pairs the preset makes on the fly;
3. stage 2: from stage 1's weights, Charbonnier + perceptual + adversarial (U-Net SN discriminator);
4. bicubic | stage 1 | stage 2 on a held-out synthetic blind set (the held-out photos degraded by
   the preset with a fixed seed: PSNR, SSIM, LPIPS against their HR) and on real low-resolution
   images (NIQE, PIQE, LR-consistency, and the noise left in the output); one HTML report.

The demo fails (exit 1) unless stage 2 beats bicubic on the blind set (PSNR and LPIPS) and on the
real images (mean NIQE, with no more noise than bicubic leaves: sharpened noise cannot pass).
``--classic`` runs the earlier non-blind story (bicubic pairs, L1, SESR-M5).
"""

import os
import shutil
import sys
import time

import numpy as np

from lightsr.eval.blind import BLIND_SAMPLES, BLIND_SEED, HELD_OUT

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
STAGE1 = os.path.join(CONFIGS, "x4_blind_stage1_cpu.yml")
STAGE2 = os.path.join(CONFIGS, "x4_blind_stage2_cpu.yml")


def copy_photos(out, include_debian):
    from lightsr.sample_data import photo_name, photo_paths

    src = os.path.join(out, "photos")
    os.makedirs(src, exist_ok=True)
    photos = photo_paths(include_debian=include_debian)
    for p in photos:
        dst = os.path.join(src, photo_name(p))
        if not os.path.exists(dst):
            shutil.copyfile(p, dst + ".part")
            os.replace(dst + ".part", dst)
    return src, photos


def upscale_folder(upscaler, src, dst, write_info=True):
    from lightsr.commands.evaluate import write_model_info
    from lightsr.images import list_images, read_image, write_image

    os.makedirs(dst, exist_ok=True)
    if write_info:
        write_model_info(upscaler.model, dst)
    for path in list_images(src):
        out, _ = upscaler.upscale(read_image(path)[0])
        write_image(os.path.join(dst, os.path.splitext(os.path.basename(path))[0] + ".png"), out)


def bicubic_folder(src, dst, scale):
    from lightsr.degrade.resize import imresize_matlab
    from lightsr.images import list_images, read_image, write_image

    os.makedirs(dst, exist_ok=True)
    for path in list_images(src):
        write_image(os.path.join(dst, os.path.basename(path)), np.clip(imresize_matlab(read_image(path)[0], scale), 0, 1))


def train_stage(recipe, overrides, label, quiet):
    """Train one stage; returns (model path, seconds)."""
    from lightsr.commands.common import loss_postfix, progress_bar
    from lightsr.trainers.config import load_config
    from lightsr.trainers.engine import Trainer

    cfg = load_config(recipe, overrides)
    bar, notices = None, []

    def events(kind, data):
        nonlocal bar
        if kind == "step" and not quiet:
            if bar is None:
                bar = progress_bar(data["total"], label, "step")
                bar.update(data["step"] - 1)
            bar.update(1)
            bar.set_postfix({**loss_postfix(data["losses"]), "wait": f"{100 * data['data_wait']:.0f}%"}, refresh=False)
        elif kind == "notice":
            notices.append(data["message"])
            print(f"      {data['message']}")

    start = time.perf_counter()
    trainer = Trainer(cfg, events=events)
    try:
        result = trainer.fit()
    finally:
        if bar:
            bar.close()
        trainer.close()
    return cfg, result["model"], time.perf_counter() - start, notices


def _gate(blind, real):
    """The demo's bar: stage 2 against bicubic. Returns the failures, one line each."""
    bic, s2 = blind[0], blind[2]
    rbic, rs2 = real[0], real[2]
    missing = [f"{m} of {r.name} was not measured (see the problems above)" for rs, ms in ((blind, ("psnr", "lpips")),
               (real, ("niqe", "noise"))) for r in (rs[0], rs[2]) for m in ms if r.mean(m) is None]
    if missing:
        return missing
    fails = []
    if not s2.mean("psnr") > bic.mean("psnr"):
        fails.append(f"blind set PSNR: stage 2 {s2.mean('psnr'):.2f} dB does not beat bicubic {bic.mean('psnr'):.2f} dB")
    if not s2.mean("lpips") < bic.mean("lpips"):
        fails.append(f"blind set LPIPS: stage 2 {s2.mean('lpips'):.4f} is not below bicubic {bic.mean('lpips'):.4f}")
    if not rs2.mean("niqe") < rbic.mean("niqe"):
        fails.append(f"real LR NIQE: stage 2 {rs2.mean('niqe'):.3f} is not below bicubic {rbic.mean('niqe'):.3f}")
    if not rs2.mean("noise") <= rbic.mean("noise"):
        fails.append(f"real LR noise: stage 2 leaves {rs2.mean('noise'):.2f} (0-255), more than bicubic's "
                     f"{rbic.mean('noise'):.2f}")
    return fails


def cmd_demo(args):
    if args.classic:
        from lightsr.commands.demo_classic import classic_demo

        return classic_demo(args)
    import torch

    from lightsr.commands.degrade import make_sheet
    from lightsr.eval.blind import evaluate, side_by_side, table, upscale_all, write_blind_set, write_real_set
    from lightsr.eval.report import build_report
    from lightsr.files import atomic_write_text
    from lightsr.threads import available_cores, plan_cpu_threads
    from lightsr.vgg16 import ensure_vgg16_source

    start, scale, out = time.perf_counter(), 4, args.out
    workers, threads = plan_cpu_threads(args.workers)  # the trainer takes the threads the workers leave
    src, photos = copy_photos(out, not args.no_debian)
    ensure_vgg16_source(args.weights_dir)  # LPIPS, and the perceptual loss offline (fetched once when missing)
    print(f"[1/5] {len(photos)} embedded photos in {src} ({', '.join(HELD_OUT)} held out); "
          f"{available_cores()} cores: {workers} loader worker(s), {threads} training thread(s)")
    make_sheet("realesrgan", photos[0], os.path.join(out, "inspect.png"), samples=6, seed=args.seed)
    print(f"      what the realesrgan preset does: {os.path.join(out, 'inspect.png')}")

    common = [f"output_root={os.path.join(out, 'runs')}", f"seed={args.seed}", f"data.workers={workers}", "device=cpu",
              f"data.hr={src}"]
    s1 = common + ([f"train.total_steps={args.steps}"] if args.steps else [])
    cfg1, model1, t1, _ = train_stage(STAGE1, s1, "stage 1", args.quiet)
    print(f"[2/5] stage 1: {cfg1.model.name}, Charbonnier, {cfg1.train.total_steps} steps in {t1:.0f} s -> {model1}")
    s2 = common + [f"model.pretrained={model1}"]
    s2 += [f"train.total_steps={args.gan_steps}"] if args.gan_steps else []
    cfg2, model2, t2, notices = train_stage(STAGE2, s2, "stage 2", args.quiet)
    network = "VGG16 in VGG19's places" if any("VGG16" in n for n in notices) else cfg2.train.perceptual.network
    print(f"[3/5] stage 2: + perceptual ({network}) + GAN ({cfg2.train.gan.discriminator}), "
          f"{cfg2.train.total_steps} steps in {t2:.0f} s -> {model2}")

    torch.set_num_threads(available_cores())  # no loader workers from here on
    print("[4/5] upscaling the held-out blind set and real low-resolution images")
    blind_dir, real_dir = os.path.join(out, "heldout"), os.path.join(out, "real")
    write_blind_set(src, blind_dir, scale)
    write_real_set(os.path.join(real_dir, "lr"), args.faces, not args.no_debian)
    methods = (("bicubic", None), ("stage1", model1), ("stage2", model2))
    for root in (blind_dir, real_dir):
        upscale_all(methods, root, scale)

    print("[5/5] evaluating")
    fr, blind, nr, real = evaluate(methods, blind_dir, real_dir, scale, args.weights_dir)
    columns = [(label, m) for label, (m, _) in zip(("bicubic", "stage 1", "stage 2"), methods)]
    blind_names = [r["image"] for r in blind[0].rows][::BLIND_SAMPLES // 2]
    real_names = sorted({r["image"] for r in real[0].rows}, key=lambda n: (not n.startswith(("clock", "mate")), n))[:8]
    total = time.perf_counter() - start
    sections = [
        {"title": "Held-out blind set (synthetic: the realesrgan preset on photos never trained on, with ground truth)",
         "methods": blind, "metrics": fr.metrics,
         "crops": side_by_side(blind_names, os.path.join(blind_dir, "lr"),
                               [(label, os.path.join(blind_dir, m)) for label, m in columns], os.path.join(blind_dir, "hr"),
                               scale, 192),
         "notes": [f"{', '.join(HELD_OUT)}, {BLIND_SAMPLES} degradations each (seed {BLIND_SEED}; replay them from "
                   "heldout/records.jsonl). PSNR / SSIM on the BT.601 luma, crop border 4; LPIPS (VGG, v0.1) on RGB."]},
        {"title": "Real low-resolution images (no ground truth)", "methods": real, "metrics": nr.metrics,
         "crops": side_by_side(real_names, os.path.join(real_dir, "lr"),
                               [(label, os.path.join(real_dir, m)) for label, m in columns], None, scale, 128),
         "notes": ["scikit-image's real 25x25 LFW faces and motion-blurred clock"
                   + ("" if args.no_debian else ", and the most detailed 128-px window of each of Debian's JPEG nature photos when installed")
                   + ". NIQE, PIQE: lower is better (no-reference scores can reward amplified noise, so read them beside "
                   "the crops and the noise column); lrc: PSNR between the output degraded back (MATLAB bicubic) and "
                   "its input; noise: scikit-image's estimate_sigma of the output at the input's size (0-255), "
                   "lower is cleaner."]},
    ]
    notes = [f"lightsr demo: {cfg1.model.name} x{scale}; stage 1 (Charbonnier) {cfg1.train.total_steps} steps in {t1:.0f} s, "
             f"stage 2 (+ perceptual + GAN) {cfg2.train.total_steps} steps in {t2:.0f} s, on "
             f"{len(photos) - len(HELD_OUT)} photos; {available_cores()} cores, {workers} loader worker(s), {threads} "
             f"training thread(s); {total:.0f} s in all."]
    fails = _gate(blind, real)
    notes.append("Bar (stage 2 against bicubic): " + ("passed" if not fails else "FAILED: " + "; ".join(fails)))
    report = os.path.join(out, "report.html")
    atomic_write_text(report, build_report("lightsr demo: blind x4 super-resolution", sections, nr.higher_is_better, notes))

    print("\n" + table(blind, fr.metrics, "held-out blind set") + "\n" + table(real, nr.metrics, "real LR images"))
    print(f"\nstages: stage 1 {t1:.0f} s, stage 2 {t2:.0f} s; total {time.perf_counter() - start:.0f} s\nreport: {report}")
    problems = [e for r in blind + real for e in r.errors]
    for p in problems:
        print(f"  problem: {p}", file=sys.stderr)
    for f in fails:
        print(f"lightsr demo: {f}", file=sys.stderr)
    return 1 if fails or problems else 0
