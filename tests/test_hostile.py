"""Hostile inputs and conditions (issue #14): every failure is one line naming the file, key or op; nothing is
lost or corrupted."""

import json
import os
import pickle
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest

from lightsr.cli import main
from lightsr.errors import ImageError, LightSRError
from lightsr.images import MAX_PIXELS, read_header, read_image, read_image_with_alpha, write_image

# ---------------------------------------------------------------- jobs and training (weights metadata)


def test_model_metadata_options_are_bounded(tmp_path):
    """A .safetensors whose metadata asks for a huge network is refused before anything is allocated."""
    from safetensors import safe_open
    from safetensors.torch import save

    from lightsr.errors import LightSRError
    from lightsr.models import create_model
    from lightsr.models.weights import load_model, save_model

    good = tmp_path / "espcn.safetensors"
    save_model(create_model("espcn", scale=4), str(good))
    with safe_open(str(good), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    bad = tmp_path / "hostile.safetensors"
    for change, message in (({"options": '{"m": 100000000}'}, r"metadata options\.m = 100000000 is refused"),
                            ({"options": '{"depths": [' + ",".join(["1"] * 1000) + "]}"}, r"metadata options\.depths is refused"),
                            ({"options": "[" * 100000}, "metadata options is not valid JSON"),
                            ({"scale": "100000"}, "metadata scale = 100000 is refused"),
                            ({"options": '{"no_such_option": 3}'}, "metadata does not make a model")):
        bad.write_bytes(save(tensors, metadata={**meta, **change}))
        with pytest.raises(LightSRError, match=f"^{bad}: {message}") as info:
            load_model(str(bad))
        assert "\n" not in str(info.value)
    assert load_model(str(good)).lightsr_spec["name"] == "espcn"


# ================================================================ images, commands and weight files
# Image bombs are crafted headers over a few bytes of data: nothing here allocates what they claim.


# ---------------------------------------------------------------- crafted files


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width, height, bit_depth=8, color_type=2):
    """A valid-looking PNG whose header claims width x height; one row of data follows."""
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    row = b"\0" + bytes((width * bit_depth * channels + 7) // 8)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(row)) + _chunk(b"IEND", b""))


def _encoded(ext, shape=(24, 32, 3), params=()):
    img = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return bytearray(buf.tobytes())


def jpeg_bomb(width, height):
    data = _encoded(".jpg")
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    struct.pack_into(">HH", data, pos + 5, height, width)
    return bytes(data)


def bmp_bomb(width, height):
    data = _encoded(".bmp")
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def tiff_bomb(width, height):
    data = _encoded(".tif")
    e = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack_from(e + "I", data, 4)[0]
    for k in range(struct.unpack_from(e + "H", data, ifd)[0]):
        pos = ifd + 2 + 12 * k
        tag, kind = struct.unpack_from(e + "HH", data, pos)
        if tag in (256, 257):
            value = width if tag == 256 else height
            if kind == 3:
                struct.pack_into(e + "H", data, pos + 8, min(value, 65535))
            else:
                struct.pack_into(e + "I", data, pos + 8, value)
    return bytes(data)


def webp_bomb(width, height):
    data = _encoded(".webp", params=(cv2.IMWRITE_WEBP_QUALITY, 101))  # lossless: a VP8L chunk
    assert data[12:16] == b"VP8L"
    bits = (width - 1) | ((height - 1) << 14) | (struct.unpack_from("<I", data, 21)[0] & ~((1 << 28) - 1))
    struct.pack_into("<I", data, 21, bits)
    return bytes(data)


def pnm_bomb(width, height):
    return f"P6\n# crafted\n{width} {height}\n255\n".encode() + bytes(64)


def exif_app1(orientation):
    """An EXIF APP1 segment holding only the orientation tag (big-endian TIFF structure)."""
    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0))
    return b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff


def lightsr(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lightsr", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=300)


def one_line_per(stderr, *names):
    """Each name appears on exactly one stderr line, and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    for name in names:
        assert sum(name in line for line in lines) == 1, (name, stderr)


# ---------------------------------------------------------------- images: bombs, limits, bad samples


@pytest.mark.parametrize("make,fmt", [(png_bomb, "png"), (jpeg_bomb, "jpeg"), (bmp_bomb, "bmp"), (tiff_bomb, "tiff"),
                                      (webp_bomb, "webp"), (pnm_bomb, "pnm")])
def test_image_bombs_are_refused_from_their_header(tmp_path, make, fmt):
    w, h = (16384, 16384) if fmt == "webp" else (60000, 60000)
    path = tmp_path / f"bomb.{fmt}"
    path.write_bytes(make(w, h))
    header = read_header(path.read_bytes())
    assert (header.format, header.width, header.height) == (fmt, w, h)
    start = time.monotonic()
    with pytest.raises(ImageError, match=r"more than the limit") as e:
        read_image(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert time.monotonic() - start < 1


def test_a_small_1bit_png_claiming_a_gigapixel_is_refused(tmp_path):
    path = tmp_path / "bits.png"
    path.write_bytes(png_bomb(32000, 32000, bit_depth=1, color_type=0))  # as a file of zeros it would be 124 KB
    with pytest.raises(ImageError, match=r"bits.png: is 32000x32000 \(1,024 MP\), more than the limit of 134 MP"):
        read_image(path)


def test_the_pixel_limit_is_an_argument(tmp_path, photo):
    path = str(tmp_path / "p.png")
    write_image(path, photo)  # 256 x 256 = 65,536 pixels
    with pytest.raises(ImageError, match="more than the limit"):
        read_image(path, max_pixels=65_535)
    assert read_image(path, max_pixels=65_536)[0].shape == (256, 256, 3)
    assert read_image(path, max_pixels=0)[0].shape == (256, 256, 3)  # 0: no limit of lightsr's own
    assert 100e6 <= MAX_PIXELS <= 200e6


def test_decoder_failures_and_memory_errors_are_image_errors(tmp_path, monkeypatch, photo):
    path = str(tmp_path / "p.png")
    write_image(path, photo)

    def out_of_memory(*_):
        raise MemoryError

    monkeypatch.setattr(cv2, "imdecode", out_of_memory)
    with pytest.raises(ImageError, match="p.png: does not fit in memory"):
        read_image(path)

    def opencv_error(*_):
        raise cv2.error("OpenCV(5.1) imgcodecs: something broke")

    monkeypatch.setattr(cv2, "imdecode", opencv_error)
    with pytest.raises(ImageError, match="p.png: OpenCV cannot decode it"):
        read_image(path)


def test_a_broken_header_is_an_image_error(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\xff\xd9")  # no frame header
    with pytest.raises(ImageError, match="cut.jpg: not a readable image"):
        read_image(path)


def test_a_float_tiff_of_nan_is_a_bad_file(tmp_path):
    path = str(tmp_path / "nan.tif")
    arr = np.full((8, 8, 3), np.nan, np.float32)
    arr[0, 0] = 0.5
    assert cv2.imwrite(path, arr)
    with pytest.raises(ImageError, match="nan.tif: holds 189 NaN or infinite"):
        read_image(path)
    arr = np.full((8, 8, 3), 0.25, np.float32)
    assert cv2.imwrite(path, arr)
    assert np.allclose(read_image(path)[0], 0.25)


# ---------------------------------------------------------------- EXIF orientation


def _pil_upright(path):
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB")).astype(np.float32) / 255.0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_is_honoured_as_pil_does(tmp_path, orientation):
    pytest.importorskip("PIL")
    plain = bytes(_encoded(".jpg", (20, 36, 3), (cv2.IMWRITE_JPEG_QUALITY, 100)))
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(plain[:2] + exif_app1(orientation) + plain[2:])  # the APP1 segment right after SOI
    assert read_header(path.read_bytes()).orientation == orientation
    ours = read_image(path)[0]
    theirs = _pil_upright(path)
    assert ours.shape == theirs.shape == ((20, 36, 3) if orientation < 5 else (36, 20, 3))
    assert np.abs(ours - theirs).max() < 2 / 255


@pytest.mark.parametrize("ext", [".png", ".webp", ".tif"])
def test_exif_orientation_of_other_formats(tmp_path, ext):
    PIL = pytest.importorskip("PIL.Image")
    arr = (np.random.default_rng(1).random((20, 36, 3)) * 255).astype(np.uint8)
    im = PIL.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6
    path = tmp_path / f"o6{ext}"
    im.save(path, exif=exif.tobytes(), **({"lossless": True} if ext == ".webp" else {}))
    upright = np.rot90(arr, k=-1).astype(np.float32) / 255  # orientation 6: turn 90 degrees clockwise
    assert np.abs(_pil_upright(path) - upright).max() == 0
    assert np.abs(read_image(path)[0] - upright).max() < 1e-6


def test_exif_orientation_turns_the_alpha_too(tmp_path):
    arr = (np.random.default_rng(2).random((20, 36, 4)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", arr)
    data = buf.tobytes()
    tiff = exif_app1(8)[10:]  # the TIFF structure of the EXIF block, as a PNG eXIf chunk holds it
    path = tmp_path / "o8.png"
    path.write_bytes(data[:33] + _chunk(b"eXIf", tiff) + data[33:])  # after IHDR
    rgb, alpha, _ = read_image_with_alpha(path)
    upright = np.rot90(arr, k=1).astype(np.float32) / 255  # orientation 8: 90 degrees counter-clockwise
    assert np.abs(rgb - upright[..., 2::-1]).max() < 1e-6 and np.abs(alpha[..., 0] - upright[..., 3]).max() < 1e-6


# ---------------------------------------------------------------- commands: bad files are one line, the job goes on


@pytest.fixture
def hostile_folder(tmp_path, photo):
    d = tmp_path / "in"
    d.mkdir()
    write_image(str(d / "good.png"), photo[:64, :64])
    (d / "bomb.png").write_bytes(png_bomb(60000, 60000))
    (d / "bits.png").write_bytes(png_bomb(32000, 32000, bit_depth=1, color_type=0))
    assert cv2.imwrite(str(d / "nan.tif"), np.full((16, 16, 3), np.nan, np.float32))
    write_image(str(d / "tiny.png"), photo[:1, :1])
    return d


def test_degrade_reports_bad_files_and_carries_on(tmp_path, hostile_folder):
    res = lightsr("degrade", "--preset", "bicubic", "--input", str(hostile_folder), "--output", str(tmp_path / "out"),
                  "--workers", "0", "--quiet")
    assert res.returncode == 1
    one_line_per(res.stderr, "bomb.png", "bits.png", "nan.tif", "tiny.png")
    assert "1 pairs written" in res.stdout and "4 input(s) failed" in res.stdout
    assert (tmp_path / "out" / "lr" / "good.png").exists()


def test_degrade_max_pixels_option(tmp_path, photo):
    d = tmp_path / "in"
    d.mkdir()
    write_image(str(d / "a.png"), photo[:64, :64])
    res = lightsr("degrade", "--preset", "bicubic", "--input", str(d), "--output", str(tmp_path / "out"), "--workers", "0",
                  "--quiet", "--max-pixels", "4000")
    assert res.returncode == 1 and "a.png: is 64x64" in res.stderr and "more than the limit" in res.stderr


def test_upscale_reports_bad_files_and_carries_on(tmp_path, hostile_folder):
    res = lightsr("upscale", "--model", "rlfn", "--random-init", "--scale", "2", "--input", str(hostile_folder),
                  "--output", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 1
    one_line_per(res.stderr, "bomb.png", "bits.png", "nan.tif", "tiny.png")
    assert "tiny.png: is 1x1, too small for rlfn" in res.stderr
    assert "1 image(s) upscaled" in res.stdout and "4 failed" in res.stdout
    assert (tmp_path / "out" / "good.png").exists()


def test_eval_reports_bad_files_and_carries_on(tmp_path, hostile_folder):
    res = lightsr("eval", "--input", str(hostile_folder), "--metrics", "piqe", "--quiet", "--format", "csv",
                  "--weights-dir", str(tmp_path / "w"))
    assert res.returncode == 1
    one_line_per(res.stderr, "bomb.png", "bits.png", "nan.tif", "tiny.png")
    assert "tiny.png: piqe failed (is 1x1, probably too small" in res.stderr
    rows = res.stdout.strip().splitlines()
    assert rows[1].startswith("in,good,") and len(rows) == 3  # header, good, mean


def test_eval_crop_border_on_tiny_images(tmp_path, photo):
    sr, ref = tmp_path / "sr", tmp_path / "ref"
    sr.mkdir()
    ref.mkdir()
    for d in (sr, ref):
        write_image(str(d / "t.png"), photo[:3, :3])
        write_image(str(d / "ok.png"), photo[:32, :32])
    res = lightsr("eval", "--input", str(sr), "--ref", str(ref), "--metrics", "psnr", "--quiet")
    assert res.returncode == 1
    one_line_per(res.stderr, "t.png")
    assert "t.png: psnr: is 3x3: nothing is left after cropping 4 pixels per side" in res.stderr


def test_inspect_refuses_bad_inputs_and_outputs_in_one_line(tmp_path, hostile_folder, capsys):
    def inspect(src, out, *extra):
        code = main(["inspect", "--preset", "bicubic", "--input", str(src), "--output", str(out), "--samples", "1", *extra])
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err
        return code, err

    sheet = tmp_path / "s.png"
    for name, expected in (("bomb.png", "more than the limit"), ("bits.png", "more than the limit"),
                           ("nan.tif", "NaN"), ("tiny.png", "is 1x1, too small for inspect")):
        code, err = inspect(hostile_folder / name, sheet)
        assert code == 2 and name in err and expected in err
    code, err = inspect(hostile_folder / "good.png", tmp_path / "s.txt")
    assert code == 2 and "s.txt: unsupported sheet extension '.txt'" in err
    code, err = inspect(hostile_folder / "good.png", tmp_path)
    assert code == 2 and "unsupported sheet extension" in err
    code, err = inspect(hostile_folder / "good.png", sheet, "--max-pixels", "100")
    assert code == 2 and "good.png: is 64x64" in err
    assert not sheet.exists()


# ---------------------------------------------------------------- upscale: collisions, existing outputs, --output


def test_upscale_name_collisions_fail_and_existing_outputs_are_skipped(tmp_path, photo):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_image(str(src / "a.jpg"), photo[:16, :16])
    write_image(str(src / "a.png"), photo[16:32, :16])
    write_image(str(src / "b.png"), photo[:16, :16])
    out.mkdir()
    (out / "b.png").write_bytes(b"mine")
    args = ("upscale", "--model", "espcn", "--random-init", "--scale", "2", "--input", str(src), "--output", str(out), "--quiet")
    res = lightsr(*args)
    assert res.returncode == 1
    one_line_per(res.stderr, "a.jpg: ", "a.png: ")
    assert "would all be written as a.png" in res.stderr and "skipped: " + str(out / "b.png") in res.stderr
    assert "0 image(s) upscaled" in res.stdout and "1 skipped" in res.stdout and "2 failed" in res.stdout
    assert not (out / "a.png").exists() and (out / "b.png").read_bytes() == b"mine"
    (src / "a.jpg").unlink()
    res = lightsr(*args, "--overwrite")
    assert res.returncode == 0, res.stderr
    assert "2 image(s) upscaled" in res.stdout and read_image(out / "b.png")[0].shape == (32, 32, 3)


def test_eval_names_files_that_share_a_name(tmp_path, photo):
    sr = tmp_path / "sr"
    sr.mkdir()
    write_image(str(sr / "a.jpg"), photo[:32, :32])
    write_image(str(sr / "a.png"), photo[:32, :32])
    res = lightsr("eval", "--input", str(sr), "--metrics", "piqe", "--quiet", "--weights-dir", str(tmp_path / "w"))
    assert res.returncode == 1
    assert "a.jpg, a.png share the name a; only a.png was evaluated" in res.stderr


def test_upscale_output_that_is_a_file(tmp_path, photo):
    write_image(str(tmp_path / "a.png"), photo[:16, :16])
    (tmp_path / "out").write_text("a file")
    res = lightsr("upscale", "--model", "espcn", "--random-init", "--input", str(tmp_path / "a.png"),
                  "--output", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
    assert "out: --output must be a folder" in res.stderr


def test_upscale_unwritable_output_is_one_line(tmp_path, photo, monkeypatch, capsys):
    write_image(str(tmp_path / "a.png"), photo[:16, :16])

    def read_only(*_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("lightsr.commands.evaluate.write_model_info", read_only)
    code = main(["upscale", "--model", "espcn", "--random-init", "--input", str(tmp_path / "a.png"),
                 "--output", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "out: cannot write lightsr-model.json (Permission denied)" in err


# ---------------------------------------------------------------- eval --format json


def test_eval_json_is_valid_with_infinite_psnr(tmp_path, photo):
    sr, ref = tmp_path / "sr", tmp_path / "ref"
    sr.mkdir()
    ref.mkdir()
    for d in (sr, ref):
        write_image(str(d / "same.png"), photo[:32, :32])
    res = lightsr("eval", "--input", str(sr), "--ref", str(ref), "--metrics", "psnr,ssim", "--format", "json", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "Infinity" not in res.stdout and "NaN" not in res.stdout

    def strict(token):
        raise ValueError(token)

    data = json.loads(res.stdout, parse_constant=strict)
    row = data[0]["images"][0]
    assert row["psnr"] is None and row["nonfinite"] == {"psnr": "inf"} and row["ssim"] == pytest.approx(1.0)


# ---------------------------------------------------------------- weight files: tensors only, offline switch


class _Payload:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil(path, marker, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(_Payload(str(marker)), f, protocol=protocol)


@pytest.fixture
def clean_weight_dirs(tmp_path, monkeypatch):
    """No weight folder of the user's is seen; pyiqa's cache is a fresh folder."""
    from pyiqa.utils import download_util

    monkeypatch.delenv("LIGHTSR_WEIGHTS", raising=False)
    monkeypatch.delenv("LIGHTSR_OFFLINE", raising=False)
    monkeypatch.setattr("lightsr.weights_dir.DEFAULT", str(tmp_path / "default"))
    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(tmp_path / "pyiqa-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path


@pytest.mark.parametrize("protocol", [2, 4])
def test_pickled_code_in_a_metric_weight_file_never_runs(clean_weight_dirs, photo, capsys, protocol):
    tmp = clean_weight_dirs
    wd, lr = tmp / "wd", tmp / "lr"
    wd.mkdir()
    lr.mkdir()
    write_image(str(lr / "a.png"), photo[:64, :64])
    marker = tmp / "MARKER"
    _evil(wd / "brisque_svm_weights.pth", marker, protocol)
    code = main(["eval", "--input", str(lr), "--metrics", "brisque", "--weights-dir", str(wd), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert not marker.exists()
    assert code == 2 and "\n" not in err
    assert str(wd / "brisque_svm_weights.pth") in err and "may contain code" in err


def test_verify_tensors_only(tmp_path):
    import torch
    from safetensors.torch import save_file

    from lightsr.weights_dir import verify_tensors_only

    ok = tmp_path / "ok.pth"
    torch.save({"w": torch.ones(2), "n": 3, "sv": np.arange(4.0)}, ok)
    assert verify_tensors_only(str(ok)) == str(ok)
    save_file({"w": torch.ones(2)}, str(tmp_path / "ok.safetensors"))
    verify_tensors_only(str(tmp_path / "ok.safetensors"))
    np.savez(tmp_path / "ok.npz", a=np.ones(3))
    verify_tensors_only(str(tmp_path / "ok.npz"))
    marker = tmp_path / "MARKER"
    _evil(tmp_path / "bad.pth", marker)
    with pytest.raises(LightSRError, match="bad.pth: refused: it is not tensors-only and may contain code"):
        verify_tensors_only(str(tmp_path / "bad.pth"))
    np.save(tmp_path / "obj.npy", np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(LightSRError, match="obj.npy: refused"):
        verify_tensors_only(str(tmp_path / "obj.npy"))
    with torch.jit.optimized_execution(False):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "ts.pt"))
    with pytest.raises(LightSRError, match="ts.pt: refused: it is a TorchScript archive"):
        verify_tensors_only(str(tmp_path / "ts.pt"))
    (tmp_path / "junk.pth").write_bytes(b"not a weight file")
    with pytest.raises(LightSRError, match="junk.pth: not a torch weight file"):
        verify_tensors_only(str(tmp_path / "junk.pth"))
    assert not marker.exists()


def _refuse_network(*args, **kwargs):
    raise AssertionError("no download may be attempted offline")


@pytest.mark.parametrize("how", ["env", "flag"])
def test_offline_a_missing_weight_file_is_one_line_and_no_download(clean_weight_dirs, photo, capsys, monkeypatch, how):
    import torch.hub
    from pyiqa.utils import download_util

    monkeypatch.setattr(download_util, "download_url_to_file", _refuse_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _refuse_network)
    lr = clean_weight_dirs / "lr"
    lr.mkdir()
    write_image(str(lr / "a.png"), photo[:64, :64])
    argv = ["eval", "--input", str(lr), "--metrics", "brisque", "--weights-dir", str(clean_weight_dirs / "wd"), "--quiet"]
    if how == "env":
        monkeypatch.setenv("LIGHTSR_OFFLINE", "1")
    else:
        argv.append("--offline")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "needs brisque_svm_weights.pth" in err and str(clean_weight_dirs / "wd") in err
    assert "offline" in err
    from lightsr.weights_dir import is_offline

    assert is_offline() == (how == "env")  # the flag holds for one command only


def test_online_downloads_go_through_pyiqa_and_are_verified(clean_weight_dirs, monkeypatch):
    import torch
    from pyiqa.utils import download_util

    from lightsr.eval.noref import create_nr_metric

    fetched = []

    def fake_download(url, dst, hash_prefix=None, progress=True):  # pyiqa's own downloader, network replaced
        fetched.append(url)
        torch.save((torch.ones(10, dtype=torch.float64), torch.zeros(10, 36, dtype=torch.float64)), dst)

    monkeypatch.setattr(download_util, "download_url_to_file", fake_download)
    metric = create_nr_metric("brisque", weights_dir=str(clean_weight_dirs / "wd"))
    assert metric is not None and len(fetched) == 1 and fetched[0].endswith("brisque_svm_weights.pth")
    assert (clean_weight_dirs / "pyiqa-cache" / "brisque_svm_weights.pth").exists()  # pyiqa's cache, as pyiqa does

    marker = clean_weight_dirs / "MARKER"
    (clean_weight_dirs / "pyiqa-cache" / "brisque_svm_weights.pth").unlink()
    monkeypatch.setattr(download_util, "download_url_to_file", lambda url, dst, **_: _evil(dst, marker))
    with pytest.raises(LightSRError, match="brisque_svm_weights.pth: refused.*may contain code"):
        create_nr_metric("brisque", weights_dir=str(clean_weight_dirs / "wd"))
    assert not marker.exists()


def test_online_a_failed_download_is_the_same_one_line(clean_weight_dirs, monkeypatch):
    import urllib.error

    from pyiqa.utils import download_util

    from lightsr.eval.noref import create_nr_metric

    def no_network(url, dst, **_):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(download_util, "download_url_to_file", no_network)
    with pytest.raises(LightSRError) as e:
        create_nr_metric("brisque", weights_dir=str(clean_weight_dirs / "wd"))
    message = str(e.value)
    assert "\n" not in message and "needs brisque_svm_weights.pth" in message
    assert str(clean_weight_dirs / "wd") in message and "download failed" in message


def test_offline_flag_on_the_commands_that_look_up_weights():
    from lightsr.cli import build_parser

    parser = build_parser()
    for argv in (["eval", "--input", "x"], ["upscale", "--model", "m", "--input", "x", "--output", "y"], ["train", "c.yml"],
                 ["demo"]):
        assert parser.parse_args([*argv, "--offline"]).offline


def test_clip_archives_are_pinned_by_their_digest_or_must_be_tensors_only(clean_weight_dirs, monkeypatch):
    import hashlib

    import pyiqa.archs.clip_model as clip_model

    from lightsr.eval.noref import pyiqa_weights

    wd = clean_weight_dirs / "wd"
    wd.mkdir()
    published = b"stands for OpenAI's TorchScript archive"
    digest = hashlib.sha256(published).hexdigest()
    url = f"https://openaipublic.azureedge.net/clip/models/{digest}/RN50.pt"
    monkeypatch.setenv("LIGHTSR_OFFLINE", "1")
    with pyiqa_weights(str(wd)):
        with pytest.raises(LightSRError, match=f"needs RN50.pt .*in {wd}.*offline"):
            clip_model._download(url, str(clean_weight_dirs / "clip"))
        (wd / "RN50.pt").write_bytes(published)  # byte-identical to the pinned file: accepted as it is
        assert clip_model._download(url, str(clean_weight_dirs / "clip")) == str(wd / "RN50.pt")
        marker = clean_weight_dirs / "MARKER"
        _evil(wd / "RN50.pt", marker)  # any other file must be tensors-only
        with pytest.raises(LightSRError, match="RN50.pt: refused"):
            clip_model._download(url, str(clean_weight_dirs / "clip"))
    assert not marker.exists()
    assert clip_model._download.__name__ == "_download"  # the hook is gone after the block
