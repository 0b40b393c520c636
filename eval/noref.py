"""No-reference quality through pyiqa, with every weight file checked before pyiqa loads it.

pyiqa fetches weight files when a metric is created, and loads some of them with
``torch.load(weights_only=False)``, which runs any code pickled into the file. Here every fetch
is resolved first in the weights folders (``--weights-dir``, ``$LIGHTSR_WEIGHTS``,
``~/.cache/lightsr/weights``), then pyiqa's / torch hub's own caches; when the file is not there
and lightsr is online, pyiqa's (or torch's) own downloader fetches it into its usual cache. Any
file found or fetched passes :func:`lightsr.weights_dir.verify_tensors_only` before pyiqa sees
it, and ``torch.load`` runs with ``weights_only=True`` while a metric is built. Offline
(``--offline`` / ``LIGHTSR_OFFLINE=1``) or when the download fails, a missing file is a one-line
error naming the file and where to put it. NIQE's parameters come from basicsr's shipped
``niqe_pris_params.npz`` (written as the .mat file pyiqa reads); PIQE needs no file.
"""

import contextlib
import functools
import hashlib
import http.client
import io
import os

import numpy as np

from lightsr.errors import LightSRError
from lightsr.weights_dir import is_offline, missing_file_error, search_dirs, verify_tensors_only

NIQE_MAT = "niqe_modelparameters.mat"
NETWORK_ERRORS = (OSError, http.client.HTTPException)  # URLError, requests' and socket errors are OSErrors


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


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(functools.partial(f.read, 1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _resolve(url, folders, weights_dir, download, file_name=None, sha256=None):
    """A checked local path for ``url``: found in the folders, else downloaded (online) by ``download()``.

    With ``sha256`` (a digest pyiqa pins in the URL, as for OpenAI's CLIP archives), a file
    byte-identical to the published one is accepted as it is; any other file must be tensors-only.
    """
    name = file_name or os.path.basename(url.split("?")[0])
    path = next((os.path.join(d, name) for d in [*search_dirs(weights_dir), *folders]
                 if d and os.path.isfile(os.path.join(d, name))), None)
    if path is None:
        if is_offline():
            raise missing_file_error(name, weights_dir, source=url, note="offline: --offline or LIGHTSR_OFFLINE=1")
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pyiqa prints 'Downloading: ...' to stdout
                path = download()
        except NETWORK_ERRORS as e:
            raise missing_file_error(name, weights_dir, source=url,
                                     note=f"download failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if sha256 and _sha256(path) == sha256:
        return path
    return verify_tensors_only(path)


@contextlib.contextmanager
def pyiqa_weights(weights_dir=None):
    """Within the block, pyiqa's and torch hub's weight fetches go through :func:`_resolve`
    (local first, verified, downloaded only when online) and ``torch.load`` is tensors-only."""
    import sys

    import torch
    import torch.hub
    from pyiqa.utils import download_util

    from lightsr.weights_dir import _numpy_safe_globals

    original_fetch = download_util.load_file_from_url
    original_hub = torch.hub.load_state_dict_from_url
    original_load = torch.load
    hub_checkpoints = os.path.join(torch.hub.get_dir(), "checkpoints")

    def fetch(url, model_dir=None, progress=True, file_name=None, **_):
        folders = [model_dir or download_util.DEFAULT_CACHE_DIR, hub_checkpoints]
        return _resolve(url, folders, weights_dir, lambda: original_fetch(url, model_dir, progress, file_name), file_name)

    def hub_state_dict(url, model_dir=None, map_location=None, progress=True, check_hash=False, file_name=None, **_):
        folder = model_dir or hub_checkpoints

        def download():
            os.makedirs(folder, exist_ok=True)
            target = os.path.join(folder, file_name or os.path.basename(url.split("?")[0]))
            torch.hub.download_url_to_file(url, target, progress=progress)  # writes a temporary, then renames
            return target

        path = _resolve(url, [folder, download_util.DEFAULT_CACHE_DIR], weights_dir, download, file_name)
        return safe_load(path, map_location=map_location)

    def clip_download(original):
        def resolve(url, root):  # OpenAI's CLIP archives (TorchScript) are pinned by the SHA-256 in their URL
            return _resolve(url, [root], weights_dir, lambda: original(url, root), sha256=url.split("/")[-2])

        return resolve

    def safe_load(f, *args, **kwargs):
        kwargs["weights_only"] = True  # pyiqa passes weights_only=False for some files
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return original_load(f, *args, **kwargs)

    for arch in ("pyiqa.archs.clip_model", "pyiqa.archs.afineclip_model"):
        with contextlib.suppress(ImportError):
            __import__(arch)
    hooks = {"load_file_from_url": lambda original: fetch, "_download": clip_download}
    patched = [(download_util, "load_file_from_url", original_fetch, fetch),
               (torch.hub, "load_state_dict_from_url", original_hub, hub_state_dict),
               (torch, "load", original_load, safe_load)]
    if is_offline():  # timm's backbones come through huggingface_hub: its cache only, no retries on the network
        with contextlib.suppress(ImportError):
            from huggingface_hub import constants as hf_constants

            patched.append((hf_constants, "HF_HUB_OFFLINE", hf_constants.HF_HUB_OFFLINE, True))
    with contextlib.suppress(ImportError):
        import timm.models._hub  # noqa: F401  (pyiqa's backbones load through it)
    _HF_MISSES.clear()
    timm_hub = sys.modules.get("timm.models._hub")
    if timm_hub is not None and callable(getattr(timm_hub, "hf_hub_download", None)):
        patched.append((timm_hub, "hf_hub_download", timm_hub.hf_hub_download, _named_hf_misses(timm_hub.hf_hub_download)))
    for name, module in list(sys.modules.items()):
        if not name.startswith("pyiqa") or module is download_util:
            continue
        for attr, hook in hooks.items():
            value = getattr(module, attr, None)
            original = getattr(value, "_lightsr_original", value)  # a hook left by an earlier block: unwrap it
            if original is original_fetch or (attr == "_download" and name.endswith("clip_model") and callable(original)):
                patched.append((module, attr, original, hook(original)))
    for _, _, original, replacement in patched:
        if callable(replacement):
            replacement._lightsr_original = original
    try:
        for module, attr, _, replacement in patched:
            setattr(module, attr, replacement)
        yield
    finally:
        for module, attr, original, _ in reversed(patched):
            setattr(module, attr, original)
        # arch modules imported inside the block bound the hooks (``from ... import load_file_from_url``)
        for name, module in list(sys.modules.items()):
            if name.startswith("pyiqa"):
                for attr in hooks:
                    original = getattr(getattr(module, attr, None), "_lightsr_original", None)
                    if original is not None:
                        setattr(module, attr, original)


_HF_MISSES = []  # (repo, file) that huggingface_hub could not give inside the last pyiqa_weights block


def _named_hf_misses(download):
    """huggingface_hub's download as timm calls it, its misses recorded (the exception is left as it is:
    timm falls back from model.safetensors to pytorch_model.bin on it)."""

    def hf_hub_download(repo_id, filename, *args, **kwargs):
        try:
            return download(repo_id, filename, *args, **kwargs)
        except NETWORK_ERRORS:
            _HF_MISSES.append((repo_id, filename))
            raise

    return hf_hub_download


def _hf_miss_error(name, e):
    from huggingface_hub import constants

    repo, filename = _HF_MISSES[0]
    mode = "offline: --offline or LIGHTSR_OFFLINE=1" if is_offline() else f"download failed: {type(e).__name__}"
    return LightSRError(f"{name}: needs {filename} of huggingface.co/{repo} in the Hugging Face cache "
                        f"{constants.HF_HUB_CACHE} (fetch it once online, or set HF_HOME) [{mode}]")


offline_pyiqa = pyiqa_weights  # the former name


def create_nr_metric(name, device="cpu", weights_dir=None):
    """A pyiqa no-reference metric (callable on N x 3 x H x W in [0, 1]); its weight files checked first."""
    import pyiqa

    if name not in pyiqa.list_models(metric_mode="NR"):
        raise LightSRError(f"unknown no-reference metric {name!r} (pyiqa has: {', '.join(pyiqa.list_models(metric_mode='NR'))})")
    options = {}
    if name == "niqe":
        options["pretrained_model_path"] = _basicsr_niqe_mat(weights_dir)
    with pyiqa_weights(weights_dir):
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pyiqa prints 'Loading pretrained model ...'
                return pyiqa.create_metric(name, device=device, **options)
        except LightSRError as e:
            raise LightSRError(f"{name}: {e}") from None
        except NETWORK_ERRORS as e:  # a fetch that does not go through the hooks above (timm's backbones: huggingface_hub)
            if _HF_MISSES:
                raise _hf_miss_error(name, e) from None
            detail = f"{type(e).__name__}: {_short(e)}"
            if is_offline():
                raise LightSRError(f"{name}: needs a file that is not in the local caches (offline mode; {detail})") from None
            raise LightSRError(f"{name}: a weight download failed ({detail})") from None
        except ImportError as e:
            raise LightSRError(f"{name}: pyiqa cannot import {e.name or 'a module'} for this metric ({_short(e)}); "
                               f"install the package that provides it") from None
        except (RuntimeError, ValueError, KeyError, AssertionError) as e:
            raise LightSRError(f"{name}: pyiqa could not build the metric ({type(e).__name__}: {_short(e)})") from None


def _short(e, most=200):
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return text if len(text) <= most else text[:most] + "..."

