"""The blind model that ships inside the package: listed, loadable by name with no download, and
better than bicubic on photos it never trained on, degraded by the realesrgan preset."""

import json
import os
import subprocess
import sys

import numpy as np

from lightsr.models.pretrained import SHIPPED


def test_every_shipped_model_has_weights_and_a_card():
    for m in SHIPPED.values():
        assert os.path.isfile(m.weights), m.weights
        card = m.card()
        for key in ("architecture", "recipe", "training data", "steps", "hardware", "training time",
                    "held-out blind set", "real LR images"):
            assert key in card, (m.name, key)
        assert "blind" in m.name or "blind" in m.description


def test_models_json_marks_shipped_weights():
    res = subprocess.run([sys.executable, "-m", "lightsr", "models", "--format", "json"], capture_output=True, text=True,
                         timeout=300)
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["blind_abpn_x4"]["shipped_weights"] is True and "blind" in rows["blind_abpn_x4"]["description"]
    show = subprocess.run([sys.executable, "-m", "lightsr", "models", "--show", "blind_abpn_x4"], capture_output=True,
                          text=True, timeout=120)
    assert show.returncode == 0 and "held-out blind set" in show.stdout and "recipe" in show.stdout


def test_upscale_by_name_after_install(tmp_path):
    from lightsr.images import read_image, write_image
    from lightsr.sample_data import skimage_data_dir

    photo = read_image(os.path.join(skimage_data_dir(), "coffee.png"))[0][100:164, 200:264]
    write_image(tmp_path / "photo.jpg", photo)
    res = subprocess.run([sys.executable, "-m", "lightsr", "upscale", "--model", "blind_abpn_x4", "--input",
                          str(tmp_path / "photo.jpg"), "--output", str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert read_image(tmp_path / "out" / "photo.png")[0].shape == (256, 256, 3)


def test_shipped_blind_model_beats_bicubic_on_held_out_photos():
    """astronaut and coffee were held out of its training; fresh degradations (a seed the card does not use)."""
    from lightsr.degrade import load_pipeline
    from lightsr.degrade.resize import imresize_matlab
    from lightsr.eval.fullref import psnr
    from lightsr.images import read_image
    from lightsr.models.inference import Upscaler
    from lightsr.models.pretrained import load_shipped
    from lightsr.sample_data import skimage_data_dir

    up, pipe = Upscaler(load_shipped("blind_abpn_x4")), load_pipeline("realesrgan", scale=4)
    gains = []
    for k, name in enumerate(("astronaut.png", "coffee.png")):
        hr = read_image(os.path.join(skimage_data_dir(), name))[0][:256, :256]
        for i in range(4):
            lr = pipe.run(np.ascontiguousarray(hr), seed=7, index=10 * k + i).lr
            gains.append(psnr(up.upscale(lr)[0], hr, 4, True) - psnr(np.clip(imresize_matlab(lr, 4), 0, 1), hr, 4, True))
    assert np.mean(gains) > 0, gains
