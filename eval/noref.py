"""No-reference quality through pyiqa, strictly offline.

pyiqa fetches weight files when a metric is created. Here every fetch is redirected to the
weights folders (``--weights-dir``, ``$LIGHTSR_WEIGHTS``, ``~/.cache/lightsr/weights``, then
pyiqa's own cache); a missing file is a one-line error naming the file and where to put it,
never a network call. NIQE's parameters come from basicsr's shipped ``niqe_pris_params.npz``
(written as the .mat file pyiqa reads); PIQE needs no file.
"""

import contextlib
import os

import numpy as np

from lightsr.errors import LightSRError
from lightsr.weights_dir import search_dirs

NIQE_MAT = "niqe_modelparameters.mat"


def _basicsr_niqe_mat(weights_dir=None):
    """pyiqa's NIQE parameter file, made from basicsr's npz (same MATLAB parameters) on first use."""
    import scipy.io

    from lightsr.compat import prepare_basicsr

    target_dir = search_dirs(weights_dir)[0]
    path = os.path.join(target_dir, NIQE_MAT)
    if os.path.isfile(path):
        return path
    prepare_basicsr()
    import basicsr

    src = os.path.join(os.path.dirname(basicsr.__file__), "metrics", "niqe_pris_params.npz")
    params = np.load(src)
    os.makedirs(target_dir, exist_ok=True)
    tmp = path + ".part"
    scipy.io.savemat(tmp, {"mu_prisparam": params["mu_pris_param"], "cov_prisparam": params["cov_pris_param"]})
    os.replace(tmp, path)
    return path


@contextlib.contextmanager
def offline_pyiqa(weights_dir=None):
    """Within the block, pyiqa and torch.hub resolve weight URLs to local files or fail at once."""
    import sys

    import torch.hub
    from pyiqa.utils import download_util

    def local(url, model_dir=None, progress=True, file_name=None, **_):
        name = file_name or os.path.basename(url.split("?")[0])
        folders = [*search_dirs(weights_dir), model_dir or download_util.DEFAULT_CACHE_DIR,
                   os.path.join(torch.hub.get_dir(), "checkpoints")]
        for folder in folders:
            if folder and os.path.isfile(os.path.join(folder, name)):
                return os.path.join(folder, name)
        raise LightSRError(f"needs the weight file {name} (from {url}): put it in {search_dirs(weights_dir)[0]} "
                           f"(or --weights-dir); lightsr never downloads")

    def hub_state_dict(url, model_dir=None, map_location=None, progress=True, check_hash=False, file_name=None, **_):
        import torch

        return torch.load(local(url, model_dir, file_name=file_name), map_location=map_location, weights_only=True)

    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("pyiqa") and getattr(module, "load_file_from_url", None) is download_util.load_file_from_url:
            patched.append((module, "load_file_from_url", module.load_file_from_url))
    patched.append((download_util, "load_file_from_url", download_util.load_file_from_url))
    patched.append((torch.hub, "load_state_dict_from_url", torch.hub.load_state_dict_from_url))
    try:
        for module, attr, _ in patched:
            setattr(module, attr, hub_state_dict if module is torch.hub else local)
        yield
    finally:
        for module, attr, original in patched:
            setattr(module, attr, original)


def create_nr_metric(name, device="cpu", weights_dir=None):
    """A pyiqa no-reference metric (callable on N x 3 x H x W in [0, 1]) built without the network."""
    import pyiqa

    if name not in pyiqa.list_models(metric_mode="NR"):
        raise LightSRError(f"unknown no-reference metric {name!r} (pyiqa has: {', '.join(pyiqa.list_models(metric_mode='NR'))})")
    options = {}
    if name == "niqe":
        options["pretrained_model_path"] = _basicsr_niqe_mat(weights_dir)
    with offline_pyiqa(weights_dir):
        try:
            return pyiqa.create_metric(name, device=device, **options)
        except LightSRError as e:
            raise LightSRError(f"{name}: {e}") from None


def lower_is_better(name):
    import pyiqa

    return bool(pyiqa.create_metric.__globals__["DEFAULT_CONFIGS"][name].get("lower_better", False))
