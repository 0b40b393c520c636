"""The survey's other losses: multi-scale (pyramid) pixel loss, sparsity, contrastive.

None of the anchors ships these for SR training (basicsr has no pyramid, sparsity or
contrastive loss; RLFN released no training code), so they are written here from the papers.
"""

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.errors import ConfigError


def pyramid_pixel_loss(sr, hr, criterion, levels=3, weights=None):
    """``criterion`` between SR and HR at full size and at 1/2, 1/4, ... (``levels`` in all),
    each halving by antialiased bicubic (the PIL / MATLAB-style downscale, a = -0.5).

    LapSRN supervises its x2, x4, ... outputs against HR downscaled by bicubic with equal
    weights; this applies the same idea to any network's final output: errors in the coarse
    structure are counted again at every level, fine texture only once.
    """
    weights = weights or [1.0] * levels
    total = 0.0
    for level, w in enumerate(weights):
        if level:
            size = (max(sr.shape[-2] >> level, 1), max(sr.shape[-1] >> level, 1))
            sr = F.interpolate(sr, size=size, mode="bicubic", align_corners=False, antialias=True)
            hr = F.interpolate(hr, size=size, mode="bicubic", align_corners=False, antialias=True)
        total = total + w * criterion(sr, hr)
    return total


_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def sparsity_loss(model, kind="group"):
    """A penalty that drives weights, or whole filters, to zero so the network can be pruned.

    ``l1``: the lasso on every conv / linear weight (element sparsity).
    ``group``: the sum of per-output-filter L2 norms (group lasso, Wen et al. 2016): whole
    filters go to zero together, which is what removes channels.
    ``bn``: L1 on the normalisation scales (network slimming, Liu et al. 2017); most SR
    networks have no BatchNorm, so this one needs a model that does.
    Each is a mean per weight (or per filter / scale), so the weight does not depend on model size.
    """
    if kind == "bn":
        scales = [m.weight for m in model.modules() if isinstance(m, _NORMS) and getattr(m, "weight", None) is not None]
        if not scales:
            raise ConfigError("train.sparsity.kind", f"{type(model).__name__} has no normalisation layers with a scale; "
                                                     "use 'group' or 'l1'")
        return torch.cat([s.flatten() for s in scales]).abs().mean()
    layers = [m for m in model.modules() if isinstance(m, _WEIGHTED) and m.weight.requires_grad]
    if kind == "l1":
        return torch.cat([m.weight.flatten() for m in layers]).abs().mean()
    # a transposed conv keeps its output channels in dim 1
    norms = [(m.weight.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else m.weight).flatten(1).norm(dim=1) for m in layers]
    return torch.cat(norms).mean()


class RandomFeatureExtractor(nn.Module):
    """RLFN's extractor for its contrastive loss: conv 3x3 -> tanh -> conv 3x3 with random, frozen
    weights (shallow features keep the edges and textures PSNR depends on; tanh, unlike ReLU,
    keeps them dense). Seeded, so every rank and every resume uses the same extractor."""

    def __init__(self, in_ch, channels=64, seed=0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        g = torch.Generator().manual_seed(seed)
        for conv in (self.conv1, self.conv2):
            fan_in = conv.weight[0].numel()
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)  # Kaiming normal
                conv.bias.zero_()
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        h1 = torch.tanh(self.conv1(x))
        return [h1, self.conv2(h1)]


class VGGFeatureLayers(nn.Module):
    """relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of an ImageNet VGG (AECR-Net / CSD's contrastive
    features), ImageNet-normalised; luma is repeated to RGB."""

    RELU_X_1 = {"vgg16": (1, 6, 11, 18, 25), "vgg19": (1, 6, 11, 20, 29)}

    def __init__(self, network="vgg19", weights_file=None):
        super().__init__()
        from lightsr.trainers.losses import _vgg_features

        self.taps = self.RELU_X_1[network]
        self.features = _vgg_features(network, weights_file, self.taps[-1])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        out, h = [], (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h)
        return out


class ContrastiveLoss(nn.Module):
    """The contrastive regularisation of AECR-Net / CSD as RLFN uses it: per feature layer j,
    w_j * L1(phi_j(SR), phi_j(HR)) / (L1(phi_j(SR), phi_j(negative)) + 1e-7), pulling the output
    towards the ground truth (positive) and away from the bicubic-upsampled LR (negative).

    ``extractor="random"`` is RLFN's choice (two random layers, both outputs weighted 1; the
    width of its convs is not published, 64 here); ``vgg16`` / ``vgg19`` are AECR-Net's five
    relu*_1 layers with weights 1/32, 1/16, 1/8, 1/4, 1. ``negatives="batch"`` uses the other
    images of the batch (CSD's choice) instead of the sample's own LR.
    """

    def __init__(self, in_ch, extractor="random", channels=64, seed=0, negatives="own", weights_file=None):
        super().__init__()
        if extractor == "random":
            self.features, self.weights = RandomFeatureExtractor(in_ch, channels, seed), [1.0, 1.0]
        else:
            self.features, self.weights = VGGFeatureLayers(extractor, weights_file), [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0]
        self.negatives = negatives

    def forward(self, sr, hr, lr):
        negative = F.interpolate(lr, size=sr.shape[-2:], mode="bicubic", align_corners=False)
        if self.negatives == "batch":  # each sample's negative is another sample's LR
            negative = torch.roll(negative, 1, dims=0)
        with torch.no_grad():
            f_pos, f_neg = self.features(hr), self.features(negative)
        f_sr = self.features(sr)
        return sum(w * F.l1_loss(a, p) / (F.l1_loss(a, n) + 1e-7) for w, a, p, n in zip(self.weights, f_sr, f_pos, f_neg))
