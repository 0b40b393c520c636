"""Residual networks: VDSR (global residual), DRRN (recursive residual), LapSRN (Laplacian pyramid),
CARN and CARN-M (cascading residual)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.models.blocks import MatlabBicubicUp, MultiScaleUpsample
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
        up_group = group if mobile else 1
        self.upsample = MultiScaleUpsample(lambda s: _Upsample(nf, s, up_group), (2, 3, 4) if multi_scale else (scale,))
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


# ---------------------------------------------------------------- VDSR


class VDSR(nn.Module):
    """20 3x3 convs (64 channels, ReLU between) predicting the residual of the MATLAB-bicubic
    pre-upsampled Y channel; the layout of the authors' released model (biases included).

    ``separable=True`` makes the inner convs depthwise 3x3 + pointwise 1x1: the student of Gao et
    al.'s distillation (ACCV 2018), which keeps VDSR's depth and layout at ~1/8 of the parameters.
    """

    def __init__(self, scale=4, depth=20, nf=64, in_ch=1, separable=False):
        super().__init__()
        self.upsample = MatlabBicubicUp(scale, in_ch)
        layers = [nn.Conv2d(in_ch, nf, 3, padding=1)]
        for _ in range(depth - 2):
            inner = (nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1, groups=nf), nn.Conv2d(nf, nf, 1)) if separable
                     else nn.Conv2d(nf, nf, 3, padding=1))
            layers += [nn.ReLU(inplace=True), inner]
        layers += [nn.ReLU(inplace=True), nn.Conv2d(nf, in_ch, 3, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        up = self.upsample(x)
        return up + self.body(up)


VDSR_SOURCES = "VDSR paper via the huangzehao/Super-Resolution.Benckmark table; Urban100 from later comparison tables"


@register_model(
    "vdsr", family="residual", paper="Accurate Image Super-Resolution Using Very Deep Convolutional Networks (Kim et al., "
    "CVPR 2016)", year=2016, color="y", scales=(2, 3, 4),
    published={
        2: Published(665_921, 612.6e9, {"Set5": (37.53, 0.9587), "Set14": (33.03, 0.9124), "B100": (31.90, 0.8960),
                                        "Urban100": (30.76, 0.9140)}, VDSR_SOURCES, verified=False),
        3: Published(665_921, 612.6e9, {"Set5": (33.66, 0.9213), "Set14": (29.77, 0.8314), "B100": (28.82, 0.7976),
                                        "Urban100": (27.14, 0.8279)}, VDSR_SOURCES, verified=False),
        4: Published(665_921, 612.6e9, {"Set5": (31.35, 0.8838), "Set14": (28.01, 0.7674), "B100": (27.29, 0.7251),
                                        "Urban100": (25.18, 0.7524), "Manga109": (28.83, 0.8870)}, VDSR_SOURCES,
                     verified=False),
    },
    notes="one network serves every scale in the paper (trained on x2/x3/x4 mixed); 665,921 is the count of the "
          "released VDSR_Official.mat (weights and biases), which the tables round to 665K/666K",
)
def vdsr(scale, **options):
    return VDSR(scale, **options)


# ---------------------------------------------------------------- DRRN


class DRRN(nn.Module):
    """B recursive blocks of U pre-activation residual units (BN -> ReLU -> conv, 128 channels) on the
    MATLAB-bicubic pre-upsampled Y channel, as the official Caffe prototxt (DRRN_B1U9_20C128).

    Within a block the two convs are shared by all U units but each unit keeps its own BatchNorms,
    and every unit adds the block's entry features H0 (multi-path local residual), not its input.
    """

    def __init__(self, scale=4, blocks=1, units=25, nf=128, in_ch=1):
        super().__init__()
        self.units = units
        self.upsample = MatlabBicubicUp(scale, in_ch)
        self.entry_norm = nn.ModuleList([nn.BatchNorm2d(in_ch if b == 0 else nf) for b in range(blocks)])
        self.entry_conv = nn.ModuleList([nn.Conv2d(in_ch if b == 0 else nf, nf, 3, padding=1) for b in range(blocks)])
        self.conv_a = nn.ModuleList([nn.Conv2d(nf, nf, 3, padding=1) for _ in range(blocks)])
        self.conv_b = nn.ModuleList([nn.Conv2d(nf, nf, 3, padding=1) for _ in range(blocks)])
        self.norm_a = nn.ModuleList([nn.ModuleList([nn.BatchNorm2d(nf) for _ in range(units)]) for _ in range(blocks)])
        self.norm_b = nn.ModuleList([nn.ModuleList([nn.BatchNorm2d(nf) for _ in range(units)]) for _ in range(blocks)])
        self.exit_norm = nn.BatchNorm2d(nf)
        self.exit_conv = nn.Conv2d(nf, in_ch, 3, padding=1)

    def forward(self, x):
        up = self.upsample(x)
        h = up
        for b, (norm, conv) in enumerate(zip(self.entry_norm, self.entry_conv)):
            h0 = h = conv(F.relu(norm(h)))
            for u in range(self.units):
                a = self.conv_a[b](F.relu(self.norm_a[b][u](h)))
                h = h0 + self.conv_b[b](F.relu(self.norm_b[b][u](a)))
        return up + self.exit_conv(F.relu(self.exit_norm(h)))


DRRN_TABLE = "DRRN paper, as copied into later comparison tables (CARN, TSCN)"


@register_model(
    "drrn", family="residual", paper="Image Super-Resolution via Deep Recursive Residual Network (Tai et al., CVPR 2017), "
    "B1U25", year=2017, color="y", scales=(2, 3, 4), counted="weights", defaults={"blocks": 1, "units": 25},
    published={
        2: Published(297_216, 6796.9e9, {"Set5": (37.74, 0.9591), "Set14": (33.23, 0.9136), "B100": (32.05, 0.8973),
                                         "Urban100": (31.23, 0.9188)}, DRRN_TABLE, verified=False),
        3: Published(297_216, 6796.9e9, {"Set5": (34.03, 0.9244), "Set14": (29.96, 0.8349), "B100": (28.95, 0.8004),
                                         "Urban100": (27.53, 0.8378)}, DRRN_TABLE, verified=False),
        4: Published(297_216, 6796.9e9, {"Set5": (31.68, 0.8888), "Set14": (28.21, 0.7720), "B100": (27.38, 0.7284),
                                         "Urban100": (25.44, 0.7638)}, DRRN_TABLE, verified=False),
    },
    notes="the 52-layer B1U25 the comparison tables call DRRN (297K conv weights: recursion adds depth, not parameters; "
          "the paper's counts exclude biases and BN, e.g. B17U1's 7,375K is exactly its conv weights)",
)
def drrn(scale, **options):
    return DRRN(scale, **options)


@register_model(
    "drrn_b1u9", family="residual", paper="Image Super-Resolution via Deep Recursive Residual Network (Tai et al., "
    "CVPR 2017), B1U9 (20 layers, the released prototxt)", year=2017, color="y", scales=(2, 3, 4), counted="weights",
    defaults={"blocks": 1, "units": 9},
    published={
        2: Published(297_216, None, {"Set5": (37.66, 0.9589)}, "DRRN official README", verified=False),
        3: Published(297_216, None, {"Set5": (33.93, 0.9234)}, "DRRN official README", verified=False),
        4: Published(297_216, None, {"Set5": (31.58, 0.8864)}, "DRRN official README", verified=False),
    },
)
def drrn_b1u9(scale, **options):
    return DRRN(scale, **options)
