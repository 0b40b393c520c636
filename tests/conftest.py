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
