"""Weights on disk, the authors' checkpoints, ONNX export, and the upscale / models commands."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from lightsr.images import read_image_with_alpha
from lightsr.models import create_model
from lightsr.models.reparameterize import reparameterize
from lightsr.models.weights import load_model, load_official, save_model

# ---------------------------------------------------------------- the official checkpoints' layouts
# Key names and shapes as the authors' releases store them (Zheng222/IMDN, bytedance/RLFN,
# zhaohengyuan1/PAN, sunny2109/SAFMN, hongyuanyu/SPAN, xindongzhang/ECBSR, njulj/RFDN):
# written out here from those repositories, independently of lightsr's modules.


def conv(keys, name, out, inp, k, bias=True):
    keys[f"{name}.weight"] = (out, inp, k, k)
    if bias:
        keys[f"{name}.bias"] = (out,)


def imdn_layout(s):
    keys = {}
    conv(keys, "fea_conv", 64, 3, 3)
    for b in range(1, 7):
        p = f"IMDB{b}"
        conv(keys, f"{p}.c1", 64, 64, 3), conv(keys, f"{p}.c2", 64, 48, 3), conv(keys, f"{p}.c3", 64, 48, 3)
        conv(keys, f"{p}.c4", 16, 48, 3), conv(keys, f"{p}.c5", 64, 64, 1)
        conv(keys, f"{p}.cca.conv_du.0", 4, 64, 1), conv(keys, f"{p}.cca.conv_du.2", 64, 4, 1)
    conv(keys, "c.0", 64, 384, 1), conv(keys, "LR_conv", 64, 64, 3), conv(keys, "upsampler.0", 3 * s * s, 64, 3)
    return {f"module.{k}": v for k, v in keys.items()}  # the released files were saved from DataParallel


def rlfn_layout(s, nf=52):
    keys = {}
    conv(keys, "conv_1", nf, 3, 3)
    for b in range(1, 7):
        p = f"block_{b}"
        for c in ("c1_r", "c2_r", "c3_r"):
            conv(keys, f"{p}.{c}", nf, nf, 3)
        conv(keys, f"{p}.c5", nf, nf, 1)
        conv(keys, f"{p}.esa.conv1", 16, nf, 1), conv(keys, f"{p}.esa.conv_f", 16, 16, 1)
        conv(keys, f"{p}.esa.conv2", 16, 16, 3), conv(keys, f"{p}.esa.conv3", 16, 16, 3), conv(keys, f"{p}.esa.conv4", nf, 16, 1)
    conv(keys, "conv_2", nf, nf, 3), conv(keys, "upsampler.0", 3 * s * s, nf, 3)
    return keys


def pan_layout(s):
    keys = {}
    conv(keys, "conv_first", 40, 3, 3)
    for i in range(16):
        p = f"SCPA_trunk.{i}"
        conv(keys, f"{p}.conv1_a", 20, 40, 1, False), conv(keys, f"{p}.conv1_b", 20, 40, 1, False)
        conv(keys, f"{p}.k1.0", 20, 20, 3, False), conv(keys, f"{p}.PAConv.k2", 20, 20, 1)
        conv(keys, f"{p}.PAConv.k3", 20, 20, 3, False), conv(keys, f"{p}.PAConv.k4", 20, 20, 3, False)
        conv(keys, f"{p}.conv3", 40, 40, 1, False)
    conv(keys, "trunk_conv", 40, 40, 3), conv(keys, "upconv1", 24, 40, 3), conv(keys, "att1.conv", 24, 24, 1)
    conv(keys, "HRconv1", 24, 24, 3)
    if s == 4:
        conv(keys, "upconv2", 24, 24, 3), conv(keys, "att2.conv", 24, 24, 1), conv(keys, "HRconv2", 24, 24, 3)
    conv(keys, "conv_last", 3, 24, 3)
    return keys


def safmn_layout(s):
    keys = {}
    conv(keys, "to_feat", 36, 3, 3)
    for i in range(8):
        p = f"feats.{i}"
        for n in ("norm1", "norm2"):
            keys[f"{p}.{n}.weight"], keys[f"{p}.{n}.bias"] = (36,), (36,)
        for j in range(4):
            conv(keys, f"{p}.safm.mfr.{j}", 9, 1, 3)
        conv(keys, f"{p}.safm.aggr", 36, 36, 1), conv(keys, f"{p}.ccm.ccm.0", 72, 36, 3), conv(keys, f"{p}.ccm.ccm.2", 36, 72, 1)
    conv(keys, "to_img.0", 3 * s * s, 36, 3)
    return keys


def span_layout(s, deploy=False):
    keys = {}

    def conv3xc(p, cin):
        if not deploy:
            conv(keys, f"{p}.sk", 48, cin, 1), conv(keys, f"{p}.conv.0", 2 * cin, cin, 1)
            conv(keys, f"{p}.conv.1", 96, 2 * cin, 3), conv(keys, f"{p}.conv.2", 48, 96, 1)
        conv(keys, f"{p}.eval_conv", 48, cin, 3)

    conv3xc("conv_1", 3)
    for b in range(1, 7):
        for c in ("c1_r", "c2_r", "c3_r"):
            conv3xc(f"block_{b}.{c}", 48)
    conv3xc("conv_2", 48)
    conv(keys, "conv_cat", 48, 192, 1), conv(keys, "upsampler.0", 3 * s * s, 48, 3)
    return keys


def ecbsr_layout(s, m=4, c=8):
    keys = {}
    widths = [(1, c)] + [(c, c)] * m + [(c, s * s)]
    for j, (inp, out) in enumerate(widths):
        p = f"backbone.{j}"
        conv(keys, f"{p}.conv3x3", out, inp, 3)
        keys[f"{p}.conv1x1_3x3.k0"], keys[f"{p}.conv1x1_3x3.b0"] = (2 * out, inp, 1, 1), (2 * out,)
        keys[f"{p}.conv1x1_3x3.k1"], keys[f"{p}.conv1x1_3x3.b1"] = (out, 2 * out, 3, 3), (out,)
        for e in ("sbx", "sby", "lpl"):
            keys[f"{p}.conv1x1_{e}.k0"], keys[f"{p}.conv1x1_{e}.b0"] = (out, inp, 1, 1), (out,)
            keys[f"{p}.conv1x1_{e}.scale"], keys[f"{p}.conv1x1_{e}.bias"] = (out, 1, 1, 1), (out,)
            keys[f"{p}.conv1x1_{e}.mask"] = (out, 1, 3, 3)
        if j <= m:
            keys[f"{p}.act.weight"] = (out,)
    return keys


def rfdn_aim_layout():
    keys = {}
    conv(keys, "fea_conv", 50, 3, 3)
    for b in range(1, 5):
        p = f"B{b}"
        for i in (1, 2, 3):
            conv(keys, f"{p}.c{i}_d", 25, 50, 1), conv(keys, f"{p}.c{i}_r", 50, 50, 3)
        conv(keys, f"{p}.c4", 25, 50, 3), conv(keys, f"{p}.c5", 50, 100, 1)
        conv(keys, f"{p}.esa.conv1", 12, 50, 1), conv(keys, f"{p}.esa.conv_f", 12, 12, 1)
        for n in ("conv_max", "conv2", "conv3", "conv3_"):
            conv(keys, f"{p}.esa.{n}", 12, 12, 3)
        conv(keys, f"{p}.esa.conv4", 50, 12, 1)
    conv(keys, "c.0", 50, 200, 1), conv(keys, "LR_conv", 50, 50, 3), conv(keys, "upsampler.0", 48, 50, 3)
    return keys


def save_checkpoint(path, layout, wrap=None):
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(shape, generator=g) * 0.05 for k, shape in layout.items()}
    torch.save({wrap: state} if wrap else state, path)
    return {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}


@pytest.mark.parametrize("name,scale,layout,options,wrap", [
    ("imdn", 4, imdn_layout(4), {}, None),
    ("imdn", 2, imdn_layout(2), {}, None),
    ("rlfn", 4, rlfn_layout(4), {}, None),
    ("rlfn", 2, rlfn_layout(2, nf=48), {"feature_channels": 48}, None),
    ("pan", 4, pan_layout(4), {}, None),
    ("pan", 3, pan_layout(3), {}, None),
    ("safmn", 4, safmn_layout(4), {}, "params_ema"),
    ("span", 4, span_layout(4), {}, None),
    ("ecbsr_m4c8", 2, ecbsr_layout(2), {}, None),
    ("rfdn", 4, rfdn_aim_layout(), {"attention": "esa", "nf": 50, "num_modules": 4, "img_range": 255.0}, None),
])
def test_official_checkpoints_load_strictly(tmp_path, name, scale, layout, options, wrap):
    path = tmp_path / "official.pth"
    saved = save_checkpoint(path, layout, wrap)
    model = load_official(name, str(path), scale, **options)
    ours = model.state_dict()
    for k, v in ours.items():
        assert torch.equal(v, saved[k]), k
    dropped = set(saved) - set(ours)  # only what lightsr recomputes: SPAN's folded conv, ECBSR's fixed masks
    assert all(k.endswith((".eval_conv.weight", ".eval_conv.bias", ".mask")) for k in dropped)
    x = torch.rand(1, 1 if name.startswith("ecbsr") else 3, 16, 16)
    with torch.no_grad():
        assert model(x).shape[-1] == 16 * scale


def test_ecbsr_official_weights_run_on_0_255_luma(tmp_path):
    path = tmp_path / "ecbsr.pth"
    save_checkpoint(path, ecbsr_layout(2))
    assert load_official("ecbsr_m4c8", str(path), 2).img_range == 255.0


def test_deploy_form_checkpoint_loads_into_the_fused_model(tmp_path):
    path = tmp_path / "span_deploy.pth"
    save_checkpoint(path, span_layout(2, deploy=True))
    model = load_official("span", str(path), 2)
    assert not any(hasattr(m, "sk") for m in model.modules())


def test_a_wrong_checkpoint_is_refused_with_the_mismatched_keys(tmp_path):
    from lightsr.errors import ConfigError

    path = tmp_path / "wrong.pth"
    save_checkpoint(path, rlfn_layout(4))
    with pytest.raises(ConfigError, match="keys do not match imdn"):
        load_official("imdn", str(path), 4)


def test_checkpoints_with_code_are_not_unpickled(tmp_path):
    from lightsr.errors import LightSRError
    from lightsr.models.weights import read_checkpoint

    class Payload:
        def __reduce__(self):
            return (print, ("unpickled!",))

    path = tmp_path / "evil.pth"
    torch.save({"x": Payload()}, path)
    with pytest.raises(LightSRError, match="tensor-only"):
        read_checkpoint(str(path))


@pytest.mark.parametrize("name,scale,fuse", [("imdn", 2, False), ("span", 4, False), ("span", 4, True), ("sesr_m5", 2, True)])
def test_safetensors_roundtrip_recreates_the_model(tmp_path, name, scale, fuse):
    model = create_model(name, scale=scale).eval()
    if fuse:
        spec, model = model.lightsr_spec, reparameterize(model)
        model.lightsr_spec = spec
    path = str(tmp_path / "m.safetensors")
    save_model(model, path)
    loaded = load_model(path).eval()
    x = torch.rand(1, 1 if name.startswith("sesr") else 3, 12, 14)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


# ---------------------------------------------------------------- ONNX


@pytest.mark.parametrize("name,scale,size", [("espcn", 3, None), ("span", 4, None), ("ecbsr_m4c8", 2, None), ("imdn", 4, None),
                                             ("sesr_m3", 4, None), ("safmn", 2, (40, 48)), ("esrt", 2, (20, 24))])
def test_onnx_export_matches_pytorch(tmp_path, name, scale, size):
    pytest.importorskip("onnxruntime")
    from lightsr.models import model_info
    from lightsr.models.export import export_onnx, onnx_parity

    model = create_model(name, scale=scale).eval()
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, str(path), model_info(name).in_channels, size=size)
    sizes = (size,) if size else ((37, 45), (64, 48))
    assert onnx_parity(model, str(path), model_info(name).in_channels, sizes=sizes) < 1e-4


def test_models_that_need_a_fixed_size_say_so(tmp_path):
    from lightsr.errors import LightSRError
    from lightsr.models.export import export_onnx

    with pytest.raises(LightSRError, match="fixed input size"):
        export_onnx(create_model("safmn", scale=2), str(tmp_path / "s.onnx"))


# ---------------------------------------------------------------- commands


def lightsr(*args):
    return subprocess.run([sys.executable, "-m", "lightsr", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def images(tmp_path_factory, photo):
    d = tmp_path_factory.mktemp("upscale_in")
    u8 = np.rint(photo[:40, :48] * 255).astype(np.uint8)[:, :, ::-1]
    rgba = np.dstack([u8, np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))])
    cv2.imwrite(str(d / "rgba.png"), rgba)
    cv2.imwrite(str(d / "deep.png"), (photo[:40, :48, ::-1] * 65535).astype(np.uint16))
    cv2.imwrite(str(d / "gray.png"), u8[:, :, 0])
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return d


@pytest.mark.parametrize("name,scale", [("span", 2), ("espcn", 3)])
def test_upscale_command_keeps_alpha_and_bit_depth_and_reports_bad_files(tmp_path, images, name, scale):
    model_path = str(tmp_path / "m.safetensors")
    save_model(create_model(name, scale=scale), model_path)
    res = lightsr("upscale", "--model", model_path, "--input", str(images), "--output", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 1 and "broken.png" in res.stderr and "3 image(s) upscaled" in res.stdout
    rgb, alpha, info = read_image_with_alpha(str(tmp_path / "out" / "rgba.png"))
    assert rgb.shape == (40 * scale, 48 * scale, 3) and alpha is not None and info.channels == 4
    _, _, deep = read_image_with_alpha(str(tmp_path / "out" / "deep.png"))
    assert deep.bit_depth == 16


def test_tiled_upscale_equals_whole_image(tmp_path, images):
    model_path = str(tmp_path / "m.safetensors")
    save_model(create_model("espcn", scale=2), model_path)
    whole = lightsr("upscale", "--model", model_path, "--input", str(images / "deep.png"), "--output", str(tmp_path / "a"),
                    "--quiet")
    tiled = lightsr("upscale", "--model", model_path, "--input", str(images / "deep.png"), "--output", str(tmp_path / "b"),
                    "--tile", "16", "--tile-pad", "4", "--quiet")
    assert whole.returncode == tiled.returncode == 0
    a, _, _ = read_image_with_alpha(str(tmp_path / "a" / "deep.png"))
    b, _, _ = read_image_with_alpha(str(tmp_path / "b" / "deep.png"))
    # the same 16-bit output, up to a rounding of float noise at a level boundary (one level)
    assert np.abs(np.rint(a * 65535) - np.rint(b * 65535)).max() <= 1


def test_upscale_needs_trained_weights():
    res = lightsr("upscale", "--model", "imdn", "--input", ".", "--output", "/tmp/never")
    assert res.returncode == 2 and "--weights" in res.stderr


def test_models_command_lists_the_zoo_as_json():
    res = lightsr("models", "--format", "json")
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["imdn"]["params"] == 715_176 and rows["imdn"]["published_params"] == 715_000
    assert 40e9 < rows["imdn"]["macs_720p"] < 42e9
    assert rows["rfdn"]["faithful"].startswith("partial")
    assert rows["cfin"]["params"] == 698_826 and rows["cfin"]["params_all"] == 3_382_412  # torchsummaryX vs real
    assert not rows["lkasr"]["available"] and rows["lkasr"]["faithful"].startswith("no: ")


def test_export_command(tmp_path):
    pytest.importorskip("onnxruntime")
    res = lightsr("export", "--model", "ecbsr_m4c8", "--random-init", "--scale", "2", "--onnx", str(tmp_path / "e.onnx"))
    assert res.returncode == 0, res.stderr
    assert "max abs diff" in res.stdout
