"""Feature-distillation networks: IMDN, RFDN, RLFN.

Module names follow the authors' releases (Zheng222/IMDN, njulj/RFDN, bytedance/RLFN), so
their checkpoints load strictly (``load_official``). Inputs are RGB in [0, 1] unless
``img_range`` says otherwise (RFDN's AIM release and RLFN's NTIRE model ran on [0, 255]).
"""

import torch
from torch import nn

from lightsr.models.blocks import ESA, CCALayer, conv, pixelshuffle_upsampler
from lightsr.models.registry import Published, register_model

SAFMN_TABLE = "SAFMN paper (Sun et al. ICCV 2023) comparison table"


def lrelu(slope=0.05):
    return nn.LeakyReLU(slope, inplace=True)


class _RangeScaled(nn.Module):
    """Runs the network on x * img_range and divides the output back (weights trained on 0-255)."""

    img_range = 1.0

    def forward(self, x):
        return self.body_forward(x * self.img_range) / self.img_range


# ---------------------------------------------------------------- IMDN


class IMDB(nn.Module):
    """Information multi-distillation block: keep 1/4 of the channels after each 3x3, refine the rest."""

    def __init__(self, nf=64, distillation_rate=0.25):
        super().__init__()
        self.distilled = int(nf * distillation_rate)
        self.remaining = nf - self.distilled
        self.c1 = conv(nf, nf)
        self.c2 = conv(self.remaining, nf)
        self.c3 = conv(self.remaining, nf)
        self.c4 = conv(self.remaining, self.distilled)
        self.act = lrelu()
        self.c5 = conv(self.distilled * 4, nf, 1)
        self.cca = CCALayer(self.distilled * 4)

    def forward(self, x):
        d, r = self.distilled, self.remaining
        d1, r1 = torch.split(self.act(self.c1(x)), (d, r), dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), (d, r), dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), (d, r), dim=1)
        d4 = self.c4(r3)
        return self.c5(self.cca(torch.cat([d1, d2, d3, d4], dim=1))) + x


class IMDN(nn.Module):
    def __init__(self, scale=4, nf=64, num_modules=6, in_ch=3, out_ch=3):
        super().__init__()
        self.fea_conv = conv(in_ch, nf)
        self.num_modules = num_modules
        for i in range(num_modules):
            setattr(self, f"IMDB{i + 1}", IMDB(nf))
        self.c = nn.Sequential(conv(nf * num_modules, nf, 1), lrelu())
        self.LR_conv = conv(nf, nf)
        self.upsampler = pixelshuffle_upsampler(nf, out_ch, scale)

    def forward(self, x):
        fea = self.fea_conv(x)
        outs, h = [], fea
        for i in range(self.num_modules):
            h = getattr(self, f"IMDB{i + 1}")(h)
            outs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea)


IMDN_PUBLISHED = {
    2: Published(694_000, 161e9, {"Set5": (38.00, 0.9605), "Set14": (33.63, 0.9177), "B100": (32.19, 0.8996),
                                  "Urban100": (32.17, 0.9283), "Manga109": (38.88, 0.9774)}, "IMDN paper Table 2"),
    3: Published(703_000, None, {}, "IMDN paper"),
    4: Published(715_000, 41e9, {"Set5": (32.21, 0.8948), "Set14": (28.58, 0.7811), "B100": (27.56, 0.7353),
                                  "Urban100": (26.04, 0.7838), "Manga109": (30.45, 0.9075)}, SAFMN_TABLE),
}


@register_model("imdn", family="distillation", paper="Lightweight Image Super-Resolution with Information Multi-distillation "
                "Network (Hui et al., ACM MM 2019)", year=2019, color="rgb", scales=(2, 3, 4), published=IMDN_PUBLISHED)
def imdn(scale, **options):
    return IMDN(scale, **options)


# ---------------------------------------------------------------- RFDN


class RFDB(nn.Module):
    """Residual feature distillation block: 1x1 distillation, shallow residual 3x3 refinement.

    ``attention='cca'`` with a block residual is the paper's RFDB (48 channels, 6 blocks);
    ``attention='esa'`` without it is the AIM-2020 release (E-RFDN).
    """

    def __init__(self, nf, attention="cca"):
        super().__init__()
        dc = nf // 2
        self.c1_d, self.c1_r = conv(nf, dc, 1), conv(nf, nf)
        self.c2_d, self.c2_r = conv(nf, dc, 1), conv(nf, nf)
        self.c3_d, self.c3_r = conv(nf, dc, 1), conv(nf, nf)
        self.c4 = conv(nf, dc)
        self.c5 = conv(dc * 4, nf, 1)
        self.act = lrelu()
        self.residual = attention == "cca"
        if attention == "cca":
            self.cca = CCALayer(nf, reduction=4)
        else:
            self.esa = ESA(nf, nf // 4)

    def forward(self, x):
        act = self.act
        d1, r1 = act(self.c1_d(x)), act(self.c1_r(x) + x)
        d2, r2 = act(self.c2_d(r1)), act(self.c2_r(r1) + r1)
        d3, r3 = act(self.c3_d(r2)), act(self.c3_r(r2) + r2)
        r4 = act(self.c4(r3))
        out = self.c5(torch.cat([d1, d2, d3, r4], dim=1))
        return self.cca(out) + x if self.residual else self.esa(out)


class RFDN(_RangeScaled):
    def __init__(self, scale=4, nf=48, num_modules=6, attention="cca", img_range=1.0, in_ch=3, out_ch=3):
        super().__init__()
        self.img_range = img_range
        self.fea_conv = conv(in_ch, nf)
        self.num_modules = num_modules
        for i in range(num_modules):
            setattr(self, f"B{i + 1}", RFDB(nf, attention))
        self.c = nn.Sequential(conv(nf * num_modules, nf, 1), lrelu())
        self.LR_conv = conv(nf, nf)
        self.upsampler = pixelshuffle_upsampler(nf, out_ch, scale)

    def body_forward(self, x):
        fea = self.fea_conv(x)
        outs, h = [], fea
        for i in range(self.num_modules):
            h = getattr(self, f"B{i + 1}")(h)
            outs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea)


@register_model(
    "rfdn", family="distillation", paper="Residual Feature Distillation Network for Lightweight Image Super-Resolution "
    "(Liu et al., ECCVW 2020)", year=2020, color="rgb", scales=(2, 3, 4),
    published={
        2: Published(534_000, None, {"Set5": (38.05, 0.9606), "Set14": (33.68, 0.9184), "B100": (32.16, 0.8994),
                                     "Urban100": (32.12, 0.9278), "Manga109": (38.88, 0.9773)}, "RFDN paper"),
        3: Published(541_000, None, {}, "RFDN paper"),
        4: Published(550_000, None, {"Set5": (32.24, 0.8952), "Set14": (28.61, 0.7819), "B100": (27.57, 0.7360),
                                     "Urban100": (26.11, 0.7858), "Manga109": (30.58, 0.9089)}, "RFDN paper Table 3"),
    },
    faithful="partial: the paper's 48-channel RFDN has no released code; its block is rebuilt from the authors' answers "
             "(njulj/RFDN issues 5, 12, 13: IMDN's CCA with reduction 4 in place of ESA, plus a block residual), which "
             "reproduces 534K/541K/550K; where exactly CCA sits is not stated. attention='esa', nf=50, num_modules=4, "
             "img_range=255 gives the AIM-2020 release (433K at x4), whose checkpoint loads strictly",
)
def rfdn(scale, **options):
    return RFDN(scale, **options)


# ---------------------------------------------------------------- RLFN


class RLFB(nn.Module):
    """Residual local feature block: three 3x3 + LReLU, a local residual, 1x1, light ESA."""

    def __init__(self, nf, mid=None, esa_channels=16):
        super().__init__()
        mid = mid or nf
        self.c1_r, self.c2_r, self.c3_r = conv(nf, mid), conv(mid, mid), conv(mid, nf)
        self.c5 = conv(nf, nf, 1)
        self.esa = ESA(nf, esa_channels, light=True)
        self.act = lrelu()

    def forward(self, x):
        out = self.act(self.c3_r(self.act(self.c2_r(self.act(self.c1_r(x))))))
        return self.esa(self.c5(out + x))


class RLFN(_RangeScaled):
    def __init__(self, scale=4, feature_channels=52, mid_channels=None, num_blocks=6, esa_channels=16, img_range=1.0,
                 in_ch=3, out_ch=3):
        super().__init__()
        self.img_range = img_range
        self.conv_1 = conv(in_ch, feature_channels)
        self.num_blocks = num_blocks
        for i in range(num_blocks):
            setattr(self, f"block_{i + 1}", RLFB(feature_channels, mid_channels, esa_channels))
        self.conv_2 = conv(feature_channels, feature_channels)
        self.upsampler = pixelshuffle_upsampler(feature_channels, out_ch, scale)

    def body_forward(self, x):
        fea = self.conv_1(x)
        h = fea
        for i in range(self.num_blocks):
            h = getattr(self, f"block_{i + 1}")(h)
        return self.upsampler(self.conv_2(h) + fea)


@register_model(
    "rlfn", family="distillation", paper="Residual Local Feature Network for Efficient Super-Resolution (Kong et al., "
    "CVPRW 2022)", year=2022, color="rgb", scales=(2, 3, 4),
    published={
        2: Published(527_000, None, {"Set5": (38.07, 0.9607), "Set14": (33.72, 0.9187), "B100": (32.22, 0.9000),
                                     "Urban100": (32.33, 0.9299)}, "RLFN paper Table 1"),
        4: Published(543_000, None, {"Set5": (32.24, 0.8952), "Set14": (28.62, 0.7813), "B100": (27.60, 0.7364),
                                     "Urban100": (26.17, 0.7877)}, "RLFN paper Table 1"),
    },
    notes="feature_channels=48 is RLFN-S; feature_channels=46, mid_channels=48, num_blocks=4, img_range=255 is the NTIRE 2022 "
          "model (0.317M)",
)
def rlfn(scale, **options):
    return RLFN(scale, **options)
