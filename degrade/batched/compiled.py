"""torch.compile for the batched appliers' long elementwise chains.

A noise field's hash is some sixty integer operations per element (32-bit multiplies emulated in
int64), JPEG's colour conversion, rounding and resampling a few hundred: run one by one, each
reads and writes the whole canvas and costs a kernel launch. Compiled, each chain becomes a few
fused kernels (on the CPU, 20x faster for the hash). Compilation takes seconds per function and
shape family (shapes are dynamic), so it is on by default only on CUDA, where it pays off at once;
``LIGHTSR_COMPILE=1`` turns it on everywhere, ``0`` off. If compiling fails (no Triton, no
compiler), the function runs eagerly and a warning says why: same results either way (integer
paths bit-exact, float paths to rounding).
"""

import functools
import os
import warnings

import torch


def compile_wanted(device):
    flag = os.environ.get("LIGHTSR_COMPILE")
    if flag is not None:
        return flag.strip() not in ("", "0", "false", "no")
    return device.type == "cuda"


def maybe_compiled(fn):
    """``fn`` (pure, tensor arguments first) compiled where ``compile_wanted``, else as it is."""
    state = {"compiled": None, "failed": False}

    @functools.wraps(fn)
    def run(*args, **kwargs):
        device = next(a.device for a in args if isinstance(a, torch.Tensor))
        if state["failed"] or not compile_wanted(device):
            return fn(*args, **kwargs)
        if state["compiled"] is None:
            state["compiled"] = torch.compile(fn, dynamic=True)
        try:
            return state["compiled"](*args, **kwargs)
        except Exception as e:
            out = fn(*args, **kwargs)  # an error of the inputs (or out of memory) raises here too
            # the eager function works: a compiler problem, which must not stop the degradation
            state["failed"] = True
            warnings.warn(f"lightsr: torch.compile of {fn.__qualname__} failed ({type(e).__name__}: {e}); "
                          "running it eagerly", RuntimeWarning, stacklevel=2)
            return out

    run.eager = fn
    return run
