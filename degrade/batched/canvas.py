"""Samples of different sizes in one tensor: each sits at the top-left of a (B, C, H, W) canvas
with its own (h, w); what lies outside is finite filler that no op lets leak into a sample.

Per-sample border handling is done with gathers (``reflect_pad``): every sample is padded by
reflecting its own edges, as OpenCV's BORDER_REFLECT_101 does for the CPU appliers.
"""

import torch


def reflect_index(n, pad, sizes, device):
    """(B, n + 2 pad) source indices: position i of the padded axis reads reflect101(i - pad)
    inside each sample's own length (OpenCV's borderInterpolate, any distance)."""
    src = torch.arange(-pad, n + pad, device=device).unsqueeze(0)
    size = sizes.to(device).unsqueeze(1)
    period = (2 * size - 2).clamp_min(1)
    m = torch.remainder(src, period)
    m = torch.where(m >= size, period - m, m)
    return torch.where(size == 1, torch.zeros_like(m), m)


def reflect_pad(x, hs, ws, pad_y, pad_x):
    """Pad every sample of ``x`` (B, C, H, W) by reflecting its own (h, w) region."""
    b, c, h, w = x.shape
    if pad_y:
        rows = reflect_index(h, pad_y, hs, x.device)  # (B, H + 2p)
        x = x.gather(2, rows.view(b, 1, -1, 1).expand(b, c, -1, w))
    if pad_x:
        cols = reflect_index(w, pad_x, ws, x.device)
        x = x.gather(3, cols.view(b, 1, 1, -1).expand(b, c, x.shape[2], -1))
    return x


def element_index(hs, ws, channels, shape, per_channel=True):
    """(B, C or 1, H, W) int64: each position's index in its sample's own C-order (h, w, C)
    array, the order in which the numpy appliers draw their noise."""
    b, _, h, w = shape
    device = hs.device
    y = torch.arange(h, device=device).view(1, 1, h, 1)
    x = torch.arange(w, device=device).view(1, 1, 1, w)
    wb = ws.view(b, 1, 1, 1)
    pixel = y * wb + x
    if not per_channel:
        return pixel
    c = torch.arange(channels, device=device).view(1, channels, 1, 1)
    return pixel * channels + c
