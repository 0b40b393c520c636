"""Dense connections: MemNet (Tai et al., ICCV 2017).

Why MemNet: the survey's dense family names MemNet-style memory blocks and ESRN-V. ESRN-V is
a neural-architecture-search result whose exact genotype is published only as a figure (the
authors' Vega code holds the search space, not the ESRN-V cell list), so it cannot be
rebuilt faithfully. MemNet is fully specified by its official Caffe prototxt
(tyshiwo/MemNet, MemNet_M6R6_80C64): 6 memory blocks of 6 recursions, gate units that
concatenate every earlier block (dense long-term memory), 80 conv layers, 677K weights.
"""

import torch
from torch import nn

from lightsr.models.blocks import MatlabBicubicUp
from lightsr.models.registry import Published, register_model


class BNReLUConv(nn.Sequential):
    """MemNet's pre-activation unit: BN -> ReLU -> conv."""

    def __init__(self, in_ch, out_ch, kernel=3):
        super().__init__(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True), nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2))


class MemoryBlock(nn.Module):
    """A recursive unit (two 3x3 convs, weights shared by all recursions, BN per recursion)
    applied ``recursions`` times, then a gate unit (1x1) over the long-term memory (the
    feature-extraction output and every earlier block) and the recursions' outputs."""

    def __init__(self, index, nf=64, recursions=6):
        super().__init__()
        self.conv_a = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_b = nn.Conv2d(nf, nf, 3, padding=1)
        self.bn_a = nn.ModuleList([nn.BatchNorm2d(nf) for _ in range(recursions)])
        self.bn_b = nn.ModuleList([nn.BatchNorm2d(nf) for _ in range(recursions)])
        self.gate = BNReLUConv((index + recursions) * nf, nf, 1)
        self.relu = nn.ReLU()

    def forward(self, x, memory):
        short = []
        for bn_a, bn_b in zip(self.bn_a, self.bn_b):
            x = x + self.conv_b(self.relu(bn_b(self.conv_a(self.relu(bn_a(x))))))
            short.append(x)
        return self.gate(torch.cat(memory + short, dim=1))


class MemNet(nn.Module):
    """MemNet on the Y channel. The LR input is upsampled with MATLAB bicubic first, as the
    network was trained on pre-upsampled images; every block's output is reconstructed
    (one shared BN-ReLU-conv per branch) and the outputs are averaged with learned weights."""

    def __init__(self, scale=4, nf=64, blocks=6, recursions=6, in_ch=1):
        super().__init__()
        self.upsample = MatlabBicubicUp(scale, in_ch)
        self.feature = BNReLUConv(in_ch, nf)
        self.blocks = nn.ModuleList([MemoryBlock(i + 1, nf, recursions) for i in range(blocks)])
        self.recon_bn = nn.ModuleList([nn.BatchNorm2d(nf) for _ in range(blocks)])
        self.recon = nn.Conv2d(nf, in_ch, 3, padding=1)
        self.branch_weights = nn.Parameter(torch.full((blocks,), 1.0 / blocks))
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.upsample(x)
        h = self.feature(x)
        memory, out = [h], 0
        for i, block in enumerate(self.blocks):
            h = block(h, memory)
            memory.append(h)
            out = out + self.branch_weights[i] * (self.recon(self.relu(self.recon_bn[i](h))) + x)
        return out


@register_model(
    "memnet", family="dense", paper="MemNet: A Persistent Memory Network for Image Restoration (Tai et al., ICCV 2017)",
    year=2017, color="y", scales=(2, 3, 4),
    published={
        2: Published(677_000, None, {"Set5": (37.78, 0.9597), "Set14": (33.28, 0.9142), "B100": (32.08, 0.8978),
                                     "Urban100": (31.31, 0.9195)}, "MemNet paper (secondary copy)", verified=False),
        3: Published(677_000, None, {"Set5": (34.09, 0.9248), "Set14": (30.00, 0.8350), "B100": (28.96, 0.8001),
                                     "Urban100": (27.56, 0.8376)}, "MemNet paper (secondary copy)", verified=False),
        4: Published(677_000, None, {"Set5": (31.74, 0.8893), "Set14": (28.26, 0.7723), "B100": (27.40, 0.7281),
                                     "Urban100": (25.50, 0.7630)}, "MemNet paper (secondary copy)", verified=False),
    },
    counted="weights",
    notes="one model serves x2/x3/x4 in the paper (trained on mixed scales after bicubic pre-upsampling); the 677K counts "
          "conv weights (676,992) without biases and BN",
)
def memnet(scale, **options):
    return MemNet(scale, **options)
