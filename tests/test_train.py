"""The trainer: validated configs, exact resume, DDP = one process, NaN guard, losses, strategies."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from lightsr.errors import ConfigError
from lightsr.images import write_image
from lightsr.trainers.config import Config, load_config
from lightsr.trainers.schema import from_dict


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("train_hr")
    for i, (y, x) in enumerate([(0, 0), (200, 100), (300, 300), (100, 350)]):
        write_image(str(d / f"im{i}.png"), astronaut[y:y + 120, x:x + 140])
    return d


def config(hr_dir, tmp_path, **changes):
    cfg = {"name": "t", "scale": 4, "seed": 3, "device": "cpu", "model": {"name": "espcn"},
           "data": {"type": "degraded", "hr": str(hr_dir), "pipeline": "bicubic", "patch": 32, "batch": 4},
           "val": {"type": "degraded", "hr": str(hr_dir), "count": 2, "crop": 64, "every": 5},
           "train": {"total_steps": 20, "optimizer": {"type": "adamw", "lr": 2e-3}, "ema": 0.9,
                     "scheduler": {"type": "cosine", "warmup_steps": 3}},
           "checkpoint_every": 10, "log_every": 1, "tensorboard": False, "output_root": str(tmp_path)}
    for key, value in changes.items():
        node = cfg
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return from_dict(Config, cfg)


def run(cfg, run_dir, resume=True, until=None):
    from lightsr.trainers.engine import Trainer

    trainer = Trainer(cfg, run_dir=str(run_dir), resume=resume)
    summary = trainer.fit(until)
    trainer.close()
    return trainer, summary


def losses(run_dir):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss/total"] for r in lines if "loss/total" in r}


def test_config_errors_name_their_yaml_path(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"name": "x", "model": {"name": "espcn"}, "train": {"optimizer": {"lr": "fast"}}}))
    with pytest.raises(ConfigError, match=r"^train\.optimizer\.lr: expected a number"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match=r"^train\.nan_gaurd: unknown key"):
        load_config(str(bad), ["train.optimizer.lr=1e-3", "train.nan_gaurd=2"])
    with pytest.raises(ConfigError, match=r"^data\.patch: must be a multiple of the scale 4"):
        load_config(str(bad), ["train.optimizer.lr=1e-3", "data.patch=30"])
    cfg = load_config(str(bad), ["train.optimizer.lr=1e-3", "train.total_steps=7"])
    assert cfg.train.optimizer.lr == 1e-3 and cfg.train.total_steps == 7


def test_the_device_path_is_chosen_in_the_config(tmp_path):
    bad = tmp_path / "dp.yml"
    bad.write_text(yaml.safe_dump({"name": "x", "model": {"name": "espcn"}}))
    cfg = load_config(str(bad))
    assert (cfg.data.device_path.compile, cfg.data.device_path.static, cfg.data.device_path.cuda_graphs) == ("auto",) * 3
    cfg = load_config(str(bad), ["data.device_path.compile=false", "data.device_path.cuda_graphs=true"])
    assert cfg.data.device_path.compile is False and cfg.data.device_path.cuda_graphs is True
    with pytest.raises(ConfigError, match=r"^data\.device_path\.static: "):
        load_config(str(bad), ["data.device_path.static=sometimes"])
    from lightsr.trainers.config import RESUME_SAFE

    assert {"data.device_path.compile", "data.device_path.static", "data.device_path.cuda_graphs"} <= set(RESUME_SAFE)


def test_resume_is_exact(hr_dir, tmp_path):
    cfg = config(hr_dir, tmp_path)
    straight, _ = run(cfg, tmp_path / "straight")
    run(cfg, tmp_path / "resumed", until=10)  # interrupted after 10 steps
    resumed, _ = run(cfg, tmp_path / "resumed")  # a new process would do the same: picks up step 10
    assert losses(tmp_path / "straight") == losses(tmp_path / "resumed")
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values()):
        assert torch.equal(a, b)
    assert (tmp_path / "resumed" / "config.yml").exists()


def test_checkpoints_are_safetensors_and_a_plain_state(hr_dir, tmp_path):
    from lightsr.models.weights import load_model

    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 10})
    run(cfg, tmp_path / "r")
    assert (tmp_path / "r" / "model.safetensors").exists()
    folder = tmp_path / "r" / "checkpoints" / "step-00000010"
    assert (tmp_path / "r" / "checkpoints" / "latest").read_text().strip() == "step-00000010"
    assert load_model(str(folder / "model.safetensors")).lightsr_spec["name"] == "espcn"
    state = torch.load(folder / "state.pt", weights_only=True)  # tensors and plain values only
    assert state["step"] == 10 and "opt_g" in state and "rng" in state


@pytest.mark.parametrize("distill", [False, True])
def test_ddp_on_two_cpu_processes_equals_one_process(hr_dir, tmp_path, distill):
    changes = {"train.total_steps": 6, "train.ema": None, "val.type": "none"}
    if distill:  # learned VID heads outside DDP: their gradients must be averaged too
        from lightsr.models import create_model
        from lightsr.models.weights import save_model

        save_model(create_model("fsrcnn", scale=4), str(tmp_path / "teacher.safetensors"))
        changes["train.distill"] = {"teacher": str(tmp_path / "teacher.safetensors"), "feature_weight": 0.5,
                                    "feature_loss": "vid", "student_layers": ["first_part"], "teacher_layers": ["first_part"]}
    cfg = config(hr_dir, tmp_path, **changes)
    path = tmp_path / "ddp.yml"
    from lightsr.trainers.schema import to_dict

    path.write_text(yaml.safe_dump(to_dict(cfg)))
    single, _ = run(cfg, tmp_path / "single")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = str(29533 + distill)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
                          "-m", "lightsr", "train", str(path), "--run-dir", str(tmp_path / "ddp")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    from lightsr.models.weights import load_model

    ddp = load_model(str(tmp_path / "ddp" / "model.safetensors"))
    for (name, a), b in zip(single.model.state_dict().items(), ddp.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    one, two = losses(tmp_path / "single"), losses(tmp_path / "ddp")
    assert one.keys() == two.keys()
    # rank 0 logs its own half of the batch: the first step's loss is that half's mean
    assert all(np.isfinite(v) for v in two.values())


def test_nan_guard_skips_then_rolls_back(hr_dir, tmp_path):
    from lightsr.trainers.engine import Trainer

    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 8, "checkpoint_every": 2, "train.nan_guard": 2, "val.type": "none"})
    events = []
    trainer = Trainer(cfg, run_dir=str(tmp_path / "nan"), events=lambda k, d: events.append((k, d)))
    pixel = trainer.pixel

    def poisoned(sr, hr):  # steps 5 and 6 (0-based 4, 5) produce NaN
        return pixel(sr, hr) * (float("nan") if trainer.step in (4, 5) else 1.0)

    trainer.pixel = poisoned
    trainer.fit()
    bad = [d for k, d in events if k == "non_finite"]
    assert [d["step"] for d in bad] == [4, 5] and "rolled_back_to" not in bad[0]
    assert bad[1]["rolled_back_to"].endswith("step-00000004")
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_a_training_step_reads_no_loss_back_to_the_host(hr_dir, tmp_path, monkeypatch):
    """Losses stay on the device between log steps; the finite check is the step's one read."""
    from lightsr.trainers.data import train_loader
    from lightsr.trainers.engine import Trainer

    cfg = config(hr_dir, tmp_path, **{"val.type": "none", "log_every": 5, "train.total_steps": 10,
                                      "train.perceptual": {"weight": 0.0}})
    trainer = Trainer(cfg, run_dir=str(tmp_path / "r"), resume=False)
    _, _, loader = train_loader(cfg, 0)
    batches = iter(loader)
    trainer.train_step(next(batches))  # the optimizer's state exists from here on
    # torch keeps Adam's step counts on the CPU (also when training on CUDA): reading them is no sync
    counts = {id(s["step"]) for s in trainer.opt_g.state.values()}
    reads = []
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original):
            if id(self) not in counts:
                reads.append(_name)
            return _original(self, *args)
        monkeypatch.setattr(torch.Tensor, name, counted)
    out = trainer.train_step(next(batches))
    monkeypatch.undo()
    assert reads == ["__bool__"]  # the non-finite check, taken on the host (see Trainer.train_step)
    assert all(torch.is_tensor(v) and v.dim() == 0 and not v.requires_grad for v in out.values())
    assert set(out) >= {"pixel", "total"}
    # the 'step' event carries the losses of the last log step, as floats (progress bars show them)
    events = []
    trainer.events = lambda kind, data: events.append(dict(data["losses"])) if kind == "step" else None
    trainer.fit()
    trainer.close()
    logged = {r["step"]: r["loss/total"] for r in map(json.loads, (tmp_path / "r" / "metrics.jsonl").read_text().splitlines())}
    assert sorted(logged) == [5, 10] and events[:4] == [{}] * 4
    assert events[4]["total"] == events[8]["total"] == logged[5] and events[9]["total"] == logged[10]
    assert all(isinstance(v, float) for e in events for v in e.values())


# ---------------------------------------------------------------- losses


def test_pixel_losses():
    from lightsr.trainers.losses import pixel_loss, total_variation

    a, b = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.5)
    assert float(pixel_loss("l1")(a, b)) == pytest.approx(0.5)
    assert float(pixel_loss("l2")(a, b)) == pytest.approx(0.25)
    assert float(pixel_loss("charbonnier", eps=1e-3)(a, b)) == pytest.approx(np.sqrt(0.25 + 1e-6), rel=1e-6)
    assert float(total_variation(b)) == 0.0


def test_adversarial_losses_match_their_definitions():
    from lightsr.trainers.losses import AdversarialLoss

    d = torch.tensor([[0.3, -1.2]])
    vanilla = AdversarialLoss("vanilla")
    assert float(vanilla.generator(d)) == pytest.approx(float(torch.nn.functional.softplus(-d).mean()), rel=1e-6)
    assert float(AdversarialLoss("lsgan").generator(d)) == pytest.approx(float(((d - 1) ** 2).mean()), rel=1e-6)
    hinge = AdversarialLoss("hinge")
    assert float(hinge.discriminator(d, -d)) == pytest.approx(float(torch.relu(1 - d).mean() + torch.relu(1 - d).mean()), rel=1e-6)
    rel = AdversarialLoss("vanilla", relativistic=True)
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-1.0]])
    expected = 0.5 * (torch.nn.functional.softplus(real - fake) + torch.nn.functional.softplus(-(fake - real)))
    assert float(rel.generator(fake, real)) == pytest.approx(float(expected), rel=1e-6)


def test_perceptual_loss_with_offline_vgg16(vgg16_source):
    from lightsr.trainers.losses import PerceptualLoss

    loss = PerceptualLoss({"conv3_3": 1.0, "relu4_3": 0.5}, "vgg16", style_weight=1.0, weights_file=vgg16_source)
    a = torch.rand(1, 3, 48, 48)
    same, style = loss(a, a)
    assert float(same) == 0.0 and float(style) == 0.0
    percep, style = loss(a, torch.rand(1, 3, 48, 48))
    assert float(percep) > 0 and float(style) > 0
    y_percep, _ = loss(a[:, :1], torch.rand(1, 1, 48, 48))  # luma models are compared as gray RGB
    assert float(y_percep) > 0


def test_vgg19_needs_its_file(tmp_path, monkeypatch):
    from lightsr.errors import LightSRError
    from lightsr.trainers.losses import PerceptualLoss

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LIGHTSR_OFFLINE", "1")
    monkeypatch.setattr("lightsr.weights_dir.DEFAULT", str(tmp_path / "w"))
    with pytest.raises(LightSRError, match="vgg19-dcbb9e9d.pth"):
        PerceptualLoss({"conv5_4": 1.0}, "vgg19")


def test_vgg19_offline_falls_back_to_vgg16_at_the_same_places(tmp_path, monkeypatch, vgg16_source):
    import shutil

    from lightsr.trainers.losses import PerceptualLoss

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LIGHTSR_OFFLINE", "1")
    monkeypatch.setattr("lightsr.weights_dir.DEFAULT", str(tmp_path / "w"))
    (tmp_path / "w").mkdir()
    shutil.copy(vgg16_source, tmp_path / "w")
    loss = PerceptualLoss(fallback=True)  # Real-ESRGAN's default: VGG19 conv1_2 ... conv5_4
    assert "VGG16" in loss.notice and "conv5_3" in loss.notice
    assert list(loss.layers) == ["conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"]
    assert [w for _, w in loss.layers.values()] == [0.1, 0.1, 1.0, 1.0, 1.0]


def test_vgg19_is_fetched_into_torch_hub_cache_when_online(tmp_path, monkeypatch):
    """Online, the file comes the way torchvision fetches it (torch hub's cache), and is read tensors-only."""
    import torch
    from torchvision.models import vgg19

    from lightsr.errors import LightSRError
    from lightsr.trainers.losses import VGG19_FILE, VGG19_URL, PerceptualLoss

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("LIGHTSR_OFFLINE", raising=False)
    monkeypatch.setattr("lightsr.weights_dir.DEFAULT", str(tmp_path / "w"))
    fetched = []

    def fake_download(url, dst, progress=True):
        fetched.append(url)
        torch.save(vgg19(weights=None).state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    loss = PerceptualLoss(fallback=True)
    assert fetched == [VGG19_URL] and loss.notice is None
    assert (tmp_path / "torch" / "hub" / "checkpoints" / VGG19_FILE).is_file()

    class Boom:  # a pickle that would run code when loaded with weights_only=False
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    torch.save({"x": Boom()}, tmp_path / "torch" / "hub" / "checkpoints" / VGG19_FILE)
    with pytest.raises(LightSRError, match="refused"):
        PerceptualLoss()
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- strategies


def test_gan_stage_with_unet_discriminator(hr_dir, tmp_path, vgg16_source):
    cfg = config(hr_dir, tmp_path, **{
        "data.pipeline": "realesrgan", "data.patch": 64, "train.total_steps": 3, "val.type": "none",
        "train.perceptual": {"weight": 1.0, "network": "vgg16", "weights_file": vgg16_source},
        "train.gan": {"weight": 0.1, "discriminator": "unet", "d_options": {"num_feat": 16}},
    })
    trainer, _ = run(cfg, tmp_path / "gan")
    record = [json.loads(x) for x in (tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()][-1]
    assert {"loss/pixel", "loss/perceptual", "loss/gan", "loss/d"} <= set(record)
    assert (tmp_path / "gan" / "checkpoints" / "step-00000003" / "extra.safetensors").exists()


def test_patchgan_relativistic_hinge(hr_dir, tmp_path):
    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 2, "val.type": "none", "model.name": "abpn",
                                      "train.gan": {"weight": 0.1, "type": "hinge", "relativistic": True,
                                                    "discriminator": "patchgan", "d_options": {"nf": 16}}})
    run(cfg, tmp_path / "patch")


def test_distillation_output_and_features(hr_dir, tmp_path):
    from lightsr.models import create_model
    from lightsr.models.weights import save_model

    teacher = tmp_path / "teacher.safetensors"
    save_model(create_model("fsrcnn", scale=4), str(teacher))
    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 3, "val.type": "none", "train.distill": {
        "teacher": str(teacher), "output_weight": 1.0, "feature_weight": 0.5,
        "student_layers": ["first_part"], "teacher_layers": ["first_part"]}})
    trainer, _ = run(cfg, tmp_path / "kd")
    assert len(trainer.adapters) == 1 and trainer.adapters[0].adapter.weight.shape[:2] == (56, 32)
    record = [json.loads(x) for x in (tmp_path / "kd" / "metrics.jsonl").read_text().splitlines()][-1]
    assert record["loss/distill_out"] > 0 and record["loss/distill_feat"] > 0


def test_every_recipe_validates():
    import glob

    from lightsr.trainers.config import load_config

    root = os.path.join(os.path.dirname(__file__), "..", "configs")
    recipes = sorted(glob.glob(os.path.join(root, "*.yml")))
    assert len(recipes) >= 6
    for path in recipes:
        load_config(path)


def test_a_blind_model_from_the_realesrgan_recipe_upscales(hr_dir, tmp_path):
    root = os.path.join(os.path.dirname(__file__), "..", "configs")
    cfg = load_config(os.path.join(root, "x4_realesrgan_stage1_cpu.yml"),
                      [f"data.hr={hr_dir}", "data.exclude=[]", "data.patch=32", "data.batch=4", "val.type=none",
                       "train.total_steps=3", f"output_root={tmp_path}", "tensorboard=false"])
    run(cfg, tmp_path / "blind")
    out = tmp_path / "up"
    res = subprocess.run([sys.executable, "-m", "lightsr", "upscale", "--model", str(tmp_path / "blind" / "model.safetensors"),
                          "--input", str(hr_dir / "im0.png"), "--output", str(out), "--quiet"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    from lightsr.images import read_image

    assert read_image(out / "im0.png")[0].shape == (480, 560, 3)


def test_training_degrades_on_the_device_as_the_workers_do(hr_dir, tmp_path):
    from lightsr.trainers.data import train_loader
    from lightsr.trainers.engine import Trainer

    base = {"data.pipeline": "realesrgan", "data.patch": 64, "val.type": "none", "train.total_steps": 2}
    lr = {}
    # "planned": the fixed-shape path (the default on CUDA), its host half done by the loader
    for where in ("workers", "device", "planned"):
        cfg = config(hr_dir, tmp_path, **base, **{"data.degrade_on": "workers" if where == "workers" else "device",
                                                  "data.device_path": {"static": where == "planned"}})
        trainer = Trainer(cfg, run_dir=str(tmp_path / where), resume=False)
        _, _, loader = train_loader(cfg, 0)
        batch = next(iter(loader))
        assert ("plan" in batch) == (where == "planned")
        lr[where], hr, _ = trainer._prepare(batch)
        if where != "workers":  # 8-bit photos travel as uint8; the device's float batch is the same
            from lightsr.trainers.data import from_levels

            assert batch["hr_plain"].dtype == torch.uint8
            as_float = trainer._prepare({**batch, "hr_plain": from_levels(batch["hr_plain"])})
            assert torch.equal(as_float[0], lr[where]) and torch.equal(as_float[1], hr)
        assert trainer.train_step(next(iter(loader)))["total"] > 0
    assert torch.equal(lr["device"], lr["planned"])
    for a, b in zip(lr["workers"], lr["device"]):  # the same samples (keys), degraded on either path
        mse = float(((a.double() - b.double()) ** 2).mean())
        assert mse == 0 or 10 * np.log10(1.0 / mse) >= 35


def test_hr_patches_of_8_bit_photos_travel_as_uint8_and_come_back_bit_for_bit(tmp_path):
    from lightsr.images import read_image
    from lightsr.trainers.data import LEVELS, as_levels, from_levels

    # every 8-bit value, written and read back as training reads photos
    img = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(16, 16, 3)
    import cv2

    cv2.imwrite(str(tmp_path / "levels.png"), img)
    read = read_image(str(tmp_path / "levels.png"))[0]
    assert np.array_equal(np.sort(np.unique(read)), LEVELS)
    patches = [torch.from_numpy(read.transpose(2, 0, 1).copy()), torch.from_numpy(read[::-1].transpose(2, 0, 1).copy())]
    q = as_levels(patches)
    assert q.dtype == torch.uint8 and torch.equal(from_levels(q), torch.stack(patches))
    floats = torch.stack(patches)
    assert from_levels(floats) is floats
    # a 16-bit (or float) source, or a single value off the 8-bit levels, stays float
    cv2.imwrite(str(tmp_path / "deep.png"), img.astype(np.uint16) * 256 + 77)
    deep = read_image(str(tmp_path / "deep.png"))[0]
    assert as_levels([torch.from_numpy(deep.transpose(2, 0, 1).copy())]) is None
    nudged = patches[1].clone()
    nudged[1, 3, 4] = float(np.nextafter(nudged[1, 3, 4].numpy(), np.float32(1)))
    assert as_levels([patches[0], nudged]) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_levels_on_cuda_are_read_images_values():
    from lightsr.trainers.data import LEVELS, from_levels

    levels = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(from_levels(levels.cuda()).cpu(), torch.from_numpy(LEVELS))


# ---------------------------------------------------------------- hostile conditions (issue #14)


def _strict_json_lines(path):
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    return [json.loads(line, parse_constant=no_constants) for line in path.read_text().splitlines()]


def _yaml(cfg, path):
    from lightsr.trainers.schema import to_dict

    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return str(path)


def test_resume_refuses_a_config_that_changes_the_run(hr_dir, tmp_path, capsys):
    from lightsr import cli

    base = {"train.total_steps": 6, "checkpoint_every": 2, "val.type": "none"}
    run(config(hr_dir, tmp_path, **base), tmp_path / "r", until=4)
    saved = (tmp_path / "r" / "config.yml").read_text()
    changed = config(hr_dir, tmp_path, **base, **{"train.optimizer.lr": 1e6, "data.patch": 48})
    with pytest.raises(ConfigError, match="resuming this run with a different config") as info:
        run(changed, tmp_path / "r")
    lines = str(info.value).splitlines()[1:]
    assert [line.strip() for line in lines] == ["data.patch: 32 -> 48", "train.optimizer.lr: 0.002 -> 1000000.0"]
    with pytest.raises(ConfigError, match=r"train\.total_steps: 6 -> 9 \(the cosine schedule spans"):
        run(config(hr_dir, tmp_path, **{**base, "train.total_steps": 9}), tmp_path / "r")
    assert (tmp_path / "r" / "config.yml").read_text() == saved  # the refused values were not written
    # from the command line: exit code 2, one line per key
    path = _yaml(changed, tmp_path / "changed.yml")
    assert cli.main(["train", path, "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "train.optimizer.lr: 0.002 -> 1000000.0" in err and "Traceback" not in err
    # how the run is watched, loaded or where it runs may change
    safe = config(hr_dir, tmp_path, **{**base, "log_every": 3, "checkpoint_every": 3, "data.workers": 1, "val.every": 7,
                                       "keep_checkpoints": 3})
    trainer, summary = run(safe, tmp_path / "r")
    assert summary["steps"] == 6
    # total_steps may change when the schedule does not depend on it
    const = {**base, "train.scheduler": {"type": "constant"}}
    run(config(hr_dir, tmp_path, **const), tmp_path / "c", until=4)
    assert run(config(hr_dir, tmp_path, **{**const, "train.total_steps": 8}), tmp_path / "c")[1]["steps"] == 8


def test_run_name_cannot_leave_output_root(hr_dir, tmp_path):
    for name in ("../../x", "/tmp/elsewhere", "a/b", "..", ".", "", "a\\b"):
        with pytest.raises(ConfigError, match=r"^name: must be a plain folder name"):
            config(hr_dir, tmp_path, name=name)
    assert config(hr_dir, tmp_path, name="x4_espcn-v2.1").name == "x4_espcn-v2.1"


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous(hr_dir, tmp_path):
    from lightsr.trainers.engine import Trainer

    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 6, "checkpoint_every": 2, "val.type": "none"})
    run(cfg, tmp_path / "straight")
    run(cfg, tmp_path / "r", until=4)  # checkpoints at steps 2 and 4; metrics up to step 4
    state = tmp_path / "r" / "checkpoints" / "step-00000004" / "state.pt"
    state.write_bytes(state.read_bytes()[:100])  # a crash or a full disk cut it
    events = []
    trainer = Trainer(cfg, run_dir=str(tmp_path / "r"), events=lambda k, d: events.append((k, d)))
    trainer.fit()
    trainer.close()
    kinds = [k for k, _ in events]
    assert kinds.index("checkpoint_unreadable") < kinds.index("resumed")
    bad = dict(events)["checkpoint_unreadable"]
    assert bad["error"].startswith(str(state)) and "\n" not in bad["error"]
    assert dict(events)["resumed"]["step"] == 2
    # steps 3 and 4 were trained again: metrics.jsonl holds each step once, as a straight run does
    steps = [r["step"] for r in _strict_json_lines(tmp_path / "r" / "metrics.jsonl")]
    assert steps == sorted(set(steps)) == list(range(1, 7))
    assert losses(tmp_path / "r") == losses(tmp_path / "straight")


def test_a_state_pt_with_code_is_refused_in_one_line(hr_dir, tmp_path):
    from lightsr.errors import LightSRError

    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 2, "checkpoint_every": 2, "val.type": "none"})
    run(cfg, tmp_path / "r", until=2)
    torch.save({"step": _Sneaky()}, tmp_path / "r" / "checkpoints" / "step-00000002" / "state.pt")
    with pytest.raises(LightSRError, match=r"state\.pt: refused: it holds Python objects other than tensors") as info:
        run(cfg, tmp_path / "r")
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


class _Sneaky:
    def __reduce__(self):
        return (print, ("this would run",))


def test_non_finite_losses_are_null_in_metrics_and_all_skipped_fails(hr_dir, tmp_path):
    from lightsr.errors import LightSRError
    from lightsr.trainers.engine import Trainer

    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 4, "checkpoint_every": 2, "train.nan_guard": 100, "val.type": "none"})
    trainer = Trainer(cfg, run_dir=str(tmp_path / "nan"))
    trainer.pixel = lambda sr, hr: (sr - hr).abs().mean() * float("nan")
    with pytest.raises(LightSRError, match=r"every step \(4\) had a non-finite loss and was skipped"):
        trainer.fit()
    trainer.close()
    records = _strict_json_lines(tmp_path / "nan" / "metrics.jsonl")  # strict JSON: no bare NaN
    assert any(r.get("event") == "non_finite" and r["loss/pixel"] is None for r in records)
    assert not (tmp_path / "nan" / "model.safetensors").exists()


def test_a_full_disk_in_training_is_one_line_and_the_run_resumes(hr_dir, tmp_path, monkeypatch, capsys):
    import errno

    from lightsr import cli
    from lightsr.trainers import checkpoint

    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 4, "checkpoint_every": 2, "val.type": "none"})
    path = _yaml(cfg, tmp_path / "t.yml")
    real, calls = checkpoint._write, []

    def full(p, data):
        calls.append(p)
        if len(calls) > 1:  # the second checkpoint's state.pt
            raise OSError(errno.ENOSPC, "No space left on device", p)
        return real(p, data)

    monkeypatch.setattr(checkpoint, "_write", full)
    assert cli.main(["train", path, "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lightsr train: error:")]  # (the rest: the progress bar)
    assert len(lines) == 1 and "No space left on device" in lines[0] and "state.pt" in lines[0] and "Traceback" not in err
    root = tmp_path / "r" / "checkpoints"
    assert sorted(os.listdir(root)) == ["latest", "step-00000002"]  # no half-written checkpoint left
    monkeypatch.undo()
    assert cli.main(["train", path, "--run-dir", str(tmp_path / "r")]) == 0
    assert "resumed from" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["target", "plain"])
def test_pixel_loss_target_is_the_sharpened_or_the_plain_hr(hr_dir, tmp_path, target):
    """Real-ESRNet's pixel loss compares with the USM-sharpened HR; a PSNR-oriented blind model with the plain HR."""
    from lightsr.trainers.engine import Trainer

    cfg = config(hr_dir, tmp_path, **{"train.pixel": {"type": "l1", "target": target}, "val.type": "none"})
    trainer = Trainer(cfg, run_dir=str(tmp_path / target), resume=False)
    lr, hr, plain = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    sr = torch.rand(1, 3, 32, 32)
    got = float(trainer._generator_losses(lr, hr, plain, sr)["pixel"])
    trainer.close()
    want = plain if target == "plain" else hr
    assert got == pytest.approx(float((sr - want).abs().mean()), rel=1e-6)
