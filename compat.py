"""Compatibility shims for third-party packages."""

import sys


def prepare_basicsr():
    """Make ``import basicsr`` work with current torchvision; call before importing basicsr.

    basicsr 1.4.2 imports ``torchvision.transforms.functional_tensor``, a module torchvision
    removed in 0.17. Its functions now live in ``torchvision.transforms.functional``.
    """
    if "torchvision.transforms.functional_tensor" not in sys.modules:
        import torchvision.transforms.functional as functional

        sys.modules["torchvision.transforms.functional_tensor"] = functional
