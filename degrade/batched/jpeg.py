"""JPEG in torch, per sample quality and sampling: what OpenCV's libjpeg(-turbo) round trip does.

Encode: 8-bit RGB -> YCbCr (JFIF, rounded), chroma downsampled by 2x2 / 2x1 means with
libjpeg's alternating rounding bias, edges replicated to whole MCUs (columns at full size, rows
after downsampling, as libjpeg's prep controller does), level shift, 8x8 DCT,
quantisation by the standard tables scaled by quality (libjpeg's rule, baseline-clamped),
rounded half away from zero. Decode: dequantise, inverse DCT, range limit, libjpeg's "fancy"
triangular chroma upsampling, YCbCr -> RGB, rounded and clamped. The DCTs are exact float
transforms where libjpeg uses scaled integers, so a few levels differ; the PSNR against OpenCV is
checked by the tests. No entropy coding: it changes no pixel.
"""

import functools
import math

import torch

# ITU-T T.81 Annex K tables (luminance, chrominance), row-major
_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
         14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
         49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMA = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
           47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32
_FACTORS = {"444": (1, 1), "422": (1, 2), "420": (2, 2)}  # chroma subsampling (vertical, horizontal)


def quant_table(base, quality):
    """libjpeg's jpeg_quality_scaling + jpeg_add_quant_table(force_baseline=TRUE)."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    return [min(max((q * scale + 50) // 100, 1), 255) for q in base]


@functools.lru_cache(maxsize=8)
def _dct_matrix(device):
    d = torch.zeros(8, 8, dtype=torch.float64)
    for u in range(8):
        c = math.sqrt(1 / 8) if u == 0 else math.sqrt(2 / 8)
        for x in range(8):
            d[u, x] = c * math.cos((2 * x + 1) * u * math.pi / 16)
    return d.to(torch.float32).to(device)


def _round_half_up(x):
    return torch.floor(x + 0.5)


def _pad_edges(x, hs, ws, to_h, to_w):
    """Each sample extended to (to_h, to_w) by repeating its own last row and column."""
    b, c = x.shape[:2]
    rows = torch.minimum(torch.arange(to_h, device=x.device).unsqueeze(0), (hs.to(x.device) - 1).unsqueeze(1))
    cols = torch.minimum(torch.arange(to_w, device=x.device).unsqueeze(0), (ws.to(x.device) - 1).unsqueeze(1))
    x = x.gather(2, rows.view(b, 1, -1, 1).expand(b, c, -1, x.shape[3]))
    return x.gather(3, cols.view(b, 1, 1, -1).expand(b, c, x.shape[2], -1))


def _downsample(plane, fy, fx):
    """libjpeg's h2v1 / h2v2 downsampling: block means with a bias alternating along each row."""
    if (fy, fx) == (1, 1):
        return plane
    b, c, h, w = plane.shape
    blocks = plane.view(b, c, h // fy, fy, w // fx, fx).sum((3, 5))
    bias = torch.arange(w // fx, device=plane.device) % 2  # 0, 1, 0, 1 ... per output column
    bias = (bias + 1) if fy == 2 else bias  # h2v2: 1, 2, 1, 2; h2v1: 0, 1, 0, 1
    return torch.floor((blocks + bias) / (fy * fx))


def _fancy_upsample(plane, fy, fx):
    """libjpeg(-turbo)'s triangular ("fancy") chroma upsampling, edges replicated: each output
    is 3/4 of its nearer and 1/4 of its farther input, per upsampled axis, with libjpeg's biases."""
    if (fy, fx) == (1, 1):
        return plane
    if fy == 2:  # vertical pass first, kept at 4x scale (libjpeg's colsum), then horizontal
        up = torch.cat([plane[:, :, :1], plane[:, :, :-1]], 2)
        down = torch.cat([plane[:, :, 1:], plane[:, :, -1:]], 2)
        rows = torch.stack([3 * plane + up, 3 * plane + down], 3).flatten(2, 3)
        left = torch.cat([rows[..., :1], rows[..., :-1]], 3)
        right = torch.cat([rows[..., 1:], rows[..., -1:]], 3)
        even, odd = torch.floor((3 * rows + left + 8) / 16), torch.floor((3 * rows + right + 7) / 16)
        # the first and last output columns take the edge column alone (libjpeg: colsum * 4 + 8 >> 4)
        even[..., 0] = torch.floor((4 * rows[..., 0] + 8) / 16)
        odd[..., -1] = torch.floor((4 * rows[..., -1] + 7) / 16)
        return torch.stack([even, odd], 4).flatten(3, 4)
    left = torch.cat([plane[..., :1], plane[..., :-1]], 3)
    right = torch.cat([plane[..., 1:], plane[..., -1:]], 3)
    even, odd = torch.floor((3 * plane + left + 1) / 4), torch.floor((3 * plane + right + 2) / 4)
    even[..., 0], odd[..., -1] = plane[..., 0], plane[..., -1]
    return torch.stack([even, odd], 4).flatten(3, 4)


def _blocks_dct(plane, tables, inverse=False):
    """Quantise-dequantise ``plane`` (B, 1, H, W), H and W multiples of 8, with per-sample tables (B, 64)."""
    b, _, h, w = plane.shape
    d = _dct_matrix(plane.device)
    blocks = plane.view(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)  # B, by, bx, 8, 8
    coef = d @ blocks @ d.T
    q = tables.view(b, 1, 1, 8, 8)
    quantised = torch.sign(coef) * torch.floor(coef.abs() / q + 0.5)  # half away from zero, as libjpeg
    rec = d.T @ (quantised * q) @ d
    return rec.permute(0, 1, 3, 2, 4).reshape(b, 1, h, w)


def jpeg_batch(x, hs, ws, params):
    b, c, h, w = x.shape
    out = torch.empty_like(x)
    for sampling in {p.get("sampling", "420") for p in params}:
        sel = [i for i, p in enumerate(params) if p.get("sampling", "420") == sampling]
        idx = torch.tensor(sel, device=x.device)
        fy, fx = _FACTORS[sampling]
        mh, mw = 8 * fy, 8 * fx
        ph, pw = -(-h // mh) * mh, -(-w // mw) * mw
        rgb = torch.round(x[idx].clamp(0.0, 1.0) * 255.0)  # OpenCV's convertScaleAbs: to even
        rgb = _pad_edges(rgb, hs[sel], ws[sel], ph, pw)
        r, g, bl = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
        y = _round_half_up(0.299 * r + 0.587 * g + 0.114 * bl)
        cb = _round_half_up(-0.168735892 * r - 0.331264108 * g + 0.5 * bl + 127.999999)  # libjpeg's CBCR_OFFSET - 1 + half
        cr = _round_half_up(0.5 * r - 0.418687589 * g - 0.081312411 * bl + 127.999999)
        luma_q = torch.tensor([quant_table(_LUMA, params[i]["quality"]) for i in sel], dtype=torch.float32, device=x.device)
        chroma_q = torch.tensor([quant_table(_CHROMA, params[i]["quality"]) for i in sel], dtype=torch.float32, device=x.device)
        y = (_round_half_up(_blocks_dct(y - 128.0, luma_q)) + 128.0).clamp(0, 255)
        planes = []
        # the decoder upsamples from each sample's real chroma extent, its edge replicated
        ch, cw = (hs[sel] + fy - 1) // fy, (ws[sel] + fx - 1) // fx
        for plane in (cb, cr):
            small = _downsample(plane, fy, fx)
            if fy == 2:  # libjpeg fills the iMCU's bottom from the last *downsampled* row, not the full-size one
                small = _pad_edges(small, ch, torch.full_like(cw, small.shape[3]), small.shape[2], small.shape[3])
            small = (_round_half_up(_blocks_dct(small - 128.0, chroma_q)) + 128.0).clamp(0, 255)
            small = _pad_edges(small, ch, cw, small.shape[2], small.shape[3])
            planes.append(_fancy_upsample(small, fy, fx) - 128.0)
        cb, cr = planes
        rgb = torch.cat([y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr, y + 1.772 * cb], 1)
        out[idx] = (_round_half_up(rgb).clamp(0, 255) / 255.0)[:, :, :h, :w]
    return out
