"""Model distillation pieces: feature losses between a student and a frozen teacher, and the
privileged-information teacher of PISR.

Feature losses (``train.distill.feature_loss``), per (student layer, teacher layer):
  ``adapter_l1``  a learned 1x1 conv maps the student's features to the teacher's width; L1.
  ``vid``         variational information distillation as PISR trains FSRCNN (Lee et al., ECCV
                  2020): the student predicts a mean and a per-element variance of the teacher's
                  features; the loss is their Gaussian negative log-likelihood.
  ``attention``   the statistical maps of Gao et al. (ACCV 2018, the first distillation for SR,
                  VDSR-style networks): the squared channel mean of each feature map, so teacher and
                  student may differ in width; no learned parameters.
basicsr has no distillation; these are written from the papers (PISR's released code for VID).
"""

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_save
from torch import nn

from lightsr.errors import ConfigError, LightSRError
from lightsr.files import atomic_write_bytes


def _match_size(fs, ft):
    if fs.shape[-2:] != ft.shape[-2:]:
        fs = F.interpolate(fs, size=ft.shape[-2:], mode="bilinear", align_corners=False)
    return fs


class AdapterL1(nn.Module):
    def __init__(self, student_ch, teacher_ch):
        super().__init__()
        self.adapter = nn.Conv2d(student_ch, teacher_ch, 1)

    def forward(self, fs, ft):
        return F.l1_loss(_match_size(self.adapter(fs), ft), ft)


class VIDLoss(nn.Module):
    """PISR's VID with per-element variances ("homoscedasticity: None"): mean and variance heads
    are 1x1 conv -> PReLU -> 1x1 conv (+ softplus for the variance), the variance scaled by 1e-3
    (+1e-8) as in the released code. The NLL's constant (C/2 log 2 pi) is left out: it changes
    the logged value, not the gradient."""

    def __init__(self, student_ch, teacher_ch):
        super().__init__()
        self.mean = nn.Sequential(nn.Conv2d(student_ch, student_ch, 1), nn.PReLU(), nn.Conv2d(student_ch, teacher_ch, 1))
        self.var = nn.Sequential(nn.Conv2d(student_ch, student_ch, 1), nn.PReLU(), nn.Conv2d(student_ch, teacher_ch, 1),
                                 nn.Softplus())

    def forward(self, fs, ft):
        mu, var = _match_size(self.mean(fs), ft), _match_size(self.var(fs), ft) * 1e-3 + 1e-8
        return (0.5 * torch.log(var) + (mu - ft) ** 2 / (2 * var)).mean()


class AttentionMapLoss(nn.Module):
    """L1 between (mean over channels)^2 of student and teacher features, Gao et al.'s best
    statistic; their distance and weights are not in the sources we could read (L1 here)."""

    def forward(self, fs, ft):
        return F.l1_loss(_match_size(fs.mean(1, keepdim=True) ** 2, ft), ft.mean(1, keepdim=True) ** 2)


def feature_loss(kind, student_ch, teacher_ch):
    if kind == "vid":
        return VIDLoss(student_ch, teacher_ch)
    if kind == "attention":
        return AttentionMapLoss()
    return AdapterL1(student_ch, teacher_ch)


class PrivilegedEncoder(nn.Module):
    """PISR's teacher encoder ("lcscc"): HR -> an image the size of the LR input, which the
    teacher's FSRCNN decoder turns back into HR. An imitation loss keeps it close to the real LR,
    so the decoder learns from an input that carries the HR's information (the privilege)."""

    def __init__(self, scale, in_ch=1, d=56, s=12):
        super().__init__()
        self.scale, self.in_ch = scale, in_ch
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, d, 5, padding=2), nn.PReLU(),
            nn.Conv2d(d, d, 5, stride=scale, padding=2), nn.PReLU(),
            nn.Conv2d(d, s, 3, padding=1), nn.PReLU(),
            nn.Conv2d(s, in_ch, 3, padding=1))

    def forward(self, hr):
        return self.body(hr)


class PrivilegedTeacher(nn.Module):
    """Encoder and decoder trained together (PISR step 1): forward(HR) -> (SR, the encoded LR)."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, hr):
        encoded = self.encoder(hr)
        return self.decoder(encoded), encoded


def save_encoder(encoder, path):
    tensors = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    meta = {"lightsr_encoder": "pisr", "scale": str(encoder.scale), "in_ch": str(encoder.in_ch)}
    atomic_write_bytes(path, safetensors_save(tensors, metadata=meta))


def load_encoder(path):
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except (OSError, ValueError) as e:
        raise LightSRError(f"{path}: cannot read the privileged encoder ({e})") from None
    if meta.get("lightsr_encoder") != "pisr":
        raise ConfigError("train.distill.encoder", f"{path} is not an encoder written by a train.privileged run")
    encoder = PrivilegedEncoder(int(meta["scale"]), int(meta["in_ch"]))
    encoder.load_state_dict(tensors)
    return encoder
