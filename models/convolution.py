"""Plain convolutional networks on the Y channel: FSRCNN and ESPCN."""

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
