"""Building blocks shared by several architectures."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lightsr.degrade.resize import cubic


def conv(in_ch, out_ch, kernel=3, bias=True, stride=1, groups=1):
    """A 'same'-padded convolution (padding kernel // 2), the default layer of these papers."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias, groups=groups)


def pixelshuffle_upsampler(in_ch, out_ch, scale, kernel=3):
    """conv (in -> out * s^2) + PixelShuffle(s): the one-step sub-pixel upsampler (keys ``0.*``)."""
    return nn.Sequential(conv(in_ch, out_ch * scale * scale, kernel), nn.PixelShuffle(scale))


def channel_std(x):
    """Per-channel standard deviation over H x W (population), as IMDN's contrast measure."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()


class CCALayer(nn.Module):
    """Contrast-aware channel attention (IMDN): sigmoid(MLP(std + mean)) scales the channels."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.conv_du(channel_std(x) + x.mean(dim=(2, 3), keepdim=True))


class ESA(nn.Module):
    """Enhanced spatial attention (RFDN; RLFN's variant drops conv_max, conv3_ and the ReLUs).

    1x1 reduce -> strided 3x3 -> max-pool 7/3 -> convs -> bilinear back to H x W -> + skip ->
    1x1 expand -> sigmoid mask on the input.
    """

    def __init__(self, channels, reduced, light=False):
        super().__init__()
        self.light = light
        self.conv1 = nn.Conv2d(channels, reduced, 1)
        self.conv_f = nn.Conv2d(reduced, reduced, 1)
        self.conv2 = nn.Conv2d(reduced, reduced, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(reduced, reduced, 3, padding=1)
        if not light:
            self.conv_max = nn.Conv2d(reduced, reduced, 3, padding=1)
            self.conv3_ = nn.Conv2d(reduced, reduced, 3, padding=1)
        self.conv4 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v = F.max_pool2d(c1, kernel_size=7, stride=3)
        if self.light:
            c3 = self.conv3(v)
        else:
            c3 = self.conv3_(F.relu(self.conv3(F.relu(self.conv_max(v)))))
        c3 = F.interpolate(c3, size=x.shape[2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))


class Clip(nn.Module):
    """Clamp the output to [low, high]; ``active`` can be switched off (receptive-field probes
    need gradients through it)."""

    def __init__(self, low=0.0, high=1.0):
        super().__init__()
        self.low, self.high, self.active = low, high, True

    def forward(self, x):
        return x.clamp(self.low, self.high) if self.active else x


class MeanShift(nn.Module):
    """x - mean (per channel) times ``scale``; the mean is a fixed constant, not a parameter."""

    def __init__(self, mean, scale=1.0):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.scale = scale

    def forward(self, x):
        return (x - self.mean) * self.scale


class MatlabBicubicUp(nn.Module):
    """x``scale`` MATLAB bicubic upsampling (a = -0.5, symmetric edges) as a fixed conv.

    For an integer factor every output phase (i mod s, j mod s) uses the same 4 taps, so the
    resize is a separable depthwise conv to s^2 phase channels plus a pixel shuffle, equal
    to MATLAB's ``imresize`` (torch's bicubic uses a = -0.75). Pre-upsampling networks
    (MemNet, VDSR) were trained on MATLAB-bicubic inputs.
    """

    def __init__(self, scale, channels=1):
        super().__init__()
        self.scale, self.channels = scale, channels
        u = (np.arange(scale) + 0.5) / scale - 0.5  # each phase's output centre, relative to its input pixel
        taps = torch.from_numpy(cubic(u[:, None] - np.arange(-2, 3)[None, :]))
        taps /= taps.sum(dim=1, keepdim=True)
        kernel = torch.einsum("pi,qj->pqij", taps, taps).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("kernel", kernel.float().repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x):
        # symmetric padding (edge sample repeated), as MATLAB
        x = torch.cat([x[:, :, :, :2].flip(3), x, x[:, :, :, -2:].flip(3)], dim=3)
        x = torch.cat([x[:, :, :2].flip(2), x, x[:, :, -2:].flip(2)], dim=2)
        phases = F.conv2d(x, self.kernel, groups=self.channels)
        return F.pixel_shuffle(phases, self.scale)


class MultiScaleUpsample(nn.Module):
    """One upsampler per scale (``up2``, ``up3``, ``up4``, the names of the CARN and MCAN
    releases) on a shared body; ``forward(x, scale)`` runs the one asked for."""

    def __init__(self, make, scales):
        super().__init__()
        for s in scales:
            setattr(self, f"up{s}", make(s))

    def forward(self, x, scale):
        return getattr(self, f"up{scale}")(x)
