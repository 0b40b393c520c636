"""The command line: listing, inspection sheets, one-line errors; cheap package import."""

import subprocess
import sys

import numpy as np

from lightsr.cli import main
from lightsr.images import read_image, write_image


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("bicubic", "realesrgan", "bsrgan", "bsrgan_plus"):
        assert name in out
    assert main(["presets", "--show", "realesrgan"]) == 0
    assert "train_realesrgan_x4plus.yml" in capsys.readouterr().out


def test_inspect_writes_a_sheet(tmp_path, photo, capsys):
    src = tmp_path / "in.png"
    write_image(str(src), photo)
    out = tmp_path / "sheet.png"
    assert main(["inspect", "--preset", "realesrgan", "--input", str(src), "--output", str(out), "--samples", "3"]) == 0
    sheet, _ = read_image(out)
    assert sheet.shape[0] > 600 and sheet.shape[1] > 600
    assert sheet.std() > 0.1  # not blank: photos and kernels drawn on the dark background


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["inspect", "--preset", "nope", "--input", str(tmp_path / "x.png"), "--output", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown preset 'nope'" in err
    bad = tmp_path / "bad.yml"
    bad.write_text("lq:\n  - {op: gaussian_noise, sigma: [30, 1]}\n")
    assert main(["inspect", "--config", str(bad), "--input", str(tmp_path), "--output", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.yml: lq[0].sigma" in err


def test_importing_lightsr_is_cheap():
    code = "import sys, lightsr, lightsr.degrade; print(sorted(m for m in ('torch', 'basicsr', 'pyiqa') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_degrade_cli_on_a_folder(tmp_path, photo):
    src = tmp_path / "src"
    src.mkdir()
    write_image(str(src / "a.png"), photo)
    res = subprocess.run([sys.executable, "-m", "lightsr", "degrade", "--preset", "bsrgan", "--input", str(src), "--output",
                          str(tmp_path / "out"), "--workers", "0"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lr, _ = read_image(tmp_path / "out" / "lr" / "a.png")
    assert lr.shape == (64, 64, 3) and np.isfinite(lr).all()
