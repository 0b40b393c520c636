"""Deploy form: fold training-time branches (ECB, Conv3XC, collapsible linear blocks) into single convs."""

import copy

import torch


def reparameterize(model, inplace=False):
    """The inference form of ``model``: every submodule with a ``fuse()`` method is folded.

    ``fuse()`` switches a block to its single-conv form in place; the result computes the
    same function (within float rounding). Models without such blocks are returned as is.
    """
    model = model if inplace else copy.deepcopy(model)
    with torch.no_grad():
        for module in list(model.modules()):
            fuse = getattr(module, "fuse", None)
            if callable(fuse):
                fuse()
    return model.eval()


def is_reparameterizable(model):
    return any(callable(getattr(m, "fuse", None)) for m in model.modules())
