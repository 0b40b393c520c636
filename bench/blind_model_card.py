"""The model card of a trained blind x4 model: bicubic and the model side by side on the held-out
blind set (PSNR / SSIM / LPIPS against the HR) and on the real LR images (NIQE, PIQE,
LR-consistency, output noise), with the run's recipe, data, steps and time, written as JSON.

    python bench/blind_model_card.py --model runs/x4_blind_release_cpu/model.safetensors \\
        --run runs/x4_blind_release_cpu --out models/pretrained/blind_abpn_x4.json [--work /tmp/card]

The anchor (bicubic) and the model are measured in the same run, on the same images.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile


def _run_facts(run):
    """Recipe facts of a training run folder: its config, steps and wall time (config.yml written at
    the start, model.safetensors at the end)."""
    import yaml

    with open(os.path.join(run, "config.yml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    start = os.path.getmtime(os.path.join(run, "config.yml"))
    end = os.path.getmtime(os.path.join(run, "model.safetensors"))
    return cfg, end - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a .safetensors file written by lightsr, or a shipped model name")
    p.add_argument("--run", help="the training run folder (config.yml, model.safetensors) for the recipe facts")
    p.add_argument("--out", help="write the card here (JSON)")
    p.add_argument("--work", help="folder for the images (default: a temporary one)")
    p.add_argument("--faces", type=int, default=12)
    p.add_argument("--hardware", default=f"{platform.machine()} CPU, {os.cpu_count()} cores")
    p.add_argument("--looked-at", help="what the crops show beside the numbers (a person's words, kept in the card)")
    args = p.parse_args(argv)

    import torch

    from lightsr.commands.models import resolve_model
    from lightsr.eval.blind import BLIND_SAMPLES, BLIND_SEED, HELD_OUT, evaluate, table, upscale_all, write_blind_set, write_real_set
    from lightsr.models.complexity import count_params
    from lightsr.models.weights import save_model
    from lightsr.sample_data import photo_name, photo_paths, skimage_data_dir

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    work = args.work or tempfile.mkdtemp(prefix="lightsr-card-")
    model = resolve_model(args.model)
    path = args.model
    if not os.path.isfile(path):  # a shipped name: evaluate its file
        path = os.path.join(work, "model.safetensors")
        save_model(model, path)
    blind_dir, real_dir = os.path.join(work, "heldout"), os.path.join(work, "real")
    write_blind_set(skimage_data_dir(), blind_dir, 4)
    write_real_set(os.path.join(real_dir, "lr"), args.faces, True)
    methods = (("bicubic", None), ("model", path))
    for root in (blind_dir, real_dir):
        upscale_all(methods, root, 4)
    fr, blind, nr, real = evaluate(methods, blind_dir, real_dir, 4)
    print(table(blind, fr.metrics, "held-out blind set") + "\n" + table(real, nr.metrics, "real LR images"))

    spec = model.lightsr_spec
    card = {"architecture": f"{spec['name']} x{spec['scale']}, {count_params(model):,} parameters, options {spec['options']}"}
    if args.run:
        cfg, seconds = _run_facts(args.run)
        d, t = cfg["data"], cfg["train"]
        names = sorted(photo_name(q) for q in photo_paths())
        used = [n for n in names if n not in set(d.get("exclude", []))] if d["hr"] == "embedded" else [d["hr"]]
        card.update({
            "recipe": f"configs/{cfg['name']}.yml",
            "losses": {k: v for k, v in t.items() if k in ("pixel", "perceptual", "gan") and v.get("weight", 0) > 0},
            "training data": f"{len(used)} photos ({d['hr']}: {', '.join(used)}), degraded on the fly by the "
                             f"{d['pipeline']} preset, {d['patch']}-px HR patches, batch {d['batch']}",
            "steps": t["total_steps"], "optimizer": t["optimizer"], "ema": t.get("ema"),
            "hardware": args.hardware, "training time": f"{seconds / 60:.0f} min (wall, shared machine)"})
    card["held-out blind set"] = {
        "what": f"{', '.join(HELD_OUT)} (never trained on), {BLIND_SAMPLES} realesrgan degradations each, seed {BLIND_SEED}; "
                "Y-PSNR/SSIM (crop 4), LPIPS on RGB, against the HR",
        **{r.name: {m: round(r.mean(m), 4) for m in fr.metrics} for r in blind},
        "psnr gain over bicubic (dB)": round(blind[1].mean("psnr") - blind[0].mean("psnr"), 3)}
    card["real LR images"] = {
        "what": f"{len(real[0].rows)} images: scikit-image's LFW faces and clock_motion, the most detailed 128-px window of each of mate-backgrounds' "
                "JPEG photos when installed; NIQE/PIQE lower is better, lrc higher, noise (0-255, at the input's size) lower",
        **{r.name: {m: round(r.mean(m), 4) for m in nr.metrics} for r in real}}
    if args.looked_at:
        card["looked at"] = args.looked_at
    card["measured"] = f"{datetime.date.today().isoformat()}, {args.hardware}, python bench/blind_model_card.py"
    text = json.dumps(card, indent=1)
    if args.out:
        from lightsr.files import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
