"""The main job (README command 1), shortened: degrade, train, upscale, evaluate, report."""

import subprocess
import sys


def test_demo_end_to_end_beats_bicubic(tmp_path):
    out = tmp_path / "demo"
    res = subprocess.run([sys.executable, "-m", "lightsr", "demo", "--out", str(out), "--steps", "400", "--faces", "2",
                          "--no-debian", "--per-image", "1", "--quiet"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    line = next(x for x in res.stdout.splitlines() if "x4 Y-PSNR" in x)
    bicubic = float(line.split("bicubic ")[1].split(" dB")[0])
    ours = float(line.split("sesr_m5 ")[1].split(" dB")[0])
    assert ours > bicubic
    for path in ("report.html", "inspect.png", "dataset/records.jsonl", "runs/x4_bicubic_psnr_cpu/model.safetensors",
                 "heldout/sesr_m5/astronaut.png", "real/sesr_m5/clock_motion.png"):
        assert (out / path).exists(), path
    html = (out / "report.html").read_text()
    assert "Held-out photos" in html and "Real low-resolution images" in html and "niqe" in html
