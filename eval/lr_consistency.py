"""LR-consistency: does the SR output explain its own input? (no ground truth needed)

The survey's data term ||(X^ ⊗ k)↓s - y||: degrade the SR output X^ with the assumed
degradation (MATLAB bicubic by default, or a given blur kernel followed by ``s``-fold
decimation) and compare it with the LR input y. Reported as a PSNR in dB: higher means
the SR result is more consistent with what was observed.
"""

import numpy as np

from lightsr.degrade.ops.blur import convolve
from lightsr.degrade.resize import imresize_matlab
from lightsr.errors import LightSRError
from lightsr.eval.fullref import psnr


def degrade_sr(sr, scale, kernel=None):
    """(sr ⊗ k)↓s: MATLAB bicubic when ``kernel`` is None, else blur + decimation (kernel centred)."""
    if kernel is None:
        return imresize_matlab(sr, 1.0 / scale)
    blurred = convolve(sr, np.asarray(kernel, dtype=np.float64))
    offset = (scale - 1) // 2  # the sample nearest to the centre of each s x s block
    return np.ascontiguousarray(blurred[offset::scale, offset::scale])


def lr_consistency(sr, lr, scale, kernel=None, crop_border=0, y=False):
    """PSNR (dB) between the re-degraded SR output and the LR input."""
    down = degrade_sr(sr, scale, kernel)
    if down.shape[:2] != lr.shape[:2]:
        raise LightSRError(f"the SR output is {sr.shape[1]}x{sr.shape[0]}, but the LR input x{scale} is "
                           f"{lr.shape[1]}x{lr.shape[0]}")
    return psnr(np.clip(down, 0, 1), lr, crop_border=crop_border, y=y)
