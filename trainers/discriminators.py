"""Discriminators: Real-ESRGAN's U-Net with spectral norm (basicsr's), and a PatchGAN."""

from torch import nn
from torch.nn.utils import spectral_norm

from lightsr.compat import prepare_basicsr


class PatchGAN(nn.Module):
    """pix2pix's N-layer PatchGAN (70x70 receptive field with 3 layers), optionally spectral-normalised.

    Written here: basicsr has no PatchGAN. One logit per overlapping patch.
    """

    def __init__(self, in_ch=3, nf=64, n_layers=3, spectral=True):
        super().__init__()
        norm = spectral_norm if spectral else (lambda m: m)
        layers = [norm(nn.Conv2d(in_ch, nf, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [norm(nn.Conv2d(nf * prev, nf * mult, 4, stride, 1, bias=not spectral))]
            if not spectral:
                layers += [nn.BatchNorm2d(nf * mult)]
            layers += [nn.LeakyReLU(0.2, True)]
        layers += [norm(nn.Conv2d(nf * mult, 1, 4, 1, 1))]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


def build_discriminator(kind, in_ch=3, **options):
    if kind == "unet":
        prepare_basicsr()
        from basicsr.archs.discriminator_arch import UNetDiscriminatorSN

        return UNetDiscriminatorSN(in_ch, options.get("num_feat", 64), options.get("skip_connection", True))
    return PatchGAN(in_ch, **options)
