"""CUDA graphs of fixed-shape batches (see ``static``): the first batch of a layout is run to
warm up (torch.compile, cuDNN's algorithm choice, the device tables) and captured; each later
batch copies its HR and its plan's buffers into the graph's inputs and replays it: a few
launches per batch instead of ~1,800 from Python. ``apply_plan(..., cuda_graphs=False)`` (the
trainer's ``data.device_path.cuda_graphs``) runs the fixed-shape path eagerly instead; a capture
that fails does too, with a warning (same results).
"""

import collections
import warnings

import torch

_MAX_GRAPHS = 4  # layouts kept (each holds the peak of one run's intermediates in its memory pool)
_MAX_FAILED = 64  # layouts whose capture failed, remembered so as not to try again
_graphs = collections.OrderedDict()
_failed = collections.OrderedDict()


def views(buffers, where):
    """name -> view of the flat per-dtype ``buffers`` at its (dtype, offset, shape)."""
    out = {}
    for name, (dtype, offset, shape) in where.items():
        n = 1
        for s in shape:
            n *= s
        out[name] = buffers[dtype][offset:offset + n].view(shape)
    return out


def _capture(graph, fn):
    """``fn()``'s kernels recorded into ``graph``; its outputs (the graph's output buffers)."""
    with torch.cuda.graph(graph):
        return fn()


class _Captured:
    def __init__(self, run, hr, buffers, where):
        self.hr = hr.clone()
        self.buffers = {k: v.to(hr.device) for k, v in buffers.items()}
        tensors = views(self.buffers, where)
        side = torch.cuda.Stream(hr.device)
        side.wait_stream(torch.cuda.current_stream(hr.device))
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(2):
                run(self.hr, tensors)
        torch.cuda.current_stream(hr.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        hr_in = self.hr  # the graph reads this tensor's memory: each batch is copied into it
        self.outputs = _capture(self.graph, lambda: run(hr_in, tensors))

    def __call__(self, hr, buffers):
        self.hr.copy_(hr)
        for k, v in buffers.items():
            self.buffers[k].copy_(v.pin_memory(), non_blocking=True)
        self.graph.replay()
        return tuple(o.clone() for o in self.outputs)


def run_graphed(key, run, hr, buffers, where):
    """``run(hr, tensors)`` for this batch through the graph captured for ``key``; None where
    capturing failed (the caller runs eagerly)."""
    if key in _failed:
        return None
    captured = _graphs.get(key)
    if captured is None:
        stream = torch.cuda.current_stream(hr.device)
        try:
            captured = _Captured(run, hr, buffers, where)
        except Exception as e:  # a capture problem must not stop the degradation
            _failed[key] = True
            while len(_failed) > _MAX_FAILED:
                _failed.popitem(last=False)
            # torch.cuda.graph ends the capture before leaving its stream: when ending fails,
            # the capture stream stays current unless set back here
            torch.cuda.set_stream(stream)
            torch.cuda.synchronize(hr.device)
            warnings.warn(f"lightsr: capturing a CUDA graph of the batched degradation failed ({type(e).__name__}: "
                          f"{e}); running it eagerly", RuntimeWarning, stacklevel=3)
            return None
        _graphs[key] = captured
        while len(_graphs) > _MAX_GRAPHS:
            _graphs.popitem(last=False)
    _graphs.move_to_end(key)
    return captured(hr, buffers)
