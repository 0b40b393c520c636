"""A counter-based random stream that numpy and torch compute identically.

The noise ops draw their fields from a seed in the params. For a record to replay the same on
the CPU (numpy) and on a GPU (torch), both must turn (seed, element index) into the same
numbers; numpy's and torch's generators cannot (different algorithms, and torch's differ between
devices). Element k of the stream of ``seed`` is mix(mix(mix(k) ^ k1) + k2), with Wellons' lowbias32
mixer and two 32-bit keys derived from the seed (k is hashed before the keys enter, so the
streams of two seeds are not permutations of one another): no state, so any element of any sample can be drawn
in any order, in parallel, on any device. numpy works in uint32 (which wraps); torch lacks
wrapping 32-bit multiplies on every device, so it works in int64 holding 32-bit values.

    uniform: ((h >> 9) + 0.5) / 2^23, in (0, 1), exact in float32 (24 significant bits)
    normal:  Box-Muller on the uniforms u1, u2 of elements 2j and 2j + 1, both of its outputs:
             normal 2j = r cos(2 pi u2), normal 2j + 1 = r sin(2 pi u2), r = sqrt(-2 ln u1)

The first mixing round does not depend on the seed, so numpy caches it for index ranges: a
noise field then costs two rounds per element.
"""

import math

import numpy as np

_M1, _M2 = 0x7FEB352D, 0x846CA68B
_MASK = 0xFFFFFFFF
_INV23 = 2.0**-23


def _mix_int(x):
    x ^= x >> 16
    x = (x * _M1) & _MASK
    x ^= x >> 15
    x = (x * _M2) & _MASK
    return x ^ (x >> 16)


def _keys(seed):
    """Two 32-bit keys from a (63-bit) seed, each depending on all of it."""
    seed = int(seed)
    k1 = _mix_int((seed & _MASK) ^ 0x9E3779B9)
    return k1, _mix_int((((seed >> 32) & _MASK) + k1) & _MASK)


# ---------------------------------------------------------------- numpy


_S15, _S16 = np.uint32(15), np.uint32(16)
_CACHE_LIMIT = 1 << 23  # cached first rounds: up to 8M indices (32 MB), a 1670x1670 RGB field
_first_round = np.empty(0, dtype=np.uint32)


def _mix_np(x):
    """lowbias32 in place on a uint32 array (one scratch array instead of a temporary per step)."""
    t = np.empty_like(x)
    np.right_shift(x, _S16, out=t)
    x ^= t
    x *= np.uint32(_M1)
    np.right_shift(x, _S15, out=t)
    x ^= t
    x *= np.uint32(_M2)
    np.right_shift(x, _S16, out=t)
    x ^= t
    return x


def _keyed_np(seed, first):
    """The seed's two rounds on first-round hashes ``first`` (not modified)."""
    k1, k2 = _keys(seed)
    x = _mix_np(first ^ np.uint32(k1))
    x += np.uint32(k2)
    return _mix_np(x)


def bits_np(seed, index):
    """32-bit hashes of the uint32 array ``index`` in the stream of ``seed``."""
    return _keyed_np(seed, _mix_np(np.array(index, dtype=np.uint32)))


def bits_range_np(seed, n):
    """``bits_np(seed, arange(n))``, with the seed-independent first round from a cache."""
    global _first_round
    if n > _CACHE_LIMIT:
        return bits_np(seed, np.arange(n, dtype=np.uint32))
    cached = _first_round  # one read: another thread may replace the cache meanwhile
    if n > cached.size:
        cached = _mix_np(np.arange(min(max(n, 2 * cached.size, 1 << 16), _CACHE_LIMIT), dtype=np.uint32))
        if cached.size > _first_round.size:  # never shrink it
            _first_round = cached
    return _keyed_np(seed, cached[:n])


def _unit_np(h):
    """((h >> 9) + 0.5) / 2^23, computed as the float32 1 + (h >> 9) / 2^23 (its bit pattern is
    0x3F800000 | h >> 9) minus 1 - 2^-24: exact, and in place (``h`` is consumed)."""
    h >>= np.uint32(9)
    h |= np.uint32(0x3F800000)
    u = h.view(np.float32)
    u -= np.float32(1.0 - 2.0**-24)
    return u


def uniform_np(seed, shape):
    """Uniforms in (0, 1), float32, elements 0..n-1 of the stream, in C order."""
    return _unit_np(bits_range_np(seed, int(np.prod(shape)))).reshape(shape)


def normal_np(seed, shape):
    """Standard normals, float32, in C order."""
    n = int(np.prod(shape))
    u = _unit_np(bits_range_np(seed, n + n % 2))
    r = np.log(u[0::2])
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    angle = u[1::2]
    angle *= np.float32(2.0 * math.pi)
    z = np.empty(n + n % 2, dtype=np.float32)
    np.multiply(r, np.cos(angle), out=z[0::2])
    np.multiply(r, np.sin(angle), out=z[1::2])
    return z[:n].reshape(shape)


# ---------------------------------------------------------------- torch


def _mul32_torch(x, c):
    # (x * c) mod 2^32 for 0 <= x < 2^32 without overflowing int64: split c into 16-bit halves
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & _MASK


def _mix_torch(x):
    x = x ^ (x >> 16)
    x = _mul32_torch(x, _M1)
    x = x ^ (x >> 15)
    x = _mul32_torch(x, _M2)
    return x ^ (x >> 16)


def bits_torch(k1, k2, index):
    """The same hashes as ``bits_np``; int64 tensors holding 32-bit values, broadcast together
    (e.g. per-sample keys of shape (B, 1, 1, 1) from ``keys_torch`` and per-element indices)."""
    x = _mix_torch(_mix_torch(index & _MASK) ^ k1)
    return _mix_torch((x + k2) & _MASK)


def _unit_torch(h):
    import torch

    return ((h >> 9).to(torch.float32) + 0.5) * _INV23


def keys_np(seeds):
    """The (k1, k2) keys of a list of integer seeds as int64 arrays of shape (B,) (host work: the
    batched appliers pack them with their other parameters)."""
    keys = np.array([_keys(s) for s in seeds], dtype=np.int64).reshape(-1, 2)
    return keys[:, 0], keys[:, 1]


def keys_torch(seeds, device):
    """``keys_np`` as int64 tensors on ``device``."""
    import torch

    return tuple(torch.from_numpy(k).to(device) for k in keys_np(seeds))


def uniform_torch(k1, k2, index):
    return _unit_torch(bits_torch(k1, k2, index))


def normal_torch(k1, k2, index):
    """Standard normals of stream elements ``index`` (the numpy stream's C-order positions):
    element e is the cosine (e even) or sine (e odd) output of the pair e // 2."""
    import torch

    first = index - (index & 1)
    u1 = _unit_torch(bits_torch(k1, k2, first))
    angle = (2.0 * math.pi) * _unit_torch(bits_torch(k1, k2, first + 1))
    r = torch.sqrt(-2.0 * torch.log(u1))
    return r * torch.where((index & 1) == 0, torch.cos(angle), torch.sin(angle))
