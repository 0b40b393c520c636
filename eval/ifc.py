"""Information fidelity criterion (Sheikh, Bovik & de Veciana, IEEE TIP 2005), as the authors'
``ifcvec.m`` computes it.

The reference and distorted images are decomposed by a steerable pyramid (4 levels, 6
orientations, 'sp5' filters, reflect1 edges: pyrtools' port of matlabPyrTools, band for band
equal to MATLAB's). In 8 subbands (orientations 0 and 90 degrees at each level) the
reference is modelled as a Gaussian scale mixture of 3x3 coefficient vectors and the
distortion as a gain g plus additive noise of variance vv, estimated in local windows;
IFC sums log2(1 + g^2 s^2 lambda_j / vv) over blocks, eigenvalues and subbands, per pixel.
Tested against the authors' MATLAB code run in GNU Octave (relative 1e-8).

No Python package implements IFC; pyrtools supplies the pyramid and corrDn (its C core).
"""

import numpy as np

from lightsr.errors import LightSRError

M = 3  # GSM vector block size
SUBBANDS = (4, 7, 10, 13, 16, 19, 22, 25)  # ifcvec.m's subband indices (ind2wtree order)
TOL = 1e-15
HEIGHT, ORIENTATIONS = 4, 6


def _band_key(sub):
    """ifcvec's band index (ind2wtree reverses buildSpyr's order) -> pyrtools' (level, band)."""
    row = HEIGHT * ORIENTATIONS + 3 - sub  # 1-based row of buildSpyr's band list
    return divmod(row - 2, ORIENTATIONS)


def _level(sub):
    return int(np.ceil((sub - 1) / ORIENTATIONS))


def _crop(x):
    return x[: x.shape[0] // M * M, : x.shape[1] // M * M]


def _distortion_channel(ref, dist, sub):
    """Local gain g and noise variance vv at the centre of each 3x3 block (distsub_est_m.m)."""
    from pyrtools.pyramids.c.wrapper import corrDn

    size = 2 ** _level(sub) + 1
    win = np.ones((size, size))
    n = win.sum()
    ref, dist = _crop(ref), _crop(dist)

    def local(img, f):
        return corrDn(img, f, "reflect1", (M, M), (M // 2, M // 2), (img.shape[0] - 1, img.shape[1] - 1))

    mean_x, mean_y = local(ref, win / n), local(dist, win / n)
    cov_xy = local(ref * dist, win) - n * mean_x * mean_y
    ss_x = np.maximum(local(ref * ref, win) - n * mean_x**2, 0)
    ss_y = np.maximum(local(dist * dist, win) - n * mean_y**2, 0)
    g = cov_xy / (ss_x + TOL)
    vv = (ss_y - g * cov_xy) / n
    # the release's special cases, in its order (vv gets ss_y itself, not divided by n)
    low_x = ss_x < TOL
    g[low_x], vv[low_x] = 0, ss_y[low_x]
    low_y = ss_y < TOL
    g[low_y], vv[low_y] = 0, 0
    negative = g < 0
    vv[negative] = ss_y[negative]
    g[negative] = 0
    vv[vv <= TOL] = TOL
    return g, vv


def _reference_gsm(ref):
    """Covariance eigenvalues of 3x3 vectors and the per-block multiplier s^2 (refparams_vecgsm.m)."""
    y = _crop(ref)
    h, w = y.shape
    # every overlapping 3x3 window, components in column-major order (j column offset, k row offset)
    windows = np.stack([y[k:h - (M - 1 - k), j:w - (M - 1 - j)].ravel() for j in range(M) for k in range(M)])
    centred = windows - windows.mean(axis=1, keepdims=True)
    cu = centred @ centred.T / windows.shape[1]
    blocks = np.stack([y[k::M, j::M].ravel() for j in range(M) for k in range(M)])  # non-overlapping, not centred
    ss = np.sum((np.linalg.inv(cu) @ blocks) * blocks, axis=0) / (M * M)
    return ss.reshape(h // M, w // M), np.linalg.eigvalsh(cu)


def ifc(reference, distorted):
    """IFC of a distorted image against its reference; 2-D arrays on the 0-255 scale (e.g. Y).

    Higher is better (0 when the distorted image carries no information about the reference).
    Needs at least 72 x 72 pixels (four pyramid levels).
    """
    from pyrtools.pyramids import SteerablePyramidSpace

    ref = np.asarray(reference, dtype=np.float64)
    dist = np.asarray(distorted, dtype=np.float64)
    if ref.shape != dist.shape or ref.ndim != 2:
        raise LightSRError(f"IFC compares two 2-D images of one size, got {ref.shape} and {dist.shape}")
    if min(ref.shape) < 72:
        raise LightSRError(f"IFC needs at least 72x72 pixels (a 4-level pyramid), got {ref.shape[1]}x{ref.shape[0]}")
    org = SteerablePyramidSpace(ref, height=HEIGHT, order=ORIENTATIONS - 1, edge_type="reflect1").pyr_coeffs
    deg = SteerablePyramidSpace(dist, height=HEIGHT, order=ORIENTATIONS - 1, edge_type="reflect1").pyr_coeffs
    total = 0.0
    for sub in SUBBANDS:
        key = _band_key(sub)
        g, vv = _distortion_channel(org[key], deg[key], sub)
        ss, eigenvalues = _reference_gsm(org[key])
        off = int(np.ceil(2 ** (_level(sub) - 1) / M))  # skip blocks whose window crosses the band border
        g, vv, ss = (a[off:a.shape[0] - off, off:a.shape[1] - off] for a in (g, vv, ss))
        for lam in eigenvalues:
            total += float(np.sum(np.log2(1 + g * g * ss * lam / (vv + 1e-10))))
    return total / ref.size
