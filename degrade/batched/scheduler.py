"""Running many records at once.

Records of one pipeline differ per sample (ops skipped, chosen or shuffled; sizes drawn), so
the steps cannot run in lock-step. Each round takes one op that some samples have next (the one
on the longest remaining path), applies it to all samples that have it next in one batched call
(with their own params), and advances them; a sample's steps always run in its own order.
Samples of different sizes share a canvas (see ``canvas``). Ops without a torch applier (WebP,
and any op a user registers) run through their numpy applier sample by sample, so every
pipeline works, if not every op is fast.

On CUDA, ``apply_records`` takes the fixed-shape path instead (``static``: every op on the whole
batch, replayed as a CUDA graph) whenever the pipeline's ops allow it.
"""

import numpy as np
import torch

from lightsr.degrade.batched import static as fixed
from lightsr.degrade.batched.compiled import check_mode, compiling
from lightsr.degrade.batched.steps import DYNAMIC_ONLY, STEPS, run_op
from lightsr.degrade.ops import OPS
from lightsr.errors import LightSRError, OpError


def _numpy_fallback(name):
    """Apply a numpy op sample by sample (ops with no torch applier)."""
    cls = OPS[name]

    def run(x, hs, ws, params):
        outs = []
        for i, p in enumerate(params):
            img = x[i, :, : hs[i], : ws[i]].permute(1, 2, 0).cpu().numpy()
            outs.append(torch.from_numpy(np.ascontiguousarray(cls.apply(img, p))).permute(2, 0, 1))
        out_hs, out_ws = [o.shape[1] for o in outs], [o.shape[2] for o in outs]
        out = x.new_zeros(len(outs), x.shape[1], max(out_hs), max(out_ws))
        for i, o in enumerate(outs):
            out[i, :, : o.shape[1], : o.shape[2]] = o.to(x.device)
        return out, out_hs, out_ws
    return run


class _Canvas:
    def __init__(self, x, numpy_ops=()):
        self.x, self.numpy_ops = x, set(numpy_ops)
        b = x.shape[0]
        self.hs = torch.full((b,), x.shape[2], dtype=torch.int64)
        self.ws = torch.full((b,), x.shape[3], dtype=torch.int64)

    def run(self, name, members, params):
        """Apply op ``name`` to ``members`` (params in the same order). On a CPU, members of very
        different sizes go in size groups: each group is processed at its own largest size, not
        the batch's (after Real-ESRGAN's first resize a batch of 64 spans 0.15x to 1.5x: the
        canvas is ~3x the mean sample), where extra launches cost little."""
        if self.x.device.type != "cpu" or len(members) < 2:
            return self._run_group(name, members, params)
        for group in _size_groups(self.hs[members].tolist(), self.ws[members].tolist()):
            self._run_group(name, [members[i] for i in group], [params[i] for i in group])

    def _run_group(self, name, members, params):
        everyone = len(members) == self.x.shape[0]
        cpu_idx = torch.tensor(members)
        hs, ws = (self.hs, self.ws) if everyone else (self.hs[cpu_idx], self.ws[cpu_idx])
        sub = self.x[:, :, : int(hs.max()), : int(ws.max())]
        if not everyone:
            idx = torch.tensor(members, device=self.x.device)
            sub = sub[idx]
        try:
            if name in STEPS and name not in self.numpy_ops:
                out, out_hs, out_ws = run_op(name, sub, hs.tolist(), ws.tolist(), params)
            else:
                fn = DYNAMIC_ONLY[name] if name in DYNAMIC_ONLY and name not in self.numpy_ops else _numpy_fallback(name)
                out, out_hs, out_ws = fn(sub, hs, ws, params)
        except LightSRError:
            raise
        except Exception as e:
            raise OpError(name, f"{type(e).__name__}: {e} (batched, params of the first sample {params[0]})") from e
        if everyone:  # the output holds every sample: it becomes the canvas (no copy; it may shrink)
            self.x = out
            self.hs, self.ws = torch.tensor(out_hs, dtype=torch.int64), torch.tensor(out_ws, dtype=torch.int64)
            return
        grow_h, grow_w = max(0, out.shape[2] - self.x.shape[2]), max(0, out.shape[3] - self.x.shape[3])
        if grow_h or grow_w:
            self.x = torch.nn.functional.pad(self.x, (0, grow_w, 0, grow_h))
        self.x[idx, :, : out.shape[2], : out.shape[3]] = out
        self.hs[cpu_idx] = torch.tensor(out_hs, dtype=torch.int64)
        self.ws[cpu_idx] = torch.tensor(out_ws, dtype=torch.int64)

    def crop(self):
        h, w = set(self.hs.tolist()), set(self.ws.tolist())
        if len(h) != 1 or len(w) != 1:
            raise LightSRError(f"the batch ended at different sizes {sorted(h)} x {sorted(w)}")
        return self.x[:, :, : h.pop(), : w.pop()]


def _size_groups(hs, ws, ratio=2.0, most=4):
    """Positions of the samples (sizes hs, ws) in groups, largest first: a sample joins the current
    group while the group's canvas is at most ``ratio`` times its own area; ``most`` groups."""
    order = sorted(range(len(hs)), key=lambda i: -hs[i] * ws[i])
    groups, top_h, top_w = [], 0, 0
    for i in order:
        if groups and (len(groups) == most or max(top_h, hs[i]) * max(top_w, ws[i]) <= ratio * hs[i] * ws[i]):
            groups[-1].append(i)
            top_h, top_w = max(top_h, hs[i]), max(top_w, ws[i])
        else:
            groups.append([i])
            top_h, top_w = hs[i], ws[i]
    return [sorted(g) for g in groups]


def _run_stage(canvas, steps_per_sample):
    position = [0] * len(steps_per_sample)
    while True:
        pending = {}
        for i, steps in enumerate(steps_per_sample):
            if position[i] < len(steps):
                pending.setdefault(steps[position[i]]["op"], []).append(i)
        if not pending:
            return
        # critical path first: the op of the sample with the most steps left (ties: most samples);
        # taking the most common op first leaves long tails (Real-ESRGAN 20.5 rounds against 16,
        # BSRGAN+ 48.5 against 30, means over batches of 64)
        name, members = max(pending.items(), key=lambda kv: (max(len(steps_per_sample[i]) - position[i] for i in kv[1]),
                                                             len(kv[1])))
        canvas.run(name, members, [steps_per_sample[i][position[i]]["params"] for i in members])
        for i in members:
            position[i] += 1


def apply_records(hr, records, numpy_ops=(), static="auto", compile=None, cuda_graphs="auto"):
    """(LR, target HR) of ``records`` applied to ``hr``, a (B, C, H, W) float tensor in [0, 1]
    on any device (one record per sample); the batched counterpart of ``Pipeline.apply``.
    ``numpy_ops`` names ops to run through their numpy appliers instead (e.g. "jpeg": OpenCV's
    codec, bit-exact with the CPU path, at the cost of a round trip to the CPU).

    How it runs (the trainer's ``data.device_path``; results equal to float rounding): ``static``,
    the fixed-shape path (True, False; "auto": on CUDA); ``cuda_graphs``, its replay as a CUDA
    graph (False: eagerly); ``compile``, torch.compile of the elementwise chains (True, False,
    "auto": on CUDA; None: as an enclosing ``compiled.compiling`` scope says, else "auto")."""
    fixed.check_records(tuple(hr.shape), records)
    check_mode("cuda_graphs", cuda_graphs)
    if not numpy_ops and fixed.wanted(hr.device, static):
        try:
            return fixed.apply_static(hr, records, compile, cuda_graphs)
        except fixed.NotStatic:
            pass  # an op without a fixed-shape applier: the dynamic rounds below run every op
    with compiling(compile):
        canvas = _Canvas(hr.to(torch.float32).clone(), numpy_ops)
        _run_stage(canvas, [r["gt"] for r in records])
        target = canvas.crop().clone()
        _run_stage(canvas, [r["lq"] for r in records])
    return canvas.crop().contiguous(), target
