"""Extremely lightweight networks for mobile NPUs: SESR, XLSR, ABPN."""

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.models.blocks import Clip
from lightsr.models.registry import Published, register_model


class CollapsibleLinearBlock(nn.Module):
    """SESR's linear block: k x k conv to a wide expansion, 1x1 back, plus an identity when the
    widths match; no non-linearity inside, so it collapses exactly into one k x k conv.

    Training runs the expanded form (the over-parameterisation helps optimisation);
    ``fuse()`` replaces it by the single conv the paper deploys. Convs have no bias, as in
    the collapsed networks whose parameter counts the paper reports.
    """

    def __init__(self, in_ch, out_ch, kernel, expansion):
        super().__init__()
        self.expand = nn.Conv2d(in_ch, expansion, kernel, padding=kernel // 2, bias=False)
        self.squeeze = nn.Conv2d(expansion, out_ch, 1, bias=False)
        self.residual = in_ch == out_ch
        self.collapsed = None

    def collapsed_weight(self):
        w = torch.einsum("om,mikl->oikl", self.squeeze.weight[:, :, 0, 0], self.expand.weight)
        if self.residual:
            k = w.shape[-1] // 2
            w = w.clone()
            w[:, :, k, k] += torch.eye(w.shape[0], device=w.device, dtype=w.dtype)
        return w

    def fuse(self):
        if self.collapsed is None:
            w = self.collapsed_weight().detach()
            self.collapsed = nn.Conv2d(w.shape[1], w.shape[0], w.shape[-1], padding=w.shape[-1] // 2, bias=False)
            self.collapsed.weight.data.copy_(w)
            del self.expand, self.squeeze

    def forward(self, x):
        if self.collapsed is not None:
            return self.collapsed(x)
        return F.conv2d(x, self.collapsed_weight(), padding=self.expand.padding)


class SESR(nn.Module):
    """Super-efficient SR (ARM-software/sesr): 5x5 linear block, m 3x3 linear blocks with PReLU,
    a long residual, a 5x5 linear block to s^2 channels plus the input, depth-to-space
    (two x2 stages for x4), clipped to [0, 1]. Y channel."""

    def __init__(self, scale=2, m=5, f=16, expansion=256, in_ch=1):
        super().__init__()
        self.scale = scale
        self.input_block = CollapsibleLinearBlock(in_ch, f, 5, expansion)
        self.blocks = nn.ModuleList([CollapsibleLinearBlock(f, f, 3, expansion) for _ in range(m)])
        self.acts = nn.ModuleList([nn.PReLU(f) for _ in range(m)])
        self.output_block = CollapsibleLinearBlock(f, in_ch * scale * scale, 5, expansion)
        self.clip = Clip()

    def forward(self, x):
        f0 = self.input_block(x - 0.5)
        h = f0
        for block, act in zip(self.blocks, self.acts):
            h = act(block(h))
        out = self.output_block(h + f0) + x  # the 1-channel input broadcast over the s^2 channels
        for _ in range(2 if self.scale == 4 else 1):
            out = F.pixel_shuffle(out, 2 if self.scale == 4 else self.scale)
        return self.clip(out)


SESR_PAPER = "Collapsible Linear Blocks for Super-Efficient Super Resolution (Bhardwaj et al., MLSys 2022)"
_SESR_VARIANTS = {"m3": dict(m=3), "m5": dict(m=5), "m7": dict(m=7), "m11": dict(m=11, expansion=64),
                  "xl": dict(m=11, f=32, expansion=64)}
for _name, _defaults in _SESR_VARIANTS.items():
    _published = {}
    if _name == "m5":
        _published = {2: Published(13_520, None, {}, "ARM-software/sesr README (collapsed weights)")}
    register_model(
        f"sesr_{_name}", family="extremely_lightweight", paper=SESR_PAPER, year=2022, color="y", scales=(2, 4),
        defaults=_defaults, published=_published, counted="weights",
        notes="parameter counts are of the collapsed network (conv weights; PReLU slopes not counted, as in the paper)",
    )(lambda scale, **options: SESR(scale, **options))


class XLSR(nn.Module):
    """XLSR (Mobile AI 2021): a root of four parallel 3x3 convs (32 ch), a 1x1, three G-blocks
    (grouped 3x3 with 4 groups + ReLU, 1x1), a 3x3 side branch on the input, a 1x1 fusion,
    a 3x3 to 3 s^2, depth-to-space and a clipped ReLU (robust to int8 quantisation)."""

    def __init__(self, scale=3, in_ch=3, out_ch=3, width=32, groups=4, blocks=3):
        super().__init__()
        self.scale = scale
        self.root = nn.Conv2d(in_ch, width, 3, padding=1)  # = four parallel 3 -> 8 convs, concatenated
        self.conv2 = nn.Conv2d(width, width, 1)
        self.gblocks = nn.ModuleList([
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1, groups=groups), nn.ReLU(inplace=True), nn.Conv2d(width, width, 1))
            for _ in range(blocks)
        ])
        self.side = nn.Conv2d(in_ch, width // 2, 3, padding=1)
        self.fuse_conv = nn.Conv2d(width + width // 2, width, 1)
        self.tail = nn.Conv2d(width, out_ch * scale * scale, 3, padding=1)
        self.clip = Clip()

    def forward(self, x):
        h = self.conv2(F.relu(self.root(x)))
        for g in self.gblocks:
            h = g(h)
        h = F.relu(self.fuse_conv(torch.cat([h, self.side(x)], dim=1)))
        return self.clip(F.pixel_shuffle(self.tail(h), self.scale))


@register_model(
    "xlsr", family="extremely_lightweight", paper="Extremely Lightweight Quantization Robust Real-Time Single-Image Super "
    "Resolution for Mobile Devices (Ayazoglu, CVPRW 2021)", year=2021, color="rgb", scales=(2, 3, 4),
    published={3: Published(22_000, None, {}, "XLSR abstract: 30x fewer parameters than VDSR (665K)", verified=False)},
    faithful="partial: no official code; the structure is the one three independent re-implementations agree on "
             "(cxzhou95/XLSR, Qualcomm AIMET XLSRRelease, a Keras port); whether the G-block has an inner residual "
             "is not stated",
)
def xlsr(scale, **options):
    return XLSR(scale, **options)


class ABPN(nn.Module):
    """Anchor-based plain net (Mobile AI 2021): six 3x3 convs; the input repeated s^2 times
    (the anchor) is added before depth-to-space, so the convs learn only the residual."""

    def __init__(self, scale=3, nf=28, m=4, in_ch=3):
        super().__init__()
        self.scale = scale
        layers = [nn.Conv2d(in_ch, nf, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(m):
            layers += [nn.Conv2d(nf, nf, 3, padding=1), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(nf, in_ch * scale * scale, 3, padding=1), nn.ReLU(inplace=True),
                   nn.Conv2d(in_ch * scale * scale, in_ch * scale * scale, 3, padding=1)]
        self.body = nn.Sequential(*layers)
        self.clip = Clip()

    def forward(self, x):
        anchor = x.repeat_interleave(self.scale * self.scale, dim=1)  # PixelShuffle order: channel-major
        return self.clip(F.pixel_shuffle(self.body(x) + anchor, self.scale))


@register_model(
    "abpn", family="extremely_lightweight", paper="Anchor-based Plain Net for Mobile Image Super-Resolution (Du et al., "
    "CVPRW 2021)", year=2021, color="rgb", scales=(2, 3, 4),
    published={3: Published(42_540, None, {}, "NJU-Jet/SR_Mobile_Quantization README (42.54K)")},
)
def abpn(scale, **options):
    return ABPN(scale, **options)
