"""Re-parameterisable networks: ECBSR (edge-oriented convolution blocks) and SPAN.

Both train with multi-branch blocks and deploy a plain 3x3 conv per block: ``fuse()`` folds
the branches exactly (see ``lightsr.models.reparameterize``). Parameter counts are quoted
for the deploy form, as the papers do.
"""

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.models.blocks import MeanShift
from lightsr.models.registry import Published, register_model

SAFMN_TABLE = "SAFMN paper (Sun et al. ICCV 2023) comparison table"


def _pad_with(y, value):
    """Pad by one pixel whose value is ``value`` per channel (the 1x1 conv's bias), so that the
    following 3x3 sees exactly what a 3x3 conv on a zero-padded input would (exact folding)."""
    y = F.pad(y, (1, 1, 1, 1))
    v = value.view(1, -1, 1, 1)
    y[:, :, :1, :], y[:, :, -1:, :], y[:, :, :, :1], y[:, :, :, -1:] = v, v, v, v
    return y


# ---------------------------------------------------------------- ECBSR (xindongzhang/ECBSR names)


class SeqConv3x3(nn.Module):
    """1x1 then 3x3 (``conv1x1-conv3x3``), or 1x1 then a fixed edge filter with learned per-channel
    scale and bias (``sobelx``, ``sobely``, ``laplacian``)."""

    MASKS = {
        "sobelx": [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
        "sobely": [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]],
        "laplacian": [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
    }

    def __init__(self, kind, in_ch, out_ch, depth_multiplier=2.0):
        super().__init__()
        self.kind = kind
        if kind == "conv1x1-conv3x3":
            mid = int(out_ch * depth_multiplier)
            c0, c1 = nn.Conv2d(in_ch, mid, 1), nn.Conv2d(mid, out_ch, 3)
            self.k0, self.b0, self.k1, self.b1 = c0.weight, c0.bias, c1.weight, c1.bias
        else:
            c0 = nn.Conv2d(in_ch, out_ch, 1)
            self.k0, self.b0 = c0.weight, c0.bias
            self.scale = nn.Parameter(torch.randn(out_ch, 1, 1, 1) * 1e-3)
            self.bias = nn.Parameter(torch.randn(out_ch) * 1e-3)
            mask = torch.tensor(self.MASKS[kind]).expand(out_ch, 1, 3, 3).contiguous()
            self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        y = _pad_with(F.conv2d(x, self.k0, self.b0), self.b0)
        if self.kind == "conv1x1-conv3x3":
            return F.conv2d(y, self.k1, self.b1)
        return F.conv2d(y, self.scale * self.mask, self.bias, groups=self.b0.shape[0])

    def rep_params(self):
        """(weight, bias) of the equivalent 3x3 conv."""
        if self.kind == "conv1x1-conv3x3":
            k1, k0 = self.k1, self.k0[:, :, 0, 0]
            return torch.einsum("omkl,mi->oikl", k1, k0), self.b1 + torch.einsum("omkl,m->o", k1, self.b0)
        k1 = self.scale * self.mask  # (out, 1, 3, 3), depthwise
        weight = k1 * self.k0[:, :, 0, 0][:, :, None, None]
        return weight, self.bias + self.b0 * k1.sum(dim=(1, 2, 3))


class ECB(nn.Module):
    """Edge-oriented convolution block: 3x3 + (1x1 -> 3x3) + (1x1 -> Sobel-x) + (1x1 -> Sobel-y) +
    (1x1 -> Laplacian), summed, then PReLU (or nothing for the last block)."""

    def __init__(self, in_ch, out_ch, depth_multiplier=2.0, act="prelu", with_idt=False):
        super().__init__()
        self.conv3x3 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv1x1_3x3 = SeqConv3x3("conv1x1-conv3x3", in_ch, out_ch, depth_multiplier)
        self.conv1x1_sbx = SeqConv3x3("sobelx", in_ch, out_ch)
        self.conv1x1_sby = SeqConv3x3("sobely", in_ch, out_ch)
        self.conv1x1_lpl = SeqConv3x3("laplacian", in_ch, out_ch)
        self.with_idt = with_idt and in_ch == out_ch
        self.act = nn.PReLU(out_ch) if act == "prelu" else nn.Identity()
        self.fused = None

    def forward(self, x):
        if self.fused is not None:
            return self.act(self.fused(x))
        y = self.conv3x3(x) + self.conv1x1_3x3(x) + self.conv1x1_sbx(x) + self.conv1x1_sby(x) + self.conv1x1_lpl(x)
        return self.act(y + x if self.with_idt else y)

    def fuse(self):
        if self.fused is not None:
            return
        w, b = self.conv3x3.weight, self.conv3x3.bias
        for branch in (self.conv1x1_3x3, self.conv1x1_sbx, self.conv1x1_sby, self.conv1x1_lpl):
            bw, bb = branch.rep_params()
            w, b = w + bw, b + bb
        if self.with_idt:
            w = w.clone()
            w[:, :, 1, 1] += torch.eye(w.shape[0], device=w.device, dtype=w.dtype)
        self.fused = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
        self.fused.weight.data.copy_(w.detach())
        self.fused.bias.data.copy_(b.detach())
        del self.conv3x3, self.conv1x1_3x3, self.conv1x1_sbx, self.conv1x1_sby, self.conv1x1_lpl


class ECBSR(nn.Module):
    """M + 2 ECBs on the Y channel; the input is added to all s^2 output channels (nearest
    upsampling after the shuffle). The official code runs on Y in 0-255 (``img_range=255``)."""

    def __init__(self, scale=4, module_nums=16, channel_nums=64, with_idt=False, act="prelu", colors=1, img_range=1.0):
        super().__init__()
        self.scale, self.img_range = scale, img_range
        layers = [ECB(colors, channel_nums, act=act, with_idt=with_idt)]
        layers += [ECB(channel_nums, channel_nums, act=act, with_idt=with_idt) for _ in range(module_nums)]
        layers += [ECB(channel_nums, colors * scale * scale, act="linear", with_idt=with_idt)]
        self.backbone = nn.Sequential(*layers)

    def forward(self, x):
        x = x * self.img_range
        return F.pixel_shuffle(self.backbone(x) + x, self.scale) / self.img_range

    official_options = {"img_range": 255.0}

    @staticmethod
    def official_key_map(state):
        return {k: v for k, v in state.items() if not k.endswith(".mask")}  # fixed filters, buffers here


ECBSR_PAPER = "Edge-oriented Convolution Block for Real-time Super Resolution on Mobile Devices (Zhang et al., ACM MM 2021)"
for _name, _defaults, _published in (
    ("ecbsr_m4c8", dict(module_nums=4, channel_nums=8), {}),
    ("ecbsr_m4c16", dict(module_nums=4, channel_nums=16), {}),
    ("ecbsr_m16c64", dict(module_nums=16, channel_nums=64), {
        2: Published(596_000, 137e9, {"Set5": (37.90, 0.9615), "Set14": (33.34, 0.9178), "B100": (32.10, 0.9018),
                                      "Urban100": (31.71, 0.9250)}, SAFMN_TABLE),
        4: Published(603_000, 35e9, {"Set5": (31.92, 0.8946), "Set14": (28.34, 0.7817), "B100": (27.48, 0.7393),
                                     "Urban100": (25.81, 0.7773)}, SAFMN_TABLE),
    }),
):
    register_model(_name, family="reparameterizable", paper=ECBSR_PAPER, year=2021, color="y", scales=(2, 3, 4),
                   defaults=_defaults, published=_published)(lambda scale, **options: ECBSR(scale, **options))


# ---------------------------------------------------------------- SPAN (hongyuanyu/SPAN names)


class Conv3XC(nn.Module):
    """SPAN's re-parameterisable 3x3: (1x1 -> 3x3 -> 1x1, widened by ``gain``) + 1x1 skip."""

    def __init__(self, in_ch, out_ch, gain=2):
        super().__init__()
        self.sk = nn.Conv2d(in_ch, out_ch, 1)
        self.conv = nn.Sequential(nn.Conv2d(in_ch, in_ch * gain, 1), nn.Conv2d(in_ch * gain, out_ch * gain, 3),
                                  nn.Conv2d(out_ch * gain, out_ch, 1))
        self.eval_conv = None

    def forward(self, x):
        if self.eval_conv is not None:
            return self.eval_conv(x)
        return self.conv(F.pad(x, (1, 1, 1, 1))) + self.sk(x)

    def fuse(self):
        if self.eval_conv is not None:
            return
        c1, c2, c3 = self.conv
        w1, w2, w3 = c1.weight[:, :, 0, 0], c2.weight, c3.weight[:, :, 0, 0]
        w12 = torch.einsum("omkl,mi->oikl", w2, w1)
        b12 = c2.bias + torch.einsum("omkl,m->o", w2, c1.bias)
        w = torch.einsum("pm,mikl->pikl", w3, w12)
        b = c3.bias + w3 @ b12
        w = w.clone()
        w[:, :, 1, 1] += self.sk.weight[:, :, 0, 0]
        self.eval_conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
        self.eval_conv.weight.data.copy_(w.detach())
        self.eval_conv.bias.data.copy_((b + self.sk.bias).detach())
        del self.sk, self.conv


class SPAB(nn.Module):
    """Swift parameter-free attention block: three Conv3XC with SiLU, attention sigmoid(h) - 0.5."""

    def __init__(self, channels):
        super().__init__()
        self.c1_r, self.c2_r, self.c3_r = Conv3XC(channels, channels), Conv3XC(channels, channels), Conv3XC(channels, channels)

    def forward(self, x):
        out1 = self.c1_r(x)
        out3 = self.c3_r(F.silu(self.c2_r(F.silu(out1))))
        return (out3 + x) * (torch.sigmoid(out3) - 0.5), out1


class SPAN(nn.Module):
    """SPAN: six SPABs; the first features, the last block's output (through a Conv3XC), the first
    block's output and the last block's first activation are concatenated and fused by 1x1.

    As released, the input is normalised to (x - DIV2K mean) * 255 and the output is not
    de-normalised (the network learns the [0, 1] output directly).
    """

    def __init__(self, scale=4, feature_channels=48, num_blocks=6, img_range=255.0, rgb_mean=(0.4488, 0.4371, 0.4040),
                 in_ch=3, out_ch=3):
        super().__init__()
        self.normalize = MeanShift(rgb_mean, img_range)
        self.conv_1 = Conv3XC(in_ch, feature_channels)
        self.num_blocks = num_blocks
        for i in range(num_blocks):
            setattr(self, f"block_{i + 1}", SPAB(feature_channels))
        self.conv_cat = nn.Conv2d(feature_channels * 4, feature_channels, 1)
        self.conv_2 = Conv3XC(feature_channels, feature_channels)
        self.upsampler = nn.Sequential(nn.Conv2d(feature_channels, out_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x):
        f0 = self.conv_1(self.normalize(x))
        h, first = f0, None
        for i in range(self.num_blocks):
            h, inner = getattr(self, f"block_{i + 1}")(h)
            first = h if i == 0 else first
        out = self.conv_cat(torch.cat([f0, self.conv_2(h), first, inner], dim=1))
        return self.upsampler(out)

    @staticmethod
    def official_key_map(state):
        """Training-form checkpoints also hold the folded ``eval_conv``; it is recomputed by fuse()."""
        if any(".sk." in k for k in state):
            return {k: v for k, v in state.items() if ".eval_conv." not in k}
        return state


@register_model(
    "span", family="reparameterizable", paper="Swift Parameter-free Attention Network for Efficient Super-Resolution (Wan "
    "et al., CVPRW 2024; NTIRE 2024 ESR winner)", year=2024, color="rgb", scales=(2, 3, 4),
    published={4: Published(426_000, None, {"Set5": (32.20, 0.8953), "Set14": (28.66, 0.7834), "B100": (27.62, 0.7374),
                                             "Urban100": (26.18, 0.7879), "Manga109": (30.66, 0.9103)},
                            "params: the maintainers in hongyuanyu/SPAN issue 12 (deploy form, 48 channels); "
                            "PSNR: SPAN paper Table 1 via a secondary source", verified=False)},
    notes="48 channels as released; 52 channels gives 498K (the figure some tables quote)",
)
def span(scale, **options):
    return SPAN(scale, **options)
