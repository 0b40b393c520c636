"""The metric registry: a new metric is one registration, seen by eval, reports, help and training validation."""

import numpy as np
import pytest

from lightsr.errors import ConfigError, LightSRError
from lightsr.eval import metrics as registry
from lightsr.eval.metrics import MetricSpec, get_metric, list_metrics, register_metric, unregister_metric
from lightsr.images import write_image


def _mean_abs_error(sr, ref, lr, ctx):
    c = ctx.crop_border
    return float(np.abs(sr[c:-c, c:-c] - ref[c:-c, c:-c]).mean() * 255) if c else float(np.abs(sr - ref).mean() * 255)


def _brightness(sr, ref, lr, ctx):
    return float(sr.mean())


@pytest.fixture
def toy_metrics():
    """Two metrics registered for the test only: a full-reference one (lower is better), a no-reference one."""
    register_metric(MetricSpec("mae", _mean_abs_error, needs_ref=True, higher_is_better=False,
                               description="mean absolute error (0-255)"))
    register_metric(name="brightness", compute=_brightness, description="mean value")
    yield
    unregister_metric("mae")
    unregister_metric("brightness")


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    ref, sr = tmp_path / "ref", tmp_path / "sr"
    ref.mkdir()
    sr.mkdir()
    for name in ("a", "b"):
        hr = rng.uniform(0.2, 0.8, (24, 24, 3)).astype(np.float32)
        write_image(str(ref / f"{name}.png"), hr)
        write_image(str(sr / f"{name}.png"), np.clip(hr + 10 / 255, 0, 1))
    return sr, ref


def test_a_new_metric_is_one_registration(toy_metrics, folders, capsys, tmp_path):
    from lightsr.cli import main
    from lightsr.eval.evaluate import Evaluator

    sr, ref = folders
    ev = Evaluator(["psnr", "mae", "brightness"], scale=4)
    assert ev.needs_ref and not ev.needs_lr
    result = ev.folder(str(sr), str(ref))
    assert not result.errors and [r["image"] for r in result.rows] == ["a", "b"]
    assert result.mean("mae") == pytest.approx(10, abs=0.6)  # 8-bit rounding of +10/255
    assert 0.4 < result.mean("brightness") < 0.6
    assert ev.higher_is_better("mae") is False and ev.higher_is_better("brightness") is True
    assert ev.higher_is_better("psnr") is True

    # the CLI: in the help, computed, and in the report with its direction
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "lrc,noise,mae,brightness or any pyiqa NR" in " ".join(capsys.readouterr().out.split())
    report = tmp_path / "r.html"
    code = main(["eval", "--input", str(sr), "--ref", str(ref), "--metrics", "mae,brightness", "--format", "csv",
                 "--quiet", "--report", str(report)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0] == "method,image,mae,brightness" and out[-1].startswith("sr,mean,")
    html = report.read_text()
    assert "mae" in html and "↓" in html and "↑" in html

    # a no-reference metric needs no --ref; a full-reference one does
    assert main(["eval", "--input", str(sr), "--metrics", "brightness", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", "--input", str(sr), "--metrics", "mae", "--quiet"]) == 2
    assert "metrics mae need --ref" in capsys.readouterr().err


def test_registered_metrics_leave_with_their_fixture():
    names = [s.name for s in list_metrics()]
    assert names[:8] == ["psnr", "ssim", "lpips", "ifc", "niqe", "piqe", "lrc", "noise"] and "mae" not in names


def test_registry_specs_and_defaults():
    spec = get_metric("PSNR ")
    assert spec.needs_ref and not spec.needs_lr and spec.higher_is_better and spec.full_reference
    assert get_metric("lrc").needs_lr and not get_metric("lrc").full_reference
    noise = get_metric("noise")
    assert not noise.needs_ref and not noise.needs_lr and noise.higher_is_better is False
    assert get_metric("lpips").higher_is_better is False and get_metric("lpips").factory is not None
    # lightsr eval without --metrics: the defaults the command always had
    assert registry.default_metrics(True, False) == ["psnr", "ssim"]
    assert registry.default_metrics(True, True) == ["psnr", "ssim", "lrc"]
    assert registry.default_metrics(False, False) == ["niqe", "piqe"]
    assert registry.default_metrics(False, True) == ["niqe", "piqe", "lrc"]
    assert registry.metrics_help() == "comma-separated: psnr,ssim,lpips,ifc,niqe,piqe,lrc,noise or any pyiqa NR metric"


def test_registration_mistakes_are_one_line_errors(toy_metrics):
    with pytest.raises(LightSRError, match="already registered"):
        register_metric(name="mae", compute=_brightness)
    with pytest.raises(LightSRError, match="exactly one of compute and factory"):
        register_metric(name="nothing")
    with pytest.raises(LightSRError, match="without commas"):
        register_metric(name="a,b", compute=_brightness)


def test_pyiqa_nr_metrics_resolve_on_demand_and_unknown_names_are_one_line():
    spec = get_metric("brisque")  # resolved, not built: no weight file is read here
    assert not spec.needs_ref and not spec.needs_lr and spec.factory is not None and spec.higher_is_better is None
    with pytest.raises(LightSRError, match=r"unknown metric 'brisque' \(lightsr has: psnr"):
        get_metric("brisque", pyiqa=False)
    with pytest.raises(LightSRError) as e:
        get_metric("sharpness9000")
    assert "\n" not in str(e.value) and "unknown metric 'sharpness9000'" in str(e.value) and "niqe" in str(e.value)
    # pyiqa's full-reference metrics do not enter as no-reference ones
    with pytest.raises(LightSRError, match="unknown metric 'dists'"):
        get_metric("dists")
    assert registry.higher_is_better("brisque") is False  # without building: pyiqa's configuration


# ---------------------------------------------------------------- training validation


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("val_hr")
    for i, (y, x) in enumerate([(0, 0), (200, 100)]):
        write_image(str(d / f"im{i}.png"), astronaut[y:y + 96, x:x + 96])
    return d


def _trainer(hr_dir, tmp_path, metrics):
    from lightsr.trainers.config import Config
    from lightsr.trainers.engine import Trainer
    from lightsr.trainers.schema import from_dict

    cfg = from_dict(Config, {
        "name": "v", "scale": 4, "seed": 3, "device": "cpu", "model": {"name": "espcn"},
        "data": {"type": "degraded", "hr": str(hr_dir), "pipeline": "bicubic", "patch": 32, "batch": 2},
        "val": {"type": "degraded", "hr": str(hr_dir), "count": 2, "crop": 64, "every": 5, "metrics": metrics},
        "train": {"total_steps": 2, "optimizer": {"type": "adamw", "lr": 2e-3}},
        "checkpoint_every": 10, "log_every": 1, "tensorboard": False, "output_root": str(tmp_path)})
    return Trainer(cfg, run_dir=str(tmp_path / "run"), resume=False)


def test_training_validation_computes_any_full_reference_metric(toy_metrics, hr_dir, tmp_path):
    from lightsr.eval.fullref import psnr

    trainer = _trainer(hr_dir, tmp_path, ["psnr", "mae"])
    try:
        scores = trainer.validate()
        assert set(scores) == {"psnr", "mae"} and scores["mae"] > 0
        assert trainer.model.training  # validation leaves the model training
        # the registry's psnr is the one validation always computed: crop border = scale
        import torch

        from lightsr.color import rgb_to_y, rgb_to_y_tensor

        assert trainer.info.color == "y"  # espcn: a Y-channel model, scored on Y
        model = (trainer.ema or trainer.model).eval()
        total = 0.0
        for _, lr, hr in trainer.val_pairs:
            with torch.no_grad():
                x = rgb_to_y_tensor(torch.from_numpy(lr.transpose(2, 0, 1).copy())[None])
                sr = model(x).clamp(0, 1)[0].numpy().transpose(1, 2, 0)
            total += psnr(sr, rgb_to_y(hr)[:, :, None], 4, False)
        assert scores["psnr"] == pytest.approx(total / len(trainer.val_pairs), rel=1e-6)
    finally:
        trainer.close()


@pytest.mark.parametrize("name", ["niqe", "lrc", "noise", "sharpness9000"])
def test_training_validation_refuses_metrics_that_are_not_full_reference(hr_dir, tmp_path, name):
    trainer = _trainer(hr_dir, tmp_path, ["psnr", name])
    try:
        with pytest.raises(ConfigError, match=rf"^val\.metrics: validation computes the full-reference metrics "
                                              rf"\(psnr, ssim, lpips, ifc\); got '{name}'"):
            trainer.validate()
    finally:
        trainer.close()
