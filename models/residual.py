"""Residual networks: LapSRN (Laplacian pyramid), CARN and CARN-M (cascading residual)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.models.registry import Published, register_model

SAFMN_TABLE = "SAFMN paper (Sun et al. ICCV 2023) comparison table"


# ---------------------------------------------------------------- LapSRN


def _bilinear_deconv_weight(size=4):
    """The bilinear kernel MatConvNet initialises LapSRN's image upsampler with."""
    f = math.ceil(size / 2)
    c = (2 * f - 1 - f % 2) / (2 * f)
    og = torch.arange(size, dtype=torch.float32)
    w1 = 1 - torch.abs(og / f - c)
    return (w1[:, None] * w1[None, :])[None, None]


class LapSRNLevel(nn.Module):
    """One x2 level: ``depth`` 3x3 convs, a 3x3 feature deconvolution, a residual image added
    to the deconvolved image of the level below."""

    def __init__(self, depth=10, nf=64):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers += [nn.Conv2d(nf, nf, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers)
        # MatConvNet's 3x3 transposed conv with crop [0 1 0 1]: padding 0, drop the last row/column
        self.upconv = nn.ConvTranspose2d(nf, nf, 3, stride=2, padding=0)
        self.residual_conv = nn.Conv2d(nf, 1, 3, padding=1)
        self.img_up = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False)
        with torch.no_grad():
            self.img_up.weight.copy_(_bilinear_deconv_weight())

    def forward(self, features, image):
        up = F.leaky_relu(self.upconv(self.body(features))[:, :, :-1, :-1], 0.2)
        return up, self.img_up(image) + self.residual_conv(up)


class LapSRN(nn.Module):
    """Progressive x2 levels (log2 scale of them) on the Y channel; official MatConvNet layout."""

    def __init__(self, scale=4, depth=10, nf=64, in_ch=1):
        super().__init__()
        self.input_conv = nn.Conv2d(in_ch, nf, 3, padding=1)
        self.levels = nn.ModuleList([LapSRNLevel(depth, nf) for _ in range(int(math.log2(scale)))])

    def forward_levels(self, x):
        """Outputs at x2, x4, ... (LapSRN supervises every level)."""
        features, image, outs = F.leaky_relu(self.input_conv(x), 0.2), x, []
        for level in self.levels:
            features, image = level(features, image)
            outs.append(image)
        return outs

    def forward(self, x):
        return self.forward_levels(x)[-1]


@register_model(
    "lapsrn", family="residual", paper="Deep Laplacian Pyramid Networks for Fast and Accurate Super-Resolution (Lai et "
    "al., CVPR 2017)", year=2017, color="y", scales=(2, 4, 8),
    published={
        4: Published(813_000, 149e9, {"Set5": (31.54, 0.8850), "Set14": (28.19, 0.7720), "B100": (27.32, 0.7280),
                                      "Urban100": (25.21, 0.7560), "Manga109": (29.09, 0.8845)}, SAFMN_TABLE),
    },
    counted="weights",
    notes="the feature deconvolution is 3x3 as in the official MatConvNet code (init_LapSRN_model.m): with it depth 10 "
          "at x4 has 812,768 weights (813K); reading the paper as 4x4 gives 870K. x3 is not a LapSRN scale (the authors "
          "run x4 and resize). The tables' 149G MACs count the transposed convs over their output grid; counted here as "
          "what they compute (117G).",
)
def lapsrn(scale, **options):
    return LapSRN(scale, **options)


# ---------------------------------------------------------------- CARN / CARN-M (nmhkahn/CARN-pytorch names)


class MeanShift(nn.Module):
    """A frozen 1x1 conv adding ``sign`` x the DIV2K mean (kept as a conv for the official keys)."""

    def __init__(self, mean, sign):
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)
        self.shifter.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.shifter.bias.data = sign * torch.tensor(mean)
        for p in self.shifter.parameters():
            p.requires_grad = False

    def forward(self, x):
        return self.shifter(x)


class _ReLUConv(nn.Module):
    def __init__(self, in_ch, out_ch, kernel=1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.body(x)


class ResidualBlock(nn.Module):
    def __init__(self, nf=64):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(nf, nf, 3, padding=1))

    def forward(self, x):
        return F.relu(self.body(x) + x)


class EResidualBlock(nn.Module):
    """CARN-M's efficient residual block: two grouped 3x3 convs and a 1x1."""

    def __init__(self, nf=64, group=4):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf, 3, padding=1, groups=group), nn.ReLU(inplace=True),
            nn.Conv2d(nf, nf, 3, padding=1, groups=group), nn.ReLU(inplace=True),
            nn.Conv2d(nf, nf, 1),
        )

    def forward(self, x):
        return F.relu(self.body(x) + x)


def _cascade(x, blocks, fusions):
    """CARN's cascading: each block's output is concatenated to all before it and fused by 1x1."""
    cat, out = x, x
    for block, fuse in zip(blocks, fusions):
        cat = torch.cat([cat, block(out)], dim=1)
        out = fuse(cat)
    return out


class CascadingBlock(nn.Module):
    def __init__(self, nf=64, mobile=False, group=4):
        super().__init__()
        if mobile:  # one efficient residual block, applied three times (recursive weight sharing)
            self.b1 = EResidualBlock(nf, group)
        else:
            self.b1, self.b2, self.b3 = ResidualBlock(nf), ResidualBlock(nf), ResidualBlock(nf)
        self.mobile = mobile
        self.c1, self.c2, self.c3 = _ReLUConv(nf * 2, nf), _ReLUConv(nf * 3, nf), _ReLUConv(nf * 4, nf)

    def forward(self, x):
        blocks = [self.b1] * 3 if self.mobile else [self.b1, self.b2, self.b3]
        return _cascade(x, blocks, [self.c1, self.c2, self.c3])


class _Upsample(nn.Module):
    def __init__(self, nf, scale, group=1):
        super().__init__()
        layers = []
        if scale == 3:
            layers += [nn.Conv2d(nf, 9 * nf, 3, padding=1, groups=group), nn.ReLU(inplace=True), nn.PixelShuffle(3)]
        else:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(nf, 4 * nf, 3, padding=1, groups=group), nn.ReLU(inplace=True), nn.PixelShuffle(2)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class _MultiUpsample(nn.Module):
    def __init__(self, nf, scales, group=1):
        super().__init__()
        for s in scales:
            setattr(self, f"up{s}", _Upsample(nf, s, group))

    def forward(self, x, scale):
        return getattr(self, f"up{scale}")(x)


class CARN(nn.Module):
    """CARN (mobile=False) or CARN-M (mobile=True, groups of 4).

    ``multi_scale=True`` (the published model) holds the x2, x3 and x4 upsamplers on one body,
    and the published parameter counts include all three; ``scale`` picks the one used.
    """

    def __init__(self, scale=4, nf=64, mobile=False, group=4, multi_scale=True):
        super().__init__()
        mean = (0.4488, 0.4371, 0.4040)
        self.scale = scale
        self.sub_mean, self.add_mean = MeanShift(mean, -1), MeanShift(mean, 1)
        self.entry = nn.Conv2d(3, nf, 3, padding=1)
        self.b1, self.b2, self.b3 = (CascadingBlock(nf, mobile, group) for _ in range(3))
        self.c1, self.c2, self.c3 = _ReLUConv(nf * 2, nf), _ReLUConv(nf * 3, nf), _ReLUConv(nf * 4, nf)
        self.upsample = _MultiUpsample(nf, (2, 3, 4) if multi_scale else (scale,), group if mobile else 1)
        self.exit = nn.Conv2d(nf, 3, 3, padding=1)

    def forward(self, x):
        x = self.entry(self.sub_mean(x))
        out = _cascade(x, [self.b1, self.b2, self.b3], [self.c1, self.c2, self.c3])
        return self.add_mean(self.exit(self.upsample(out, self.scale)))


@register_model(
    "carn", family="residual", paper="Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual Network "
    "(Ahn et al., ECCV 2018)", year=2018, color="rgb", scales=(2, 3, 4),
    published={4: Published(1_592_000, 91e9, {"Set5": (32.13, 0.8937), "Set14": (28.60, 0.7806), "B100": (27.58, 0.7349),
                                               "Urban100": (26.07, 0.7837), "Manga109": (30.47, 0.9084)},
                            "SAFMN table; Manga109 from the RFDN paper")},
    notes="the published count is the multi-scale model (x2, x3 and x4 upsamplers on one body)",
)
def carn(scale, **options):
    return CARN(scale, mobile=False, **options)


@register_model(
    "carn_m", family="residual", paper="Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual Network "
    "(Ahn et al., ECCV 2018), mobile variant", year=2018, color="rgb", scales=(2, 3, 4),
    published={4: Published(412_000, 33e9, {"Set5": (31.92, 0.8903), "Set14": (28.42, 0.7762), "B100": (27.44, 0.7304),
                                             "Urban100": (25.62, 0.7694)}, "CARN paper (secondary source)", verified=False)},
    notes="efficient residual blocks (groups of 4) shared three times per cascading block; the multi-scale release counts "
          "414.8K against the paper's 412K",
)
def carn_m(scale, **options):
    return CARN(scale, mobile=True, **options)
