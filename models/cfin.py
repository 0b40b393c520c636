"""CFIN, the Cross-receptive Focused Inference Network (Li et al., IEEE TMM 2023), attention family.

Rebuilt from the authors' per-scale model files (IVIPLab/CFIN, model/CFINx{2,3,4}.py, 3a57b1c);
module names follow them so their checkpoints load (the dead tensors of their context-gated conv,
a torch Conv2d subclass whose own weight and bias are never used, are dropped on loading).
CFIN has its own file: it is by far the largest of the attention models.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from lightsr.models.attention import Scale
from lightsr.models.registry import Published, register_model


class _WNConv2d(nn.Module):
    """A weight-normalised conv (w = g v / |v| per output filter) with the keys torch's old
    ``weight_norm`` wrote (weight_g, weight_v); torch deprecated that function, and its
    replacement stores the tensors under other names."""

    def __init__(self, in_ch, out_ch, kernel, padding=0):
        super().__init__()
        v = torch.empty(out_ch, in_ch, kernel, kernel)
        nn.init.kaiming_uniform_(v, a=math.sqrt(5))
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.flatten(1).norm(dim=1).view(-1, 1, 1, 1).clone())
        self.bias = nn.Parameter(torch.empty(out_ch).uniform_(-1 / math.sqrt(in_ch * kernel * kernel),
                                                              1 / math.sqrt(in_ch * kernel * kernel)))
        self.padding = padding

    def forward(self, x):
        w = self.weight_g * self.weight_v / self.weight_v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        return F.conv2d(x, w, self.bias, padding=self.padding)


class _MeanShift(nn.Conv2d):
    """EDSR's mean shift: a 1x1 conv initialised to +-img_range x the DIV2K mean (trainable in CFIN)."""

    def __init__(self, img_range, sign):
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * img_range * torch.tensor([0.4488, 0.4371, 0.4040]))


class ContextGatedConv(nn.Module):
    """The context-gated conv (CGM, from CRAN): a per-sample sigmoid gate on every weight, built from
    the k x k max-pooled input through a context encoder, a spatial decoder and a grouped channel
    interaction; the gated weights are applied by unfold + matmul. No bias is added."""

    def __init__(self, in_ch, out_ch, kernel=1, padding=0):
        super().__init__()
        self.out_ch, self.kernel, self.padding = out_ch, kernel, padding
        self.weight_conv = nn.Parameter(torch.empty(out_ch, in_ch, kernel, kernel))
        nn.init.kaiming_normal_(self.weight_conv)
        self.avg_pool = nn.AdaptiveMaxPool2d((kernel, kernel))  # the authors' name; it is a max pool
        self.num_lat = int(kernel * kernel / 2 + 1)
        self.ce = nn.Linear(kernel * kernel, self.num_lat, bias=False)
        self.g = 8 if in_ch // 8 else in_ch
        self.ci = nn.Linear(self.g, out_ch // (in_ch // self.g), bias=False)
        self.gd = nn.Linear(self.num_lat, kernel * kernel, bias=False)
        self.gd2 = nn.Linear(self.num_lat, kernel * kernel, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        k = self.kernel
        context = self.ce(self.avg_pool(x).view(b, c, -1))  # b, c, num_lat
        spatial = self.gd(F.relu(context))  # b, c, k^2
        if self.g > 3:
            grouped = context.view(b, c // self.g, self.g, -1).transpose(2, 3)
            channel = self.ci(F.relu(grouped)).transpose(2, 3).reshape(b, self.out_ch, -1)
        else:
            channel = self.ci(F.relu(context.transpose(1, 2))).transpose(1, 2)
        channel = self.gd2(F.relu(channel))  # b, out, k^2
        gate = torch.sigmoid(spatial.view(b, 1, c, k, k) + channel.view(b, self.out_ch, 1, k, k))
        weights = (gate * self.weight_conv.unsqueeze(0)).view(b, self.out_ch, -1)
        return torch.matmul(weights, F.unfold(x, k, padding=self.padding)).view(b, self.out_ch, h, w)


class CGA(nn.Module):
    """Channel ("transposed") attention per head on context-gated q, k, v, with a learned (d x d)
    weight per head in place of a temperature; the second attention of a block adds the first's k, v."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.weight = nn.Parameter(torch.randn(heads, dim // heads, dim // heads) * 1e-3)
        self.to_qkv = ContextGatedConv(dim, dim * 3)

    def forward(self, x, k_prev=None, v_prev=None):
        b, c, h, w = x.shape
        q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in self.to_qkv(x).chunk(3, dim=1))
        if k_prev is not None:
            k, v = k_prev + k, v_prev + v
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.weight).softmax(dim=-1)
        return (attn @ v).reshape(b, c, h, w), k, v


class _ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at every pixel (the authors' WithBias_LayerNorm, eps 1e-5)."""

    def __init__(self, dim):
        super().__init__()
        self.body = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x):
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class IGP(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = ContextGatedConv(dim, dim, 1, 0)
        self.act = nn.GELU()
        self.fc2 = ContextGatedConv(dim, dim, 3, 1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CFGT(nn.Module):
    """The cross-receptive focused transformer block: two chained CGAs and the gated MLP, each
    branch layer-normalised before it is added (post-norm on the branch)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = _ChannelLayerNorm(dim), _ChannelLayerNorm(dim), _ChannelLayerNorm(dim)
        self.attn, self.attn1 = CGA(dim, heads), CGA(dim, heads)
        self.mlp = IGP(dim)

    def forward(self, x):
        a, k, v = self.attn(x)
        x = x + self.norm1(a)
        x = x + self.norm2(self.attn1(x, k, v)[0])
        return x + self.norm3(self.mlp(x))


class _ECA(nn.Module):
    """ECA channel attention: each channel's gate from its own and its 2 neighbours' means (a
    per-channel 3-tap kernel, as the authors' depthwise Conv1d)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, bias=False, groups=channels)

    def forward(self, x):
        pooled = F.pad(x.mean((2, 3)), (1, 1))  # b, c + 2
        windows = torch.stack([pooled[:, :-2], pooled[:, 1:-1], pooled[:, 2:]], dim=-1)  # b, c, 3
        return x * torch.sigmoid(self.conv(windows)).unsqueeze(-1)


class _MaskPredictor(nn.Module):
    """A 1x1 conv to 3 logits per pixel, one-hot by hard Gumbel-softmax; channel 1 masks the features.

    The authors sample the Gumbel noise at inference too, so their outputs vary from run to run;
    here eval mode takes the most likely choice (argmax), training samples as they do."""

    def __init__(self, channels):
        super().__init__()
        self.spatial_mask = nn.Conv2d(channels, 3, 1, bias=False)

    def forward(self, x):
        logits = self.spatial_mask(x)
        if self.training:
            return F.gumbel_softmax(logits, tau=1, hard=True, dim=1)[:, 1:2]
        return (logits.argmax(dim=1, keepdim=True) == 1).to(x.dtype)


class RIFU(nn.Module):
    def __init__(self, nf):
        super().__init__()
        self.CA = _ECA(nf)
        self.MaskPredictor = _MaskPredictor(nf)
        self.k = nn.Sequential(_WNConv2d(nf, nf, 3, 1), nn.LeakyReLU(0.05))
        self.k1 = nn.Sequential(_WNConv2d(nf, nf, 3, 1), nn.LeakyReLU(0.05))
        self.res_scale, self.x_scale = Scale(1), Scale(1)

    def forward(self, x):
        h = self.k(x)
        h = self.k1(h * self.MaskPredictor(h))
        return self.x_scale(self.CA(h)) + self.res_scale(x)


class CIAM(nn.Module):
    """Three RIFUs, the last one gated by a sigmoid of a stride-2 up/down projection of the input."""

    def __init__(self, nf, hidden):
        super().__init__()
        self.k1 = nn.Sequential(nn.ConvTranspose2d(nf, hidden, 2, stride=2), nn.LeakyReLU(0.05), nn.Conv2d(hidden, nf, 1, stride=2))
        self.k3, self.k4, self.k5 = RIFU(nf), RIFU(nf), RIFU(nf)
        self.res_scale, self.x_scale = Scale(1), Scale(1)

    def forward(self, x):
        gate = torch.sigmoid(self.k1(x) + x)
        return self.res_scale(self.k5(gate * self.k4(self.k3(x)))) + self.x_scale(x)


class _Expand(nn.Module):
    def __init__(self, in_ch, out_ch, weight_norm):
        super().__init__()
        self.conv_project = _WNConv2d(in_ch, out_ch, 1) if weight_norm else nn.Conv2d(in_ch, out_ch, 1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv_project(x))


class _Squeeze(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv_project = _WNConv2d(in_ch, out_ch, 1)

    def forward(self, x):
        return self.conv_project(x)


class CTGroup(nn.Module):
    """Eight CT blocks x + squeeze(CFGT(expand(CIAM(x)))): the four CIAMs and expand/squeeze pairs
    are each used by two consecutive blocks (shared weights), the eight CFGTs are distinct."""

    def __init__(self, nf, embed, heads, hidden, weight_norm_expand):
        super().__init__()
        for i in range(4):
            suffix = "" if i == 0 else str(i)
            setattr(self, f"rb_search{i + 1}", CIAM(nf, hidden))
            setattr(self, f"expand_block{suffix}", _Expand(nf, embed, weight_norm_expand))
            setattr(self, f"squeeze_block{suffix}", _Squeeze(embed, nf))
        for i, h in enumerate(heads):
            setattr(self, "trans_block" + (str(i) if i else ""), CFGT(embed, h))
        self.res_scale, self.x_scale = Scale(1), Scale(1)

    def forward(self, x):
        residual = x
        for i in range(8):
            j = i // 2
            suffix = str(j) if j else ""
            ciam, expand = getattr(self, f"rb_search{j + 1}"), getattr(self, f"expand_block{suffix}")
            squeeze, block = getattr(self, f"squeeze_block{suffix}"), getattr(self, "trans_block" + (str(i) if i else ""))
            x = squeeze(block(expand(ciam(x)))) + x
        return self.x_scale(x) + self.res_scale(residual)


class _ConvTransBlock(nn.Module):
    def __init__(self, group):
        super().__init__()
        self.cnn_block = group
        self.res_scale, self.x_scale = Scale(1), Scale(1)  # unused by the authors too; kept for their checkpoints

    def forward(self, x):
        return self.cnn_block(x)


class CFIN(nn.Module):
    def __init__(self, scale=4, nf=48, embed=144, img_range=1.0):
        super().__init__()
        self.img_range = img_range
        heads = (8, 12, 8, 12, 8, 12, 8, 12) if scale == 3 else (8, 12, 16, 12, 8, 12, 16, 12)
        hidden = nf * 3 // 2 if scale == 2 else nf * 4 // 3
        self.sub_mean, self.add_mean = _MeanShift(img_range, -1), _MeanShift(img_range, 1)
        self.conv_first_cnn = nn.Conv2d(3, nf, 3, padding=1)
        self.conv_trans_2 = _ConvTransBlock(CTGroup(nf, embed, heads, hidden, weight_norm_expand=scale == 2))
        self.conv_after_body = nn.Conv2d(nf, nf, 3, padding=1)
        self.UP1 = nn.Sequential(nn.Conv2d(nf, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))
        self.conv_stright = nn.Conv2d(3, nf, 3, padding=1)  # the authors' spelling
        self.UP2 = nn.Sequential(nn.Conv2d(nf, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)

    def forward(self, x):
        x = x * self.img_range
        h = self.conv_after_body(self.conv_trans_2(self.conv_first_cnn(self.sub_mean(x))))
        return self.add_mean(self.UP1(h) + self.UP2(self.conv_stright(x))) / self.img_range

    official_options = {"img_range": 255.0}

    @staticmethod
    def official_key_map(state):
        """Drop what the authors' context-gated conv holds but never uses (its Conv2d weight and
        bias, and bias_conv)."""
        gated = {k[: -len("weight_conv")] for k in state if k.endswith("weight_conv")}
        return {k: v for k, v in state.items()
                if not (k.endswith("bias_conv") or any(k in (p + "weight", p + "bias") for p in gated))}


CFIN_TABLE = "the authors' README (IVIPLab/CFIN), which reproduces the paper's table"


@register_model(
    "cfin", family="attention", paper="Cross-receptive Focused Inference Network for Lightweight Image Super-Resolution "
    "(Li et al., IEEE TMM 2023)", year=2023, color="rgb", scales=(2, 3, 4), counted="executed_leaves",
    published={
        2: Published(675_000, 116.9e9, {"Set5": (38.14, 0.9610), "Set14": (33.80, 0.9199), "B100": (32.26, 0.9006),
                                        "Urban100": (32.48, 0.9311), "Manga109": (38.97, 0.9777)}, CFIN_TABLE),
        3: Published(681_000, 53.5e9, {"Set5": (34.65, 0.9289), "Set14": (30.45, 0.8443), "B100": (29.18, 0.8071),
                                       "Urban100": (28.49, 0.8583), "Manga109": (33.89, 0.9464)}, CFIN_TABLE),
        4: Published(699_000, 31.2e9, {"Set5": (32.49, 0.8985), "Set14": (28.74, 0.7849), "B100": (27.68, 0.7396),
                                       "Urban100": (26.39, 0.7946), "Manga109": (30.73, 0.9124)}, CFIN_TABLE),
    },
    notes="the published 675K/681K/699K and MACs come from torchsummaryX, which counts only the parameters of leaf "
          "modules that run: it misses the context-gated convs' real weights and the attention weights. "
          "counted='executed_leaves' reproduces the published figures exactly; the network really uses 3,359,524 / "
          "3,369,410 / 3,382,412 parameters (x2/x3/x4), and its MACs counted here include the gated convs and "
          "attention products the table leaves out. Inference takes the mask's argmax (the authors sample it); with "
          "sampled masks and the same seed, the authors' code with its weights loaded here gives their outputs within "
          "1e-4 on 0-255 (checked once by hand; their files are not shipped)",
)
def cfin(scale, **options):
    return CFIN(scale, **options)
