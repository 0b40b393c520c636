"""Tiled inference for images of any size, and the receptive field that makes it exact."""

import torch


def tiled_forward(model, x, scale, tile=256, pad=16):
    """Run ``model`` on overlapping tiles of ``x`` (N x C x H x W) and stitch the centres.

    Each tile is cut with ``pad`` extra input pixels on every side (clipped at the image
    border) and only its centre is kept, so for a model whose output pixel depends on at
    most ``pad`` input pixels around it the result equals the untiled forward pass. Models
    with global statistics (channel attention over the whole image, global pooling) differ
    slightly at tile seams, as in any tiled inference.
    """
    n, _, h, w = x.shape
    if tile <= 0 or (h <= tile and w <= tile):
        return model(x)
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            y0, x0 = max(top - pad, 0), max(left - pad, 0)
            y1, x1 = min(top + tile + pad, h), min(left + tile + pad, w)
            y = model(x[:, :, y0:y1, x0:x1])
            if out is None:
                out = y.new_zeros(n, y.shape[1], h * scale, w * scale)
            th, tw = min(tile, h - top), min(tile, w - left)
            oy, ox = (top - y0) * scale, (left - x0) * scale
            centre = y[:, :, oy:oy + th * scale, ox:ox + tw * scale]
            out[:, :, top * scale:(top + th) * scale, left * scale:(left + tw) * scale] = centre
    return out


def receptive_field(model, in_channels=3, sizes=(65, 129, 257)):
    """Radius (in LR pixels) of the input region that affects one output pixel.

    Measured with autograd: the support of the gradient of the centre output pixel, on
    inputs of growing ``sizes`` until the support stays inside. Output clipping is switched
    off for the probe (a saturated output has no gradient). Returns None when even the
    largest input is covered (the model is not local, e.g. it pools globally).
    """
    from lightsr.models.blocks import Clip

    model = model.eval()
    clips = [m for m in model.modules() if isinstance(m, Clip)]
    for m in clips:
        m.active = False
    try:
        for size in sizes:
            x = torch.randn(1, in_channels, size, size, requires_grad=True)
            y = model(x)
            c = y.shape[-1] // 2
            y[0, :, c, c].sum().backward()
            support = x.grad.abs().sum(dim=(0, 1)) > 0
            rows = torch.nonzero(support.any(dim=1)).flatten()
            cols = torch.nonzero(support.any(dim=0)).flatten()
            if rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1:
                centre = size // 2
                return int(max(centre - rows.min(), rows.max() - centre, centre - cols.min(), cols.max() - centre))
        return None
    finally:
        for m in clips:
            m.active = True
