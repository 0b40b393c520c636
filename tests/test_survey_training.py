"""The survey's extra losses (pyramid, sparsity, contrastive) and its model-distillation systems
(PISR's privileged FSRCNN, Gao et al.'s VDSR distillation) through the trainer."""

import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_train import config, hr_dir, run  # noqa: F401, F811  (the module-scoped HR fixture and helpers)
from torch import nn

from lightsr.errors import ConfigError
from lightsr.trainers.config import load_config
from lightsr.trainers.distillation import AttentionMapLoss, VIDLoss, load_encoder
from lightsr.trainers.regularizers import ContrastiveLoss, pyramid_pixel_loss, sparsity_loss

RECIPES = os.path.join(os.path.dirname(__file__), "..", "configs")


def records(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- pyramid


def test_pyramid_counts_coarse_errors_at_every_level_and_fine_ones_once():
    hr = torch.rand(2, 1, 64, 64)
    offset = pyramid_pixel_loss(hr + 0.1, hr, F.l1_loss, levels=3)  # a constant error survives every downscale
    assert offset.item() == pytest.approx(0.3, abs=1e-5)
    checker = 0.1 * ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 2 - 1).float()
    fine = pyramid_pixel_loss(hr + checker, hr, F.l1_loss, levels=3)  # a Nyquist pattern averages out when halved
    assert fine.item() == pytest.approx(0.1, abs=2e-3)
    weighted = pyramid_pixel_loss(hr + 0.1, hr, F.l1_loss, levels=2, weights=[1.0, 0.5])
    assert weighted.item() == pytest.approx(0.15, abs=1e-5)


# ---------------------------------------------------------------- sparsity


def test_sparsity_penalties_match_their_definitions():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ConvTranspose2d(8, 4, 4, stride=2))
    w1, w2 = model[0].weight.detach().numpy(), model[2].weight.detach().numpy()
    everything = np.concatenate([w1.ravel(), w2.ravel()])
    assert sparsity_loss(model, "l1").item() == pytest.approx(np.abs(everything).mean(), rel=1e-5)
    filters = [np.linalg.norm(w1[o]) for o in range(8)] + [np.linalg.norm(w2[:, o]) for o in range(4)]  # deconv: dim 1
    assert sparsity_loss(model, "group").item() == pytest.approx(np.mean(filters), rel=1e-5)
    with torch.no_grad():
        model[1].weight.copy_(torch.linspace(-1, 1, 8))
    assert sparsity_loss(model, "bn").item() == pytest.approx(np.abs(np.linspace(-1, 1, 8)).mean(), rel=1e-5)
    with pytest.raises(ConfigError, match=r"^train\.sparsity\.kind: .*no normalisation"):
        sparsity_loss(nn.Conv2d(1, 1, 3), "bn")


def test_group_sparsity_zeroes_whole_filters_under_proximal_pressure():
    # gradient steps on the group lasso alone shrink every filter's norm at the same rate (1/n_filters per step)
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3)
    before = conv.weight.detach().flatten(1).norm(dim=1)
    opt = torch.optim.SGD(conv.parameters(), lr=0.06)
    for _ in range(10):
        opt.zero_grad()
        sparsity_loss(conv, "group").backward()
        opt.step()
    after = conv.weight.detach().flatten(1).norm(dim=1)
    assert torch.allclose(before - after, torch.full((6,), 10 * 0.06 / 6), atol=1e-5)


# ---------------------------------------------------------------- contrastive


def test_contrastive_is_the_positive_over_negative_feature_distance_ratio():
    torch.manual_seed(0)
    hr, lr = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 8, 8)
    loss = ContrastiveLoss(1, "random", channels=16, seed=5)
    again = ContrastiveLoss(1, "random", channels=16, seed=5)
    assert torch.equal(loss.features.conv1.weight, again.features.conv1.weight)  # seeded: the same on every rank/resume
    assert not any(p.requires_grad for p in loss.parameters())
    negative = F.interpolate(lr, size=(32, 32), mode="bicubic", align_corners=False)
    assert loss(hr, hr, lr).item() == pytest.approx(0.0, abs=1e-6)
    sr = 0.5 * (hr + negative)
    f_sr, f_hr, f_neg = (loss.features(x) for x in (sr, hr, negative))
    by_hand = sum((a - p).abs().mean() / ((a - n).abs().mean() + 1e-7) for a, p, n in zip(f_sr, f_hr, f_neg))
    assert loss(sr, hr, lr).item() == pytest.approx(by_hand.item(), rel=1e-5)
    sr.requires_grad_(True)
    loss(sr, hr, lr).backward()
    assert sr.grad.abs().sum() > 0


def test_contrastive_with_vgg16_features_uses_aecr_weights(vgg16_source):
    torch.manual_seed(0)
    hr, lr = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 12, 12)
    loss = ContrastiveLoss(3, "vgg16", weights_file=vgg16_source)
    assert [f.shape[1] for f in loss.features(hr)] == [64, 128, 256, 512, 512]  # relu1_1 ... relu5_1
    negative = F.interpolate(lr, size=(48, 48), mode="bicubic", align_corners=False)
    sr = 0.7 * hr + 0.3 * negative
    f_sr, f_hr, f_neg = (loss.features(x) for x in (sr, hr, negative))
    weights = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1]
    by_hand = sum(w * (a - p).abs().mean() / ((a - n).abs().mean() + 1e-7) for w, a, p, n in zip(weights, f_sr, f_hr, f_neg))
    assert loss(sr, hr, lr).item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_the_three_losses_train_together(hr_dir, tmp_path):  # noqa: F811
    cfg = config(hr_dir, tmp_path, **{"train.total_steps": 3, "val.type": "none",
                                      "train.pyramid": {"weight": 0.5, "levels": 3},
                                      "train.sparsity": {"weight": 1e-3, "kind": "group"},
                                      "train.contrastive": {"weight": 0.1, "channels": 8}})
    run(cfg, tmp_path / "reg")
    last = records(tmp_path / "reg")[-1]
    assert all(last[f"loss/{k}"] > 0 for k in ("pixel", "pyramid", "sparsity", "contrastive"))


def test_pyramid_weights_must_match_levels(hr_dir, tmp_path):  # noqa: F811
    with pytest.raises(ConfigError, match=r"^train\.pyramid\.weights"):
        config(hr_dir, tmp_path, **{"train.pyramid": {"weight": 1.0, "levels": 3, "weights": [1.0, 0.5]}})


# ---------------------------------------------------------------- distillation losses


def test_vid_is_the_gaussian_negative_log_likelihood():
    torch.manual_seed(0)
    vid = VIDLoss(8, 6)
    fs, ft = torch.randn(2, 8, 5, 5), torch.randn(2, 6, 5, 5)
    mu, var = vid.mean(fs), vid.var(fs) * 1e-3 + 1e-8
    nll = -torch.distributions.Normal(mu, var.sqrt()).log_prob(ft).mean() - 0.5 * math.log(2 * math.pi)
    assert vid(fs, ft).item() == pytest.approx(nll.item(), rel=1e-5)


def test_attention_maps_compare_features_of_different_widths():
    ft = torch.randn(2, 64, 6, 6)
    same_mean = ft.mean(1, keepdim=True).expand(-1, 16, -1, -1)  # 16 channels with the teacher's channel mean
    assert AttentionMapLoss()(same_mean, ft).item() == pytest.approx(0.0, abs=1e-7)
    assert AttentionMapLoss()(torch.zeros(2, 16, 6, 6), ft).item() == pytest.approx((ft.mean(1) ** 2).mean().item(), rel=1e-5)


# ---------------------------------------------------------------- the survey's distillation systems


def _recipe(name, hr, tmp_path, *extra):
    return load_config(os.path.join(RECIPES, name),
                       [f"data.hr={hr}", "data.exclude=[]", "data.patch=32", "data.batch=4", "val.type=none",
                        "train.total_steps=3", f"output_root={tmp_path}", "tensorboard=false", "checkpoint_every=2", *extra])


def test_pisr_teacher_then_student(hr_dir, tmp_path):  # noqa: F811
    teacher_cfg = _recipe("x2_pisr_teacher_cpu.yml", hr_dir, tmp_path)
    trainer, summary = run(teacher_cfg, tmp_path / "teacher")
    assert records(tmp_path / "teacher")[-1]["loss/imitation"] > 0
    encoder = load_encoder(summary["encoder"])
    assert encoder(torch.rand(1, 1, 32, 32)).shape == (1, 1, 16, 16)  # an LR-sized image of the HR
    assert torch.equal(encoder.body[0].weight, trainer.encoder.body[0].weight.cpu())

    student_cfg = _recipe("x2_pisr_student_cpu.yml", hr_dir, tmp_path, f"model.pretrained={summary['model']}",
                          f"train.distill.teacher={summary['model']}", f"train.distill.encoder={summary['encoder']}")
    from lightsr.trainers.engine import Trainer

    student = Trainer(student_cfg, run_dir=str(tmp_path / "student"))
    for (name, p), q in zip(student.model.named_parameters(), student.teacher.parameters()):
        assert torch.equal(p.cpu(), q.cpu()), name  # PISR initialises the student from the teacher's decoder
    assert isinstance(student.adapters[0], VIDLoss)
    student.fit()
    last = records(tmp_path / "student")[-1]
    assert "loss/distill_out" not in last and "loss/distill_feat" in last


def test_pisr_teacher_resumes_exactly_with_its_encoder(hr_dir, tmp_path):  # noqa: F811
    whole = _recipe("x2_pisr_teacher_cpu.yml", hr_dir, tmp_path, "train.total_steps=4")
    run(whole, tmp_path / "whole")
    run(whole, tmp_path / "split", until=2)
    _, summary = run(whole, tmp_path / "split")
    a, b = load_encoder(str(tmp_path / "whole" / "encoder.safetensors")), load_encoder(summary["encoder"])
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_privileged_teacher_needs_its_encoder(hr_dir, tmp_path):  # noqa: F811
    with pytest.raises(ConfigError, match=r"^train\.distill\.encoder"):
        _recipe("x2_pisr_student_cpu.yml", hr_dir, tmp_path, "train.distill.encoder=null")


def test_vdsr_distillation_recipe(hr_dir, tmp_path):  # noqa: F811
    from lightsr.models import create_model
    from lightsr.models.complexity import count_params
    from lightsr.models.weights import save_model

    teacher = tmp_path / "vdsr.safetensors"
    save_model(create_model("vdsr", scale=4), str(teacher))
    cfg = _recipe("x4_vdsr_distill_gpu.yml", hr_dir, tmp_path, "device=cpu", "train.amp=null", "data.workers=0",
                  "train.total_steps=2", f"train.distill.teacher={teacher}")
    trainer, _ = run(cfg, tmp_path / "vdsr_kd")
    assert count_params(trainer.model) < count_params(trainer.teacher) / 7
    assert records(tmp_path / "vdsr_kd")[-1]["loss/distill_feat"] > 0
