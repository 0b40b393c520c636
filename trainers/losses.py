"""Losses: pixel (L1, L2, Charbonnier), perceptual (+ style), adversarial, total variation, distillation.

Taken from basicsr where it is right: its CharbonnierLoss and its GANLoss (vanilla, LSGAN,
hinge). Written here: the perceptual loss (basicsr's VGGFeatureExtractor asks torchvision to
download ImageNet weights; this one reads them from local files), the relativistic-average
wrapper and TV (basicsr has neither in this form).
"""

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.compat import prepare_basicsr
from lightsr.errors import ConfigError, LightSRError


def pixel_loss(kind, eps=1e-3):
    if kind == "l1":
        return nn.L1Loss()
    if kind == "l2":
        return nn.MSELoss()
    prepare_basicsr()
    from basicsr.losses.basic_loss import CharbonnierLoss

    # basicsr computes sqrt((x - y)^2 + eps): its eps is the square of the usual Charbonnier epsilon
    return CharbonnierLoss(eps=eps * eps)


def total_variation(x):
    """Mean absolute difference of neighbouring pixels (anisotropic TV)."""
    return (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()


# layer names -> indices in torchvision's vgg.features (conv layers; relu = conv + 1)
_VGG16 = {"conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10, "conv3_2": 12, "conv3_3": 14,
          "conv4_1": 17, "conv4_2": 19, "conv4_3": 21, "conv5_1": 24, "conv5_2": 26, "conv5_3": 28}
_VGG19 = {"conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10, "conv3_2": 12, "conv3_3": 14, "conv3_4": 16,
          "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25, "conv5_1": 28, "conv5_2": 30, "conv5_3": 32, "conv5_4": 34}
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19


def _layer_index(network, name):
    table = _VGG16 if network == "vgg16" else _VGG19
    base = name.replace("relu", "conv")
    if base not in table:
        raise ConfigError("train.perceptual.layers", f"unknown {network} layer {name!r} (e.g. {', '.join(list(table)[:4])}, ...)")
    return table[base] + (1 if name.startswith("relu") else 0)


VGG19_URL = "https://download.pytorch.org/models/" + VGG19_FILE  # where torchvision's VGG19_Weights.IMAGENET1K_V1 lives
# VGG16 layers at the places of VGG19's (the fallback keeps each block's last convolution)
_VGG19_TO_16 = {"conv3_4": "conv3_3", "conv4_4": "conv4_3", "conv5_4": "conv5_3"}


def _vgg16_place(name):
    """The VGG16 layer at a VGG19 layer's place (relu3_4 -> relu3_3; the first two blocks are alike)."""
    kind = "relu" if name.startswith("relu") else "conv"
    conv = name.replace("relu", "conv")
    return kind + _VGG19_TO_16.get(conv, conv)[4:]


def resolve_vgg19(weights_file=None):
    """torchvision's ImageNet VGG19 file, the standard way: given, in torch hub's cache, in the
    weights folder, or (unless offline) downloaded into torch hub's cache as torchvision does.
    None when it cannot be had."""
    import os

    import torch.hub

    from lightsr.weights_dir import is_offline, search_dirs

    if weights_file:
        if not os.path.isfile(weights_file):
            raise LightSRError(f"{weights_file}: no such file (train.perceptual.weights_file)")
        return weights_file
    cache = os.path.join(torch.hub.get_dir(), "checkpoints")
    for folder in [cache, *search_dirs()]:
        if os.path.isfile(os.path.join(folder, VGG19_FILE)):
            return os.path.join(folder, VGG19_FILE)
    if is_offline():
        return None
    os.makedirs(cache, exist_ok=True)
    target = os.path.join(cache, VGG19_FILE)
    import socket

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # a network that drops packets must not hang training forever
    try:
        torch.hub.download_url_to_file(VGG19_URL, target, progress=False)
    except Exception:  # noqa: BLE001 - no network, refused, timed out or cut short: not to be had
        return None
    finally:
        socket.setdefaulttimeout(previous)
    return target


def _vgg_features(network, weights_file, upto):
    if network == "vgg16":
        from lightsr.vgg16 import vgg16_features

        return vgg16_features(weights_file, last=upto)
    from torchvision.models import vgg19

    from lightsr.weights_dir import missing_file_error

    path = resolve_vgg19(weights_file)
    if path is None:
        raise missing_file_error(VGG19_FILE, what="the VGG19 features", source=VGG19_URL,
                                 how="torchvision's ImageNet VGG19 file (or use network: vgg16)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure: refused, one line
        raise LightSRError(f"{path}: refused as VGG19 weights: not a tensors-only file ({str(e).splitlines()[0][:120]})") from None
    model = vgg19(weights=None)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise LightSRError(f"{path}: not torchvision's VGG19 weights ({str(e).splitlines()[0]})") from None
    features = model.features[: upto + 1].eval()
    for p in features.parameters():
        p.requires_grad_(False)
    return features


REAL_ESRGAN_LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


class PerceptualLoss(nn.Module):
    """Weighted L1/L2 distances of VGG features (ImageNet-normalised input), and optionally of
    their Gram matrices (style). Layer names as in the papers: conv3_3 (pre-activation) or relu3_3.

    VGG19 (Real-ESRGAN's) is resolved as torchvision resolves it (see ``resolve_vgg19``); where its
    file cannot be had (offline) and ``fallback`` is set, the offline VGG16 (lightsr.vgg16) takes
    its place at the same positions and ``notice`` says so in one line."""

    def __init__(self, layers=None, network="vgg19", criterion="l1", style_weight=0.0, weights_file=None, fallback=False):
        super().__init__()
        self.notice = None
        if layers is None:
            layers = REAL_ESRGAN_LAYERS if network == "vgg19" else {_vgg16_place(k): w for k, w in REAL_ESRGAN_LAYERS.items()}
        if network == "vgg19" and fallback and resolve_vgg19(weights_file) is None:
            from lightsr.vgg16 import ensure_vgg16_source

            layers = {_vgg16_place(k): w for k, w in layers.items()}
            self.notice = (f"perceptual loss: VGG19's ImageNet weights ({VGG19_FILE}) cannot be had here; using the "
                           f"offline VGG16 at the same positions ({', '.join(layers)})")
            network, weights_file = "vgg16", ensure_vgg16_source()
        self.layers = {name: (_layer_index(network, name), w) for name, w in layers.items()}
        upto = max(i for i, _ in self.layers.values())
        self.features = _vgg_features(network, weights_file, upto)
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss
        self.style_weight = style_weight
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def _extract(self, x):
        wanted = {i: name for name, (i, _) in self.layers.items()}
        out, h = {}, (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in wanted:
                out[wanted[i]] = h
        return out

    @staticmethod
    def _gram(f):
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)

    def forward(self, x, gt):
        if x.shape[1] == 1:  # luma models: VGG expects RGB
            x, gt = x.expand(-1, 3, -1, -1), gt.expand(-1, 3, -1, -1)
        fx, fg = self._extract(x), self._extract(gt.detach())
        percep = sum(w * self.criterion(fx[n], fg[n]) for n, (_, w) in self.layers.items())
        style = 0.0
        if self.style_weight > 0:
            style = self.style_weight * sum(w * self.criterion(self._gram(fx[n]), self._gram(fg[n])) for n, (_, w) in self.layers.items())
        return percep, style


class AdversarialLoss(nn.Module):
    """basicsr's GANLoss (vanilla / lsgan / hinge), optionally relativistic average (ESRGAN):
    the discriminator judges real vs. the mean fake and fake vs. the mean real."""

    def __init__(self, kind="vanilla", relativistic=False):
        super().__init__()
        prepare_basicsr()
        from basicsr.losses.gan_loss import GANLoss

        self.gan = GANLoss(kind)
        self.relativistic = relativistic

    def generator(self, d_fake, d_real=None):
        if not self.relativistic:
            return self.gan(d_fake, True, is_disc=False)
        d_real = d_real.detach()
        return 0.5 * (self.gan(d_real - d_fake.mean(), False, is_disc=False) + self.gan(d_fake - d_real.mean(), True, is_disc=False))

    def discriminator(self, d_real, d_fake):
        if not self.relativistic:
            return self.gan(d_real, True, is_disc=True) + self.gan(d_fake, False, is_disc=True)
        return 0.5 * (self.gan(d_real - d_fake.mean(), True, is_disc=True) + self.gan(d_fake - d_real.mean(), False, is_disc=True))
