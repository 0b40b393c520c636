"""JPEG in torch, per sample quality and sampling: what OpenCV's libjpeg-turbo round trip does.

Encode: 8-bit RGB -> YCbCr with libjpeg's fixed-point tables, chroma downsampled by 2x2 / 2x1
sums with its alternating rounding bias, edges replicated to whole MCUs (columns at full size,
rows after downsampling, as libjpeg's prep controller does), level shift, libjpeg's integer
"islow" forward DCT (the LL&M factorisation, 13-bit constants), quantisation by the standard
tables scaled by quality (libjpeg's rule, baseline-clamped) with its rounding. Decode: dequantise,
the integer islow inverse DCT, range limit, libjpeg's "fancy" triangular chroma upsampling,
fixed-point YCbCr -> RGB. All integer arithmetic (int64), in libjpeg's order, so the result is
libjpeg's; no entropy coding, which changes no pixel.
"""

import functools

import numpy as np
import torch

from lightsr.degrade.batched.compiled import maybe_compiled
from lightsr.degrade.batched.levels import div255

# ITU-T T.81 Annex K tables (luminance, chrominance), row-major
_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
         14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
         49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
           47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
_FACTORS = {"444": (1, 1), "422": (1, 2), "420": (2, 2)}  # chroma subsampling (vertical, horizontal)


def quant_table(base, quality):
    """libjpeg's jpeg_quality_scaling + jpeg_add_quant_table(force_baseline=TRUE)."""
    return list(_quant_table(tuple(base), min(max(int(quality), 1), 100)))


@functools.lru_cache(maxsize=256)
def _quant_table(base, quality):
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    return tuple(min(max((q * scale + 50) // 100, 1), 255) for q in base)


# libjpeg's FIX(x) = round(x * 2^13) constants of jfdctint.c / jidctint.c
_CONST_BITS, _PASS1_BITS = 13, 2
_F0298, _F0390, _F0541, _F0765, _F0899, _F1175 = 2446, 3196, 4433, 6270, 7373, 9633
_F1501, _F1847, _F1961, _F2053, _F2562, _F3072 = 12299, 15137, 16069, 16819, 20995, 25172


def _descale(x, n):
    return (x + (1 << (n - 1))) >> n


def _odd_part(t4, t5, t6, t7):
    """The shared odd-part rotation of the islow transforms (inputs in libjpeg's tmp4..tmp7 roles)."""
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * _F1175
    z1, z2 = z1 * -_F0899, z2 * -_F2562
    z3, z4 = z3 * -_F1961 + z5, z4 * -_F0390 + z5
    return t4 * _F0298 + z1 + z3, t5 * _F2053 + z2 + z4, t6 * _F3072 + z2 + z3, t7 * _F1501 + z1 + z4


def _fdct_raw(d, last):
    """jpeg_fdct_islow along the last axis before its final descales: the 8 outputs (each an
    integer linear combination of the inputs) and the right shift libjpeg applies to each, with
    rounding (negative: an exact left shift). Pass 1 (``last`` False) keeps PASS1_BITS of extra
    precision, pass 2 removes it; the result is 8x the orthonormal DCT, as libjpeg's."""
    d = d.unbind(-1)
    t0, t7, t1, t6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
    t2, t5, t3, t4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    shift = _CONST_BITS + _PASS1_BITS if last else _CONST_BITS - _PASS1_BITS
    dc_shift = _PASS1_BITS if last else -_PASS1_BITS
    z1 = (t12 + t13) * _F0541
    o7, o5, o3, o1 = _odd_part(t4, t5, t6, t7)
    out = [t10 + t11, o1, z1 + t13 * _F0765, o3, t10 - t11, o5, z1 - t12 * _F1847, o7]
    return out, [dc_shift, shift, shift, shift, dc_shift, shift, shift, shift]


def _idct_raw(c, last):
    """jpeg_idct_islow along the last axis before its descales (pass 1 on columns, pass 2 on
    rows, descaled by 2^3 more): outputs and shifts, as ``_fdct_raw``."""
    c = c.unbind(-1)
    z1 = (c[2] + c[6]) * _F0541
    t2, t3 = z1 - c[6] * _F1847, z1 + c[2] * _F0765
    t0, t1 = (c[0] + c[4]) * (1 << _CONST_BITS), (c[0] - c[4]) * (1 << _CONST_BITS)
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    o0, o1, o2, o3 = _odd_part(c[7], c[5], c[3], c[1])
    n = _CONST_BITS + _PASS1_BITS + 3 if last else _CONST_BITS - _PASS1_BITS
    pairs = [(t10, o3), (t11, o2), (t12, o1), (t13, o0)]
    return [a + b for a, b in pairs] + [a - b for a, b in reversed(pairs)], [n] * 8


@functools.lru_cache(maxsize=16)
def _pass(kind, last, device):
    """One 1-D pass as (matrix, shift): out = descale(x @ matrix, shift) for x (..., 8).

    Each libjpeg pass is an integer linear map followed by per-output rounding shifts; scaling
    the rows with smaller shifts by 2^(shift - theirs) makes one shift serve all (exact for the
    left shifts too). The products and sums stay below 2^53, so a float64 matrix product (one
    kernel, on any device; CUDA has no int64 matmul) computes them exactly.
    """
    raw = _fdct_raw if kind == "fdct" else _idct_raw
    outputs, shifts = raw(torch.eye(8, dtype=torch.int64), last)
    shift = max(shifts)
    rows = [o * (1 << (shift - s)) for o, s in zip(outputs, shifts)]  # row k: output k of each unit input
    return torch.stack(rows, 1).to(torch.float64).to(device), shift


_PASSES = (("fdct", False), ("fdct", True), ("idct", False), ("idct", True))
# each pass's shift, fixed by libjpeg's constants (checked against _pass by the tests): plain
# numbers inside the compiled round trip, where a shift read from an argument would be symbolic
_SHIFTS = (_CONST_BITS - _PASS1_BITS, _CONST_BITS + _PASS1_BITS, _CONST_BITS - _PASS1_BITS,
           _CONST_BITS + _PASS1_BITS + 3)


def _matrices(device):
    """The four passes' matrices (forward DCT 1 and 2, inverse DCT 1 and 2)."""
    return tuple(_pass(kind, last, device)[0] for kind, last in _PASSES)


def _apply_pass(x, matrix, shift):
    return _descale(torch.matmul(x.to(torch.float64), matrix).to(torch.int64), shift)


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
    return (blocks + bias) // (fy * fx)


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
        even, odd = (3 * rows + left + 8) >> 4, (3 * rows + right + 7) >> 4
        # the first and last output columns take the edge column alone (libjpeg: colsum * 4 + 8 >> 4)
        even[..., 0] = (4 * rows[..., 0] + 8) >> 4
        odd[..., -1] = (4 * rows[..., -1] + 7) >> 4
        return torch.stack([even, odd], 4).flatten(3, 4)
    left = torch.cat([plane[..., :1], plane[..., :-1]], 3)
    right = torch.cat([plane[..., 1:], plane[..., -1:]], 3)
    even, odd = (3 * plane + left + 1) >> 2, (3 * plane + right + 2) >> 2
    even[..., 0], odd[..., -1] = plane[..., 0], plane[..., -1]
    return torch.stack([even, odd], 4).flatten(3, 4)


def _blocks_roundtrip(plane, tables, matrices):
    """Level-shifted samples (B, 1, H, W), H and W multiples of 8, through libjpeg's islow forward
    DCT, quantisation by per-sample tables (B, 64), dequantisation and islow inverse DCT."""
    (f1, f2, i1, i2), (s1, s2, t1, t2) = matrices, _SHIFTS
    b, _, h, w = plane.shape
    blocks = plane.view(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)  # B, by, bx, 8 (rows), 8 (columns)
    coef = _apply_pass(_apply_pass(blocks, f1, s1).transpose(-1, -2), f2, s2).transpose(-1, -2)
    q = tables.view(b, 1, 1, 8, 8)
    divisor = q * 8  # the islow output is 8x the orthonormal DCT
    quantised = torch.sign(coef) * ((coef.abs() + (divisor >> 1)) // divisor)  # libjpeg: rounded, half away from zero
    rec = _apply_pass(_apply_pass((quantised * q).transpose(-1, -2), i1, t1).transpose(-1, -2), i2, t2)
    return (rec + 128).clamp(0, 255).permute(0, 1, 3, 2, 4).reshape(b, 1, h, w)


def _roundtrip(x, hs, ws, luma_q, chroma_q, matrices, fy, fx):
    """Encode and decode the samples of ``x`` (n, 3, H, W), sample i of size (hs[i], ws[i]) with
    quantisation tables luma_q[i] / chroma_q[i] and chroma subsampling (fy, fx)."""
    h, w = x.shape[2], x.shape[3]
    ph, pw = -(-h // (8 * fy)) * 8 * fy, -(-w // (8 * fx)) * 8 * fx
    rgb = torch.round(x.clamp(0.0, 1.0) * 255.0).to(torch.int64)  # OpenCV's convertScaleAbs: to even
    rgb = _pad_edges(rgb, hs, ws, ph, pw)
    r, g, bl = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    # jccolor.c's 16-bit fixed point: FIX(0.299) = 19595, ... ; Cb/Cr offsets (128 << 16) + ONE_HALF - 1
    y = (19595 * r + 38470 * g + 7471 * bl + 32768) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * bl + (128 << 16) + 32767) >> 16
    cr = (32768 * r - 27439 * g - 5329 * bl + (128 << 16) + 32767) >> 16
    y = _blocks_roundtrip(y - 128, luma_q, matrices)
    planes = []
    # the decoder upsamples from each sample's real chroma extent, its edge replicated
    ch, cw = (hs + fy - 1) // fy, (ws + fx - 1) // fx
    for plane in (cb, cr):
        small = _downsample(plane, fy, fx)
        if fy == 2:  # libjpeg fills the iMCU's bottom from the last *downsampled* row, not the full-size one
            small = _pad_edges(small, ch, torch.full_like(cw, small.shape[3]), small.shape[2], small.shape[3])
        small = _blocks_roundtrip(small - 128, chroma_q, matrices)
        # libjpeg's upsampler treats its first and last columns apart, at least two apart: with one real
        # chroma column it reads the decoded padding next to it
        small = _pad_edges(small, ch, cw, small.shape[2], small.shape[3])
        planes.append(_fancy_upsample(small, fy, fx) - 128)
    cb, cr = planes
    # jdcolor.c: R = y + round(1.402 cr), B = y + round(1.772 cb), G = y + (-0.34414 cb - 0.71414 cr + 1/2 >> 16)
    rgb = torch.cat([y + ((91881 * cr + 32768) >> 16), y + ((-22554 * cb - 46802 * cr + 32768) >> 16),
                     y + ((116130 * cb + 32768) >> 16)], 1)
    return div255(rgb.clamp(0, 255).to(x.dtype))[:, :, :h, :w]


@functools.lru_cache(maxsize=8)  # one per chroma subsampling (three)
def _roundtrip_for(fy, fx):
    """``_roundtrip`` with the subsampling fixed (constants to the compiler)."""
    def roundtrip(x, hs, ws, luma_q, chroma_q, f1, f2, i1, i2):
        return _roundtrip(x, hs, ws, luma_q, chroma_q, (f1, f2, i1, i2), fy, fx)
    return maybe_compiled(roundtrip)


_SAMPLINGS = tuple(_FACTORS)


def jpeg_prepare(params, hs, ws):
    """Host work of the JPEG round trip: each sample's quality and chroma sampling (None: a sample
    the op leaves as it is); dims name the samplings present, each one round trip of the batch."""
    members = [p.get("sampling", "420") for p in params if p is not None]
    fill = members[0] if members else "420"
    rows = [(100, fill) if p is None else (int(p["quality"]), p.get("sampling", "420")) for p in params]
    present = set(members)  # no members (a slot some batch skips): the round trip is not run
    return rows, {f"s{s}": int(s in present) for s in _SAMPLINGS}, None


def jpeg_pack(rows, dims):
    return {"luma_q": np.array([quant_table(_LUMA, q) for q, _ in rows], dtype=np.int64),
            "chroma_q": np.array([quant_table(_CHROMA, q) for q, _ in rows], dtype=np.int64),
            "sampling": np.array([_SAMPLINGS.index(s) for _, s in rows], dtype=np.int64)}


def jpeg_execute(x, hs, ws, t, dims):
    matrices = _matrices(x.device)
    out = None
    for code, sampling in enumerate(_SAMPLINGS):
        if not dims[f"s{sampling}"]:
            continue
        r = _roundtrip_for(*_FACTORS[sampling])(x, hs, ws, t["luma_q"], t["chroma_q"], *matrices)
        # every present sampling runs on the whole batch (static shapes); each sample keeps its own
        out = r if out is None else torch.where(t["sampling"].view(-1, 1, 1, 1) == code, r, out)
    return x if out is None else out
