"""Plain convolutional networks on the Y channel: FSRCNN and ESPCN."""

import torch
from torch import nn

from lightsr.models.registry import Published, register_model

SAFMN_TABLE = "SAFMN paper (Sun et al. ICCV 2023) comparison table"


class FSRCNN(nn.Module):
    """Feature extraction 5x5 (d), shrinking 1x1 (s), m mapping 3x3, expanding 1x1, 9x9 deconvolution.

    Layer names follow yjn870/FSRCNN-pytorch (first_part, mid_part, last_part).
    """

    def __init__(self, scale=4, d=56, s=12, m=4, in_ch=1):
        super().__init__()
        self.first_part = nn.Sequential(nn.Conv2d(in_ch, d, 5, padding=2), nn.PReLU(d))
        mid = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, in_ch, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x):
        return self.last_part(self.mid_part(self.first_part(x)))


@register_model(
    "fsrcnn", family="convolution", paper="Accelerating the Super-Resolution Convolutional Neural Network (Dong et al., "
    "ECCV 2016)", year=2016, color="y", scales=(2, 3, 4),
    published={
        # the paper counts weights only: 56 (25 + 12 + 12 + 81) + 4 * 9 * 12^2 = 12,464
        2: Published(12_464, 6e9, {"Set5": (37.00, 0.9558), "Set14": (32.63, 0.9088), "B100": (31.53, 0.8920),
                                   "Urban100": (29.88, 0.9020), "Manga109": (36.67, 0.9694)}, SAFMN_TABLE),
        3: Published(12_464, None, {}, "FSRCNN paper"),
        4: Published(12_464, 5e9, {"Set5": (30.71, 0.8657), "Set14": (27.59, 0.7535), "B100": (26.98, 0.7150),
                                   "Urban100": (24.62, 0.7280), "Manga109": (27.90, 0.8517)}, SAFMN_TABLE),
    },
    counted="weights",
    notes="the tables' MACs count the 9x9 deconvolution as a conv over every HR pixel (4.18G at 720p); counted here as "
          "what a transposed conv computes (each LR pixel scattered once), hence the lower figure",
)
def fsrcnn(scale, **options):
    return FSRCNN(scale, **options)


class ESPCN(nn.Module):
    """5x5 (64) tanh, 3x3 (32) tanh, 3x3 (s^2), pixel shuffle (names of yjn870/ESPCN-pytorch)."""

    def __init__(self, scale=4, in_ch=1):
        super().__init__()
        self.first_part = nn.Sequential(nn.Conv2d(in_ch, 64, 5, padding=2), nn.Tanh(), nn.Conv2d(64, 32, 3, padding=1), nn.Tanh())
        self.last_part = nn.Sequential(nn.Conv2d(32, in_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x):
        return self.last_part(self.first_part(x))


@register_model(
    "espcn", family="convolution", paper="Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel "
    "Convolutional Neural Network (Shi et al., CVPR 2016)", year=2016, color="y", scales=(2, 3, 4),
    published={
        2: Published(21_000, 5e9, {"Set5": (36.83, 0.9564), "Set14": (32.40, 0.9096), "B100": (31.29, 0.8917),
                                   "Urban100": (29.48, 0.8975)}, SAFMN_TABLE),
        4: Published(25_000, 1e9, {"Set5": (30.52, 0.8697), "Set14": (27.42, 0.7606), "B100": (26.87, 0.7216),
                                   "Urban100": (24.39, 0.7241)}, SAFMN_TABLE),
    },
)
def espcn(scale, **options):
    return ESPCN(scale, **options)


# ---------------------------------------------------------------- SRCNN


class SRCNN(nn.Module):
    """Patch extraction (f1 x f1, n1), non-linear mapping (f2 x f2, n2), reconstruction (f3 x f3) on the
    MATLAB-bicubic pre-upsampled Y channel; 'same' padding (the authors' test code filters at full size)."""

    def __init__(self, scale=3, f=(9, 1, 5), n=(64, 32), in_ch=1):
        super().__init__()
        from lightsr.models.blocks import MatlabBicubicUp

        self.upsample = MatlabBicubicUp(scale, in_ch)
        self.conv1 = nn.Conv2d(in_ch, n[0], f[0], padding=f[0] // 2)
        self.conv2 = nn.Conv2d(n[0], n[1], f[1], padding=f[1] // 2)
        self.conv3 = nn.Conv2d(n[1], in_ch, f[2], padding=f[2] // 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.conv3(self.relu(self.conv2(self.relu(self.conv1(self.upsample(x))))))


@register_model(
    "srcnn", family="convolution", paper="Image Super-Resolution Using Deep Convolutional Networks (Dong et al., ECCV 2014 / "
    "TPAMI 2016), 9-1-5", year=2014, color="y", scales=(2, 3, 4), counted="weights",
    published={s: Published(8_032, None, {}, "SRCNN paper (9-1-5: 8,032 weights)", verified=False) for s in (2, 3, 4)},
    notes="the 9-1-5 network of the ECCV paper; f=(9, 5, 5) gives the TPAMI model the comparison tables call SRCNN "
          "(57,184 weights, 52.7G MACs at 720p)",
)
def srcnn(scale, **options):
    return SRCNN(scale, **options)


# ---------------------------------------------------------------- GhostSR


class GhostConv(nn.Module):
    """GhostSR's ghost module: half the output channels from a conv (the intrinsic features), the other
    half a one-pixel shift of them, in one direction per layer learned among the 9 neighbours.

    The direction is a 3x3 weight; training picks it with a straight-through Gumbel-softmax (noise
    scaled by ``tau``), inference uses argmax |w| (a fixed one-hot depthwise kernel: no arithmetic).
    """

    def __init__(self, in_ch, out_ch, kernel=3, bias=True):
        super().__init__()
        self.intrinsic = -(-out_ch // 2)
        self.ghost = out_ch - self.intrinsic
        self.primary = nn.Conv2d(in_ch, self.intrinsic, kernel, padding=kernel // 2, bias=bias)
        self.shift = nn.Parameter(torch.randn(1, 1, 3, 3) * 0.1)
        self.tau = 1.0

    def _direction(self):
        w = self.shift.abs().flatten()
        if self.training:
            gumbel = -torch.log(-torch.log(torch.rand_like(w).clamp_min(1e-10)).clamp_min(1e-10))
            w = w + gumbel * self.tau
        hard = torch.zeros_like(w).scatter_(0, w.argmax().view(1), 1.0)
        soft = self.shift.abs().flatten()
        return (hard - soft.detach() + soft).view(1, 1, 3, 3) if self.training else hard.view(1, 1, 3, 3)

    def forward(self, x):
        y = self.primary(x)
        kernel = self._direction().expand(self.ghost, 1, 3, 3)
        return torch.cat([y, nn.functional.conv2d(y[:, : self.ghost], kernel, padding=1, groups=self.ghost)], dim=1)


def ghost_imdn(scale=4, nf=64, num_modules=6):
    """IMDN with GhostSR's ghost modules in place of the 3x3 convs of its blocks (c1-c4) and LR_conv."""
    from lightsr.models.distillation import IMDN

    model = IMDN(scale, nf, num_modules)
    for i in range(num_modules):
        block = getattr(model, f"IMDB{i + 1}")
        for name in ("c1", "c2", "c3", "c4"):
            conv = getattr(block, name)
            setattr(block, name, GhostConv(conv.in_channels, conv.out_channels))
    model.LR_conv = GhostConv(nf, nf)
    return model


@register_model(
    "ghostsr_imdn", family="convolution", paper="GhostSR: Learning Ghost Features for Efficient Image Super-Resolution (Nie et al., "
    "TMLR 2022), applied to IMDN", year=2022, color="rgb", scales=(2, 3, 4),
    faithful="partial: GhostSR is a plug-in for existing backbones; its official code covers EDSR only (the 3x3 convs of the "
             "residual blocks become ghost modules, -46% parameters at x2). Which IMDN convs the paper replaced is not in the "
             "released code; here c1-c4 of every block and LR_conv (the same recipe). No published figures are claimed",
)
def ghostsr_imdn(scale, **options):
    return ghost_imdn(scale, **options)


# ---------------------------------------------------------------- SPBP (sub-pixel back-projection)


class SubPixelBackProjection(nn.Module):
    """G groups of up-projection (3x3 conv to nf s^2 + pixel shuffle + PReLU shared by all groups) and
    down-projection (stride-s 3x3 conv, no activation), densely fed through 1x1 transition convs."""

    def __init__(self, nf, groups, scale):
        super().__init__()
        self.up = nn.ModuleList([nn.Conv2d(nf, nf * scale * scale, 3, padding=1) for _ in range(groups)])
        self.down = nn.ModuleList([nn.Conv2d(nf, nf, 3, stride=scale, padding=1) for _ in range(groups)])
        self.up_tran = nn.ModuleList([nn.Conv2d((g + 1) * nf, nf, 1) for g in range(1, groups)])
        self.down_tran = nn.ModuleList([nn.Conv2d((g + 1) * nf, nf, 1) for g in range(1, groups)])
        self.prelu = nn.PReLU(1, init=0.2)
        self.compress = nn.Conv2d(groups * nf, nf, 1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        low, high = [x], []
        for g in range(len(self.up)):
            h = torch.cat(low, dim=1)
            h = self.up_tran[g - 1](h) if g else h
            high.append(self.prelu(self.shuffle(self.up[g](h))))
            d = torch.cat(high, dim=1)
            d = self.down_tran[g - 1](d) if g else d
            low.append(self.down[g](d))
        return self.compress(torch.cat(low[1:], dim=1))


class SPBP(nn.Module):
    """SPBP (Banerjee et al., IMVIP 2020): DBPN-style back-projection with sub-pixel up-projections,
    post-upsampling and a global bicubic skip; single-parameter PReLUs; trained mean shifts."""

    def __init__(self, scale=2, nf=16, groups=10):
        super().__init__()
        self.scale = scale
        mean = torch.tensor([0.4488, 0.4371, 0.4040])
        self.sub_mean, self.add_mean = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            for conv, sign in ((self.sub_mean, -1), (self.add_mean, 1)):
                conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
                conv.bias.copy_(sign * mean)
        self.conv_in = nn.Conv2d(3, 4 * nf, 3, padding=1)
        self.feat_in = nn.Conv2d(4 * nf, nf, 1)
        self.prelu1, self.prelu2, self.prelu3 = (nn.PReLU(1, init=0.2) for _ in range(3))
        self.bp = SubPixelBackProjection(nf, groups, scale)
        self.conv4 = nn.Conv2d(nf, nf * scale * scale, 3, padding=1)
        self.prelu4 = nn.PReLU(1, init=0.2)
        self.conv_out = nn.Conv2d(nf, 3, 3, padding=1)

    def forward(self, x):
        x = self.sub_mean(x)
        skip = nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        h = self.prelu2(self.feat_in(self.prelu1(self.conv_in(x))))
        h = self.prelu3(self.bp(h))
        h = self.prelu4(nn.functional.pixel_shuffle(self.conv4(h), self.scale))
        return self.add_mean(self.conv_out(h) + skip)


for _name, _nf, _g in (("spbp_s", 16, 1), ("spbp_m", 16, 10), ("spbp_l", 32, 10)):
    register_model(
        _name, family="convolution", paper="Sub-Pixel Back-Projection Network For Lightweight Single Image Super-Resolution "
        "(Banerjee et al., IMVIP 2020)", year=2020, color="rgb", scales=(2, 3, 4), defaults={"nf": _nf, "groups": _g},
        published={2: Published({"spbp_s": 24_448, "spbp_m": 159_088, "spbp_l": 629_440}[_name], None, {},
                                "the authors' released x2 checkpoints (parameter counts)", verified=False)},
        notes="the authors release x2 only; x3/x4 follow the same structure (a stride-s down-projection). The only "
              "published x2 scores found are SPBP-L+ with self-ensemble (Set5 38.05/0.9606, Set14 33.62/0.9178, B100 "
              "32.21/0.9001, Urban100 32.07/0.9277, via Papers with Code); they are not claimed for the plain model",
    )(lambda scale, **options: SPBP(scale, **options))
