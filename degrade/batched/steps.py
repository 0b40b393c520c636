"""The batched ops, each in three parts, so that a batch's host work and its device work can be
done apart (the host part in loader workers, the device part in a captured CUDA graph):

    data, dims, sizes = op.prepare(params, hs, ws)  # host: kernels, resize bands, keys, tables
    arrays = op.pack(data, dims)                     # host: numpy arrays whose shapes dims fix
    out = op.execute(x, hs, ws, tensors, dims)       # device only: no host round trip, no shape
                                                     # that depends on the data
``params`` holds one entry per sample of the canvas, None for a sample the op must leave as it
is (the static executor runs every op on the whole batch and keeps the members' results);
``hs``/``ws`` are the samples' sizes (host ints for prepare, (B,) int64 device tensors for
execute); ``dims`` are small ints (largest kernel, output size, band width, flags of the
variants present) that can only grow for a fixed template; ``sizes`` the samples' (h, w) after
the op, or None when the op keeps them.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from lightsr.degrade.batched.filters import blur_execute, blur_pack, blur_prepare, usm_execute, usm_pack, usm_prepare
from lightsr.degrade.batched.jpeg import jpeg_execute, jpeg_pack, jpeg_prepare
from lightsr.degrade.batched.levels import (
    clip_execute,
    clip_pack,
    clip_prepare,
    decimate_batch,
    quantize_execute,
    quantize_pack,
    quantize_prepare,
)
from lightsr.degrade.batched.noise import (
    gaussian_execute,
    gaussian_pack,
    gaussian_prepare,
    poisson_execute,
    poisson_pack,
    poisson_prepare,
    speckle_execute,
)
from lightsr.degrade.batched.resize import resize_execute, resize_pack, resize_prepare


@dataclass(frozen=True)
class BatchedOp:
    prepare: Callable
    pack: Callable
    execute: Callable
    # dims -> whether execute is free of data-dependent host work (may be captured in a CUDA graph)
    capturable: Callable = lambda dims: True


_RESIZE = BatchedOp(resize_prepare, resize_pack, resize_execute)
STEPS = {
    "blur": BatchedOp(blur_prepare, blur_pack, blur_execute),
    "usm": BatchedOp(usm_prepare, usm_pack, usm_execute),
    "gaussian_noise": BatchedOp(gaussian_prepare, gaussian_pack, gaussian_execute),
    "speckle_noise": BatchedOp(gaussian_prepare, gaussian_pack, speckle_execute),
    # Poisson noise of a fixed photon count rejects and redraws until every count is accepted
    "poisson_noise": BatchedOp(poisson_prepare, poisson_pack, poisson_execute, lambda dims: not dims["fixed"]),
    "jpeg": BatchedOp(jpeg_prepare, jpeg_pack, jpeg_execute),
    "clip": BatchedOp(clip_prepare, clip_pack, clip_execute),
    "quantize": BatchedOp(quantize_prepare, quantize_pack, quantize_execute),
    "resize": _RESIZE,
    "resize_to_target": _RESIZE,
}
# ops whose output sizes follow from the data layout in ways a fixed template cannot hold:
# fn(x, hs, ws (host tensors), params) -> (out, out_hs, out_ws), for the dynamic scheduler only
DYNAMIC_ONLY = {"decimate": decimate_batch}


def to_device(arrays, device):
    """numpy arrays -> tensors on ``device`` (bools stay bool, other dtypes as they are)."""
    return {k: torch.from_numpy(np.ascontiguousarray(a)).to(device) for k, a in arrays.items()}


def merge_dims(a, b):
    """Dims that serve both: each the larger (flags: either)."""
    return {k: max(a.get(k, 0), b.get(k, 0)) for k in a.keys() | b.keys()}


def run_op(name, x, hs, ws, params):
    """One op on the samples of ``x`` (all of them take it), params per sample, sizes as host
    int lists: (out, out_hs, out_ws)."""
    op = STEPS[name]
    data, dims, sizes = op.prepare(params, hs, ws)
    t = to_device(op.pack(data, dims), x.device)
    hs_d = torch.tensor(hs, dtype=torch.int64, device=x.device)
    ws_d = torch.tensor(ws, dtype=torch.int64, device=x.device)
    out = op.execute(x, hs_d, ws_d, t, dims)
    if sizes is None:
        return out, list(hs), list(ws)
    return out, [s[0] for s in sizes], [s[1] for s in sizes]
