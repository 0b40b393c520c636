"""Parameters and multiply-accumulates counted from a real forward pass.

MACs come from torch's FlopCounterMode on the meta device (no memory, no compute): it counts
convolutions, matrix products and attention, at 2 FLOPs per MAC, so MACs = FLOPs / 2.
Element-wise ops (activations, additions, normalisation) are not counted, as in the
efficient-SR tables (fvcore/thop conventions), which also report MACs under the name FLOPs.
"""

import math

import torch
from torch.utils.flop_counter import FlopCounterMode

DEFAULT_OUTPUT = (720, 1280)  # (h, w) of the output, the efficient-SR tables' convention


_WEIGHTED = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)


def count_params(model, counted="all"):
    """Trainable-or-not parameters of ``model``; ``counted="weights"`` counts only the weight
    tensors of convolutions and linear layers (no biases, norms or PReLU slopes), the
    convention of papers such as FSRCNN and SESR; ``counted="executed_leaves"`` is what
    torchsummaryX reports (CFIN's tables): the parameters held by modules without children that
    run in a forward pass, each module once."""
    if counted == "weights":
        return sum(m.weight.numel() for m in model.modules() if isinstance(m, _WEIGHTED))
    if counted == "executed_leaves":
        return _executed_leaf_params(model)
    return sum(p.numel() for p in model.parameters())


def _executed_leaf_params(model):
    ran = set()
    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda m, i, o: ran.add(m)) for m in leaves]
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, first.in_channels, 24, 24))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return sum(p.numel() for m in ran for p in m.parameters(recurse=False))


def input_size(scale, output=DEFAULT_OUTPUT):
    """The LR size whose x``scale`` output covers ``output`` (ceil: 1280/3 -> 427)."""
    return math.ceil(output[0] / scale), math.ceil(output[1] / scale)


def count_macs(build, scale, in_channels=3, output=DEFAULT_OUTPUT):
    """MACs of one forward pass producing (about) ``output``; ``build()`` makes the model.

    The model is built on the meta device, so even a 1280x720 forward costs nothing.
    """
    h, w = input_size(scale, output)
    with torch.device("meta"):
        model = build().eval()
        x = torch.empty(1, in_channels, h, w)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 2
