"""torch.compile for the batched appliers' long elementwise chains.

A noise field's hash is some sixty integer operations per element (32-bit multiplies emulated in
int64), JPEG's colour conversion, rounding and resampling a few hundred: run one by one, each
reads and writes the whole canvas and costs a kernel launch. Compiled, each chain becomes a few
fused kernels (on the CPU, 20x faster for the hash). Compilation takes seconds per function and
shape family (shapes are dynamic), so it is on by default only on CUDA, where it pays off at once.
The callers choose: ``apply_records(..., compile=True | False | "auto")`` (the trainer's
``data.device_path.compile``), or a ``compiling(mode)`` scope around calls that leave it unset.
If compiling fails (no Triton, no compiler), the function runs eagerly and a warning says why:
same results either way (integer paths bit-exact, float paths to rounding).
"""

import contextlib
import contextvars
import functools
import warnings

import torch

from lightsr.errors import LightSRError

# the mode of the calls in progress: set by apply_records / apply_plan (or ``compiling``) for the
# duration of a call, read where a compiled function runs, so that the choice need not travel
# through every op's applier
_mode = contextvars.ContextVar("lightsr_compile", default="auto")


def check_mode(name, mode):
    """``mode`` if it is one of "auto", True, False (a device-path switch), else a LightSRError."""
    if not (isinstance(mode, bool) or mode == "auto" and isinstance(mode, str)):
        raise LightSRError(f"{name} must be 'auto', true or false, got {mode!r}")
    return mode


def compile_wanted(device, mode=None):
    """Whether ``maybe_compiled`` functions compile on ``device``: ``mode`` True or False decides,
    "auto" compiles on CUDA only; None: the mode of the enclosing call (default "auto")."""
    mode = _mode.get() if mode is None else check_mode("compile", mode)
    return device.type == "cuda" if mode == "auto" else mode


@contextlib.contextmanager
def compiling(mode):
    """Calls inside (that do not choose themselves) compile per ``mode``; None leaves it as it is."""
    if mode is None:
        yield
        return
    token = _mode.set(check_mode("compile", mode))
    try:
        yield
    finally:
        _mode.reset(token)


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
