"""Upscaling images with a zoo model: colour handling, alpha, bit depth, tiles, precision."""

import contextlib

import numpy as np
import torch

from lightsr.color import rgb_to_ycbcr, ycbcr_to_rgb
from lightsr.degrade.resize import imresize_matlab
from lightsr.errors import LightSRError
from lightsr.models.registry import model_info
from lightsr.models.tiling import tiled_forward

PRECISIONS = ("fp32", "fp16", "bf16")


class Upscaler:
    """Runs ``model`` (a zoo model, with its ``lightsr_spec``) on float images in [0, 1].

    Y-channel models upscale the BT.601 luma and resize the chroma with MATLAB bicubic (the
    SR literature's convention); an alpha channel is upscaled on its own (by the model,
    as a gray image, or bicubic); ``tile`` > 0 runs overlapping tiles of that LR size.
    """

    def __init__(self, model, device="cpu", precision="fp32", tile=0, tile_pad=16, alpha_mode="model"):
        spec = getattr(model, "lightsr_spec", None)
        if spec is None:
            raise LightSRError("the model carries no lightsr spec; build it with create_model or load_model")
        if precision not in PRECISIONS:
            raise LightSRError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise LightSRError("--device cuda: no CUDA device is available")
        if precision == "fp16" and not device.startswith("cuda"):
            raise LightSRError("fp16 inference needs a CUDA device; use --bf16 on the CPU")
        self.info = model_info(spec["name"])
        self.scale = spec["scale"]
        self.device, self.precision = torch.device(device), precision
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        self.model = model.eval().to(self.device)
        self.tile, self.tile_pad, self.alpha_mode = tile, tile_pad, alpha_mode

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @torch.no_grad()
    def run_array(self, x):
        """C x H x W (C = the model's input channels) float32 -> C x sH x sW, clipped to [0, 1]."""
        t = torch.from_numpy(np.ascontiguousarray(x))[None].to(self.device)
        with self._autocast():
            y = tiled_forward(self.model, t, self.scale, self.tile, self.tile_pad)
        return y.float().clamp_(0, 1)[0].cpu().numpy()

    def _gray(self, g):
        """An H x W plane through the model (replicated to 3 channels for RGB models)."""
        if self.info.color == "y":
            return self.run_array(g[None])[0]
        return self.run_array(np.repeat(g[None], 3, axis=0)).mean(axis=0)

    def upscale(self, rgb, alpha=None):
        """H x W x 3 RGB (and H x W x 1 alpha) -> the upscaled RGB (and alpha)."""
        h, w = rgb.shape[:2]
        size = (h * self.scale, w * self.scale)
        if self.info.color == "y":
            ycc = rgb_to_ycbcr(rgb)
            y = self.run_array(ycc[None, :, :, 0])[0]
            chroma = imresize_matlab(ycc[:, :, 1:], size=size)
            out = np.clip(ycbcr_to_rgb(np.dstack([y, chroma])), 0, 1)
        else:
            out = self.run_array(rgb.transpose(2, 0, 1)).transpose(1, 2, 0)
        up_alpha = None
        if alpha is not None:
            a = alpha[:, :, 0]
            up = self._gray(a) if self.alpha_mode == "model" else imresize_matlab(a, size=size)
            up_alpha = np.clip(up, 0, 1)[:, :, None]
        return np.ascontiguousarray(out, dtype=np.float32), up_alpha
