"""Attention networks: PAN (pixel attention), SAFMN (spatially-adaptive feature modulation), ESRT."""

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.models.blocks import MultiScaleUpsample, conv, pixelshuffle_upsampler
from lightsr.models.registry import Published, register_model

SAFMN_TABLE = "SAFMN paper (Sun et al. ICCV 2023) comparison table"


# ---------------------------------------------------------------- PAN (zhaohengyuan1/PAN names)


class PA(nn.Module):
    """Pixel attention: a 1x1 conv and a sigmoid give one weight per pixel and channel."""

    def __init__(self, nf):
        super().__init__()
        self.conv = nn.Conv2d(nf, nf, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


class PAConv(nn.Module):
    def __init__(self, nf):
        super().__init__()
        self.k2 = nn.Conv2d(nf, nf, 1)
        self.k3 = conv(nf, nf, bias=False)
        self.k4 = conv(nf, nf, bias=False)

    def forward(self, x):
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    """Self-calibrated block with pixel attention: a plain 3x3 branch and a PAConv branch."""

    def __init__(self, nf, reduction=2):
        super().__init__()
        gw = nf // reduction
        self.conv1_a = nn.Conv2d(nf, gw, 1, bias=False)
        self.conv1_b = nn.Conv2d(nf, gw, 1, bias=False)
        self.k1 = nn.Sequential(conv(gw, gw, bias=False))
        self.PAConv = PAConv(gw)
        self.conv3 = nn.Conv2d(gw * 2, nf, 1, bias=False)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        a = self.lrelu(self.k1(self.lrelu(self.conv1_a(x))))
        b = self.lrelu(self.PAConv(self.lrelu(self.conv1_b(x))))
        return self.conv3(torch.cat([a, b], dim=1)) + x


class PAN(nn.Module):
    def __init__(self, scale=4, nf=40, unf=24, nb=16, in_ch=3, out_ch=3):
        super().__init__()
        self.scale = scale
        self.conv_first = conv(in_ch, nf)
        self.SCPA_trunk = nn.Sequential(*[SCPA(nf) for _ in range(nb)])
        self.trunk_conv = conv(nf, nf)
        self.upconv1, self.att1, self.HRconv1 = conv(nf, unf), PA(unf), conv(unf, unf)
        if scale == 4:
            self.upconv2, self.att2, self.HRconv2 = conv(unf, unf), PA(unf), conv(unf, unf)
        self.conv_last = conv(unf, out_ch)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        step = 2 if self.scale == 4 else self.scale
        fea = self.upconv1(F.interpolate(fea, scale_factor=step, mode="nearest"))
        fea = self.lrelu(self.HRconv1(self.lrelu(self.att1(fea))))
        if self.scale == 4:
            fea = self.upconv2(F.interpolate(fea, scale_factor=2, mode="nearest"))
            fea = self.lrelu(self.HRconv2(self.lrelu(self.att2(fea))))
        out = self.conv_last(fea)
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


@register_model(
    "pan", family="attention", paper="Efficient Image Super-Resolution Using Pixel Attention (Zhao et al., ECCVW 2020)",
    year=2020, color="rgb", scales=(2, 3, 4),
    published={
        2: Published(261_000, 71e9, {"Set5": (38.00, 0.9605), "Set14": (33.59, 0.9181), "B100": (32.18, 0.8997),
                                     "Urban100": (32.01, 0.9273), "Manga109": (38.70, 0.9773)}, SAFMN_TABLE),
        3: Published(261_000, None, {}, "PAN paper"),
        4: Published(272_000, 28e9, {"Set5": (32.13, 0.8948), "Set14": (28.61, 0.7822), "B100": (27.59, 0.7363),
                                     "Urban100": (26.11, 0.7854), "Manga109": (30.51, 0.9095)}, SAFMN_TABLE),
    },
)
def pan(scale, **options):
    return PAN(scale, **options)


# ---------------------------------------------------------------- SAFMN (sunny2109/SAFMN names)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of each pixel (channels-first), with a per-channel affine."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class SAFM(nn.Module):
    """Spatially-adaptive feature modulation: multi-scale depthwise features (max-pooled by 2^i)
    aggregated by a 1x1 conv, GELU, and used as a modulation map of the input."""

    def __init__(self, dim, n_levels=4):
        super().__init__()
        self.n_levels = n_levels
        chunk = dim // n_levels
        self.mfr = nn.ModuleList([nn.Conv2d(chunk, chunk, 3, padding=1, groups=chunk) for _ in range(n_levels)])
        self.aggr = nn.Conv2d(dim, dim, 1)
        self.act = nn.GELU()

    def forward(self, x):
        h, w = x.shape[-2:]
        chunks = x.chunk(self.n_levels, dim=1)
        out = []
        for i, c in enumerate(chunks):
            if i == 0:
                out.append(self.mfr[0](c))
            else:
                p = F.adaptive_max_pool2d(c, (h // 2**i, w // 2**i))
                out.append(F.interpolate(self.mfr[i](p), size=(h, w), mode="nearest"))
        return self.act(self.aggr(torch.cat(out, dim=1))) * x


class CCM(nn.Module):
    """Convolutional channel mixer: 3x3 expand, GELU, 1x1 back."""

    def __init__(self, dim, growth_rate=2.0):
        super().__init__()
        hidden = int(dim * growth_rate)
        self.ccm = nn.Sequential(nn.Conv2d(dim, hidden, 3, padding=1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def forward(self, x):
        return self.ccm(x)


class AttBlock(nn.Module):
    def __init__(self, dim, ffn_scale=2.0):
        super().__init__()
        self.norm1, self.norm2 = ChannelLayerNorm(dim), ChannelLayerNorm(dim)
        self.safm = SAFM(dim)
        self.ccm = CCM(dim, ffn_scale)

    def forward(self, x):
        x = self.safm(self.norm1(x)) + x
        return self.ccm(self.norm2(x)) + x


class SAFMN(nn.Module):
    # adaptive max pooling to (h // 2^i, w // 2^i) needs known sizes in ONNX (multiples of 8)
    onnx_dynamic_size = False

    def __init__(self, scale=4, dim=36, n_blocks=8, ffn_scale=2.0, in_ch=3, out_ch=3):
        super().__init__()
        self.to_feat = nn.Conv2d(in_ch, dim, 3, padding=1)
        self.feats = nn.Sequential(*[AttBlock(dim, ffn_scale) for _ in range(n_blocks)])
        self.to_img = pixelshuffle_upsampler(dim, out_ch, scale)

    def forward(self, x):
        x = self.to_feat(x)
        return self.to_img(self.feats(x) + x)


@register_model(
    "safmn", family="attention", paper="Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution "
    "(Sun et al., ICCV 2023)", year=2023, color="rgb", scales=(2, 3, 4),
    published={
        2: Published(228_000, 52e9, {"Set5": (38.00, 0.9605), "Set14": (33.54, 0.9177), "B100": (32.16, 0.8995),
                                     "Urban100": (31.84, 0.9256), "Manga109": (38.71, 0.9771)}, "SAFMN paper"),
        3: Published(233_000, None, {}, "SAFMN release (train_DF2K_X3.yml)"),
        4: Published(240_000, 14e9, {"Set5": (32.18, 0.8948), "Set14": (28.60, 0.7813), "B100": (27.58, 0.7359),
                                     "Urban100": (25.97, 0.7809), "Manga109": (30.43, 0.9063)}, "SAFMN paper"),
    },
)
def safmn(scale, **options):
    return SAFMN(scale, **options)


# ---------------------------------------------------------------- ESRT (luissen/ESRT names)


class Scale(nn.Module):
    """A learned scalar multiplier (EDSR's common.Scale)."""

    def __init__(self, init=1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([float(init)]))

    def forward(self, x):
        return x * self.scale


class CALayer(nn.Module):
    """Squeeze-and-excitation channel attention (RCAN's CA layer)."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class BasicConv(nn.Module):
    """Bias-free conv followed by ReLU (ESRT's BasicConv with its defaults)."""

    def __init__(self, in_ch, out_ch, kernel, padding):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, padding=padding, bias=False)

    def forward(self, x):
        return F.relu(self.conv(x))


class ResidualUnit(nn.Module):
    """ESRT's RU (``one_conv``): w1 x + w2 conv(PReLU(conv(x))), halving the channels inside."""

    def __init__(self, nf):
        super().__init__()
        self.conv = nn.Conv2d(nf, nf // 2, 3, padding=1)
        self.relu = nn.PReLU(nf // 2)
        self.conv1 = nn.Conv2d(nf // 2, nf, 3, padding=1)
        self.weight1, self.weight2 = Scale(), Scale()

    def forward(self, x):
        return self.weight1(x) + self.weight2(self.conv1(self.relu(self.conv(x))))


class ARFB(nn.Module):
    """Adaptive residual feature block (``one_module``)."""

    def __init__(self, nf):
        super().__init__()
        self.layer1, self.layer2 = ResidualUnit(nf), ResidualUnit(nf)
        self.layer4 = BasicConv(nf, nf, 3, 1)
        self.alise = BasicConv(2 * nf, nf, 1, 0)
        self.atten = CALayer(nf)
        self.weight1, self.weight2, self.weight3, self.weight4, self.weight5 = (Scale() for _ in range(5))

    def forward(self, x):
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x4 = self.layer4(self.atten(self.alise(torch.cat([self.weight2(x2), self.weight3(x1)], dim=1))))
        return self.weight4(x) + self.weight5(x4)


class HPB(nn.Module):
    """High-preserving block (``Updownblock``): the high-frequency part (x - up(down(x))) and
    the half-resolution part (one ARFB applied five times) are fused back."""

    def __init__(self, nf):
        super().__init__()
        self.encoder, self.decoder_low, self.decoder_high, self.alise = ARFB(nf), ARFB(nf), ARFB(nf), ARFB(nf)
        self.alise2 = BasicConv(2 * nf, nf, 1, 0)
        self.att = CALayer(nf)

    def forward(self, x):
        size = x.shape[-2:]
        x1 = self.encoder(x)
        x2 = F.avg_pool2d(x1, 2)
        high = x1 - F.interpolate(x2, size=size, mode="bilinear", align_corners=True)
        for _ in range(5):
            x2 = self.decoder_low(x2)
        x4 = F.interpolate(x2, size=size, mode="bilinear", align_corners=True)
        return self.alise(self.att(self.alise2(torch.cat([x4, self.decoder_high(high)], dim=1)))) + x


class EffAttention(nn.Module):
    """Efficient multi-head attention: reduce the token width by half, attend within four
    chunks of the token sequence (a quarter of the quadratic cost), project back."""

    def __init__(self, dim, num_heads=8):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5  # from the full width, as in the official code
        self.reduce = nn.Linear(dim, dim // 2, bias=False)
        self.qkv = nn.Linear(dim // 2, dim // 2 * 3, bias=False)
        self.proj = nn.Linear(dim // 2, dim)

    def forward(self, x):
        x = self.reduce(x)
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        chunk = max(n // 4, 1)  # as torch.split(n // 4): four chunks and a remainder when 4 does not divide n
        bounds = [(i, min(i + chunk, n)) for i in range(0, n, chunk)]  # slices (not split) export cleanly to ONNX
        outs = [F.scaled_dot_product_attention(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b], scale=self.scale).transpose(1, 2)
                for a, b in bounds]
        return self.proj(torch.cat(outs, dim=1).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class MLABlock(nn.Module):
    """The efficient transformer: tokens are the 3x3 neighbourhoods of every pixel (unfold)."""

    def __init__(self, dim=288):
        super().__init__()
        self.atten = EffAttention(dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim // 4)

    def forward(self, x):
        x = F.unfold(x, 3, padding=1).permute(0, 2, 1)
        x = x + self.atten(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class LCBWithTransformer(nn.Module):
    """ESRT's body (``Un``): three HPBs (the lightweight CNN backbone), their concatenation
    reduced and passed through the transformer, folded back to an image."""

    def __init__(self, nf=32):
        super().__init__()
        self.encoder1, self.encoder2, self.encoder3 = HPB(nf), HPB(nf), HPB(nf)
        self.reduce = nn.Conv2d(3 * nf, nf, 3, padding=1)
        self.weight2, self.weight1 = Scale(), Scale()
        self.attention = MLABlock(nf * 9)
        self.alise = nn.Conv2d(nf, nf, 3, padding=1)

    def forward(self, x):
        x1 = self.encoder1(x)
        x2 = self.encoder2(x1)
        x3 = self.encoder3(x2)
        h, w = x3.shape[-2:]
        out = self.attention(self.reduce(torch.cat([x1, x2, x3], dim=1))).permute(0, 2, 1)
        out = fold3x3(out, h, w)  # overlapping patches summed back, as the official nn.Fold
        return self.weight1(x) + self.weight2(self.alise(out))


def fold3x3(tokens, h, w):
    """Sum overlapping 3x3 patches (B x C*9 x H*W, 'same' padding) back into B x C x H x W.

    Equals F.fold(tokens, (h, w), 3, padding=1); written with pads and adds because ONNX
    exporters do not translate col2im.
    """
    b = tokens.shape[0]
    t = tokens.reshape(b, -1, 3, 3, h, w)
    out = 0
    for i in range(3):
        for j in range(3):
            out = out + F.pad(t[:, :, i, j], (j, 2 - j, i, 2 - i))[:, :, 1:h + 1, 1:w + 1]
    return out


def _edsr_upsampler(nf, scale):
    layers = []
    if scale == 3:
        layers += [nn.Conv2d(nf, 9 * nf, 3, padding=1), nn.PixelShuffle(3)]
    else:
        for _ in range(scale.bit_length() - 1):
            layers += [nn.Conv2d(nf, 4 * nf, 3, padding=1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


class ESRT(nn.Module):
    onnx_dynamic_size = False  # the attention splits the token sequence into n // 4 chunks: a size-dependent graph

    def __init__(self, scale=4, n_feats=32, in_ch=3, out_ch=3):
        super().__init__()
        self.up = nn.Sequential(_edsr_upsampler(n_feats, scale), BasicConv(n_feats, out_ch, 3, 1))
        self.head = nn.Sequential(nn.Conv2d(in_ch, n_feats, 3, padding=1))
        self.body = nn.Sequential(LCBWithTransformer(n_feats))
        self.tail = nn.Sequential(_edsr_upsampler(n_feats, scale), nn.Conv2d(n_feats, out_ch, 3, padding=1))
        self.reduce = nn.Conv2d(n_feats, n_feats, 3, padding=1)

    def forward(self, x):
        x = self.head(x)
        return self.tail(self.reduce(self.body(x))) + self.up(x)


@register_model(
    "esrt", family="attention", paper="Transformer for Single Image Super-Resolution (Lu et al., CVPRW 2022)", year=2022,
    color="rgb", scales=(2, 3, 4),
    published={
        2: Published(677_000, None, {"Set5": (38.03, 0.9600), "Set14": (33.75, 0.9184), "B100": (32.25, 0.9001),
                                     "Urban100": (32.58, 0.9318)}, "ESRT paper (secondary copy)", verified=False),
        3: Published(770_000, None, {}, "ESRT paper (secondary copy)", verified=False),
        4: Published(751_000, 67.7e9, {"Set5": (32.19, 0.8947), "Set14": (28.69, 0.7833), "B100": (27.69, 0.7379),
                                        "Urban100": (26.39, 0.7962), "Manga109": (30.75, 0.9100)},
                     "ESRT paper via a comparison table", verified=False),
    },
    notes="attention runs within four chunks of the token sequence; its cost grows with the square of the image size. "
          "The tables' 67.7G (thop) leaves out the attention products, counted here (about 238G of the 297G at 720p)",
)
def esrt(scale, **options):
    return ESRT(scale, **options)


# ---------------------------------------------------------------- MCAN (macn3388/MCAN names)


class _FastSigmoid(nn.Module):
    """MCAN-FAST's gate x / (|x| + 1): no exponential, cheaper on mobile NPUs."""

    def forward(self, x):
        return x / (x.abs() + 1)


class _MCANChannelAttention(nn.Module):
    def __init__(self, nf, reduction, fast=False):
        super().__init__()
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(nf, nf // reduction, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(nf // reduction, nf, 1), _FastSigmoid() if fast else nn.Sigmoid())

    def forward(self, x):
        return x * self.body(x)


class _CAResidualBlock(nn.Module):
    """conv 3x3 -> ReLU -> conv 3x3 -> channel attention, added to the input, then ReLU."""

    def __init__(self, nf, reduction, groups=1, fast=False):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1, groups=groups), nn.ReLU(inplace=True),
                                  nn.Conv2d(nf, nf, 3, padding=1, groups=groups), _MCANChannelAttention(nf, reduction, fast))

    def forward(self, x):
        return F.relu(self.body(x) + x)


class _Fuse(nn.Module):
    """A 1x1 conv with ReLU joining concatenated features."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.body(x)


class _MatrixBlock(nn.Module):
    """Three CA residual blocks, densely fused: each 1x1 fusion sees the block's entry, every
    earlier output, and (after the first block of a row) the matching output of the previous block.

    Every non-first block holds both entry fusions, c0 (previous outputs 3 and 1) and c0_fix (with
    the parallel input from the row above) though it uses one: the released checkpoints, and the
    published parameter counts, include both."""

    def __init__(self, nf, first, reduction, groups, fast):
        super().__init__()
        self.first = first
        self.b1, self.b2, self.b3 = (_CAResidualBlock(nf, reduction, groups, fast) for _ in range(3))
        if first:
            self.c1, self.c2, self.c3 = _Fuse(2 * nf, nf), _Fuse(3 * nf, nf), _Fuse(4 * nf, nf)
        else:
            self.c0, self.c0_fix = _Fuse(2 * nf, nf), _Fuse(3 * nf, nf)
            self.c1, self.c2, self.c3 = _Fuse(3 * nf, nf), _Fuse(4 * nf, nf), _Fuse(4 * nf, nf)

    def forward(self, x, parallel=None):
        if self.first:
            o0, extra = x, (None, None)
        else:
            o0 = self.c0(torch.cat([x[2], x[0]], 1)) if parallel is None else self.c0_fix(torch.cat([x[2], x[0], parallel], 1))
            extra = (x[1], x[2])
        b1 = self.b1(o0)
        o1 = self.c1(torch.cat([o0, b1] + ([extra[0]] if extra[0] is not None else []), 1))
        b2 = self.b2(o1)
        o2 = self.c2(torch.cat([o0, b1, b2] + ([extra[1]] if extra[1] is not None else []), 1))
        b3 = self.b3(o2)
        return [o1, o2, self.c3(torch.cat([o0, b1, b2, b3], 1))]


class _MatrixRow(nn.Module):
    """Three matrix blocks in a row; rows after the first start from a fusion of the previous row's
    last and first outputs and hand its middle and last outputs to their 2nd and 3rd blocks."""

    def __init__(self, nf, first, reduction, groups, fast):
        super().__init__()
        self.first = first
        self.cell1 = _MatrixBlock(nf, True, reduction, groups, fast)
        self.cell2 = _MatrixBlock(nf, False, reduction, groups, fast)
        self.cell3 = _MatrixBlock(nf, False, reduction, groups, fast)
        if not first:
            self.c0 = _Fuse(2 * nf, nf)

    def forward(self, x):
        if self.first:
            l1 = self.cell1(x)
            l2 = self.cell2(l1)
            l3 = self.cell3(l2)
        else:
            l1 = self.cell1(self.c0(torch.cat([x[2], x[0]], 1)))
            l2 = self.cell2(l1, x[1])
            l3 = self.cell3(l2, x[2])
        return [l1[2], l2[2], l3[2]]


class _MCANUpsample(nn.Module):
    def __init__(self, nf, last, scale):
        super().__init__()
        if scale == 3:
            layers = [nn.Conv2d(nf, last // 4 * 9, 3, padding=1), nn.ReLU(inplace=True), nn.PixelShuffle(3)]
        else:
            layers = []
            for i in range({2: 1, 4: 2}[scale]):
                layers += [nn.Conv2d(nf if i == 0 else last // 4, last, 3, padding=1), nn.ReLU(inplace=True), nn.PixelShuffle(2)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class MCAN(nn.Module):
    """MCAN, the matrixed channel attention network (Ma et al. 2019): a 3 x 3 matrix of blocks of
    three CA residual blocks with dense 1x1 fusions within and between blocks and rows, a long skip,
    a sub-pixel upsampler and a bilinear global skip; RGB with the DIV2K mean shifted.

    ``multi_scale=True`` (the released models) holds the x2, x3 and x4 upsamplers on one body;
    ``scale`` picks the one used.
    """

    def __init__(self, scale=4, first=64, nf=32, last=256, reduction=8, groups=1, fast=False, multi_scale=True):
        super().__init__()
        from lightsr.models.residual import MeanShift

        mean = (0.4488, 0.4371, 0.4040)
        self.scale = scale
        self.sub_mean, self.add_mean = MeanShift(mean, -1), MeanShift(mean, 1)
        self.entry = nn.Conv2d(3, first, 3, padding=1)
        self.entry_shrink = nn.Conv2d(first, nf, 3, padding=1)
        self.cell1 = _MatrixRow(nf, True, reduction, groups, fast)
        self.cell2 = _MatrixRow(nf, False, reduction, groups, fast)
        self.cell3 = _MatrixRow(nf, False, reduction, groups, fast)
        self.fusion = nn.Conv2d(3 * nf, 3 * nf, 3, padding=1, bias=False)
        self.shrink = nn.Conv2d(3 * nf, nf, 3, padding=1, bias=False)
        self.upsample = MultiScaleUpsample(lambda s: _MCANUpsample(nf, last, s), (2, 3, 4) if multi_scale else (scale,))
        self.exit = nn.Conv2d(last // 4, 3, 3, padding=1, bias=False)

    def forward(self, x):
        x = self.sub_mean(x)
        skip = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        long = self.entry_shrink(self.entry(x))
        r1 = self.cell1(long)
        r2 = self.cell2(r1)
        r3 = self.cell3(r2)
        h = self.shrink(self.fusion(torch.cat([r1[2], r2[2], r3[2]], 1))) + long
        return self.add_mean(self.exit(self.upsample(h, self.scale)) + skip)


MCAN_SOURCE = ("macn3388/MCAN (the authors' code, which the paper links): counts of the multi-scale models; for M/S/T "
               "equal to the element counts of the released checkpoints. The paper's table could not be read")
MCAN_VARIANTS = {  # first, nf, last, reduction, groups, fast; the multi-scale parameter count
    "mcan": ((64, 32, 256, 8, 1, False), 1_233_356),
    "mcan_fast": ((64, 32, 256, 8, 1, True), 1_233_356),
    "mcan_m": ((64, 24, 128, 8, 1, False), 593_737),
    "mcan_s": ((32, 16, 64, 8, 1, False), 242_982),
    "mcan_t": ((16, 8, 24, 4, 4, False), 35_246),
}


def _register_mcan(name, options, params):
    keys = ("first", "nf", "last", "reduction", "groups", "fast")
    register_model(
        name, family="attention", paper="A Matrix-in-matrix Neural Network for Image Super Resolution (MCAN, Ma et al., "
        "arXiv 1903.07949)" + (", FAST: softsign gates" if options[5] else ""), year=2019, color="rgb", scales=(2, 3, 4),
        defaults=dict(zip(keys, options)),
        published={s: Published(params, None, {}, MCAN_SOURCE, verified=False) for s in (2, 3, 4)},
        notes="one multi-scale network serves x2/x3/x4 (the released checkpoints hold all three upsamplers); the "
              "authors' MCAN-M/S/T .pth load as they are (load_official) and give their code's output exactly (checked "
              "once, by hand: the files are not shipped); our counts add the 24 frozen mean-shift weights. The PSNR "
              "tables were not reachable, so no scores are claimed; the authors' evaluation crops 20 pixels, not the scale",
    )(lambda scale, **o: MCAN(scale, **o))


for _name, (_options, _params) in MCAN_VARIANTS.items():
    _register_mcan(_name, _options, _params)
