"""Fixed-shape batches: every op runs on the whole batch, so a batch's device work has the same
kernels and shapes as the last one, and a CUDA graph captured once replays it (the dynamic
scheduler launches ~1,800 kernels per Real-ESRGAN batch of 64 from Python, a floor of ~40 ms
whatever the GPU).

A template holds, per stage (gt, lq), a sequence of slots (op names) into which every sample's
steps embed in order: a common supersequence of the step orders seen so far, recomputed when a
batch brings a new one (Real-ESRGAN's lq stage: 14 slots once its 32 orders were seen). Each
slot keeps dims (largest kernel, output canvas, band widths, variants present) that only grow,
canvas sizes rounded up to multiples of 8, so they settle after a few batches. A batch is
planned on the host: samples placed in slots (a sample without a step in a slot is left as it
is there), each slot's params prepared and packed to the template's dims, all arrays laid out
in one buffer per dtype. The device run reads views of those buffers; its results are the
dynamic scheduler's (the same appliers on more samples; kernels padded further may round
differently: equal on the CPU in the tests, to float rounding elsewhere).
"""

import collections

import numpy as np
import torch

from lightsr.degrade.batched.steps import STEPS, merge_dims
from lightsr.errors import LightSRError, OpError

_STAGES = ("gt", "lq")
_ALIGN = 8  # canvas sizes rounded up to this: fewer distinct shapes, and JPEG's blocks


def embed(slots, names):
    """Positions of ``names`` in ``slots`` as a subsequence (earliest first), or None."""
    out, j = [], 0
    for name in names:
        while j < len(slots) and slots[j] != name:
            j += 1
        if j == len(slots):
            return None
        out.append(j)
        j += 1
    return out


def supersequence(a, b):
    """A shortest common supersequence of two sequences (dynamic programming)."""
    n, m = len(a), len(b)
    cost = np.zeros((n + 1, m + 1), dtype=np.int64)
    cost[:, m], cost[n, :] = np.arange(n, -1, -1), np.arange(m, -1, -1)
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            cost[i, j] = 1 + (cost[i + 1, j + 1] if a[i] == b[j] else min(cost[i + 1, j], cost[i, j + 1]))
    out, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            out.append(a[i])
            i, j = i + 1, j + 1
        elif cost[i + 1, j] <= cost[i, j + 1]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out + list(a[i:]) + list(b[j:])


class NotStatic(LightSRError):
    """A batch the fixed-shape path cannot run (an op without a fixed-shape applier)."""


def _fold(sequences):
    out = []
    for names in sequences:
        out = supersequence(out, names)
    return out


def _critical_merge(sequences):
    """Take, step by step, the op at the front of the sequence with the most steps left."""
    position = {s: 0 for s in sequences}
    out = []
    while True:
        fronts = {}
        for s, p in position.items():
            if p < len(s):
                fronts.setdefault(s[p], []).append(len(s) - p)
        if not fronts:
            return out
        name = max(sorted(fronts), key=lambda n: (max(fronts[n]), len(fronts[n])))
        out.append(name)
        position = {s: p + (p < len(s) and s[p] == name) for s, p in position.items()}


def common_supersequence(sequences):
    """A short common supersequence of a set of sequences (finding the shortest is NP-hard): the
    shortest of three heuristics, a function of the set alone. Real-ESRGAN's 32 step orders (11 steps
    at most) give 14 slots."""
    ordered = sorted(sequences)
    candidates = [_fold(ordered), _fold(sorted(ordered, key=len, reverse=True)), _critical_merge(ordered)]
    return min(candidates, key=lambda c: (len(c), c))


def _round_up(n):
    return -(-n // _ALIGN) * _ALIGN


class Template:
    """Slots and dims per stage for batches of one pipeline and HR shape (a plan's layout records
    them: when either grows, later batches key a new graph). The slots are a function of the set
    of step orders seen, not of the order batches came in: loader workers planning batches apart
    arrive at the same template, hence at the same graphs."""

    def __init__(self):
        self.slots = {stage: [] for stage in _STAGES}
        self.dims = {stage: [] for stage in _STAGES}
        self.seen = {stage: set() for stage in _STAGES}
        self.refused = None  # why batches of this template take the dynamic rounds

    def fit(self, stage, sequences):
        """Slot positions of each sample's op names; a new step order recomputes the slots."""
        new = {tuple(names) for names in sequences} - self.seen[stage]
        if new:
            self.seen[stage] |= new
            slots = common_supersequence(self.seen[stage])
            longest = max(map(len, self.seen[stage]))
            if len(slots) > 2 * longest + 4:
                # shuffled steps (BSRGAN): a supersequence of many orders runs most ops several
                # times on every sample, more work than the dynamic rounds save
                self.refused = f"{len(slots)} slots for steps of at most {longest}"
                raise NotStatic(self.refused)
            if slots != self.slots[stage]:
                self.slots[stage], self.dims[stage] = slots, [{} for _ in slots]
        return [embed(self.slots[stage], names) for names in sequences]

    def grow(self, stage, position, dims):
        self.dims[stage][position] = merge_dims(self.dims[stage][position], dims)


class Plan:
    """One batch laid out for the device: ``arrays`` (name -> numpy array; None once packed by
    ``buffers``) and the static
    ``layout`` (per stage: slots with their dims and array names, the crop at the end, the
    canvas), which keys a captured graph: batches of one layout replay the same graph."""

    def __init__(self, arrays, layout, capturable, final_sizes):
        self.arrays, self.layout, self.capturable = arrays, layout, capturable
        self.final_sizes = final_sizes  # stage -> each sample's (h, w) at its end
        self.key = repr(layout)
        self._buffers = None

    def buffers(self):
        """The arrays as one flat CPU tensor per dtype and each array's (dtype, offset, shape);
        made once (a loader worker makes them, and they reach the trainer through shared memory,
        not a pickle of every array)."""
        if self._buffers is None:
            groups, where = {}, {}
            for name in sorted(self.arrays):
                a = np.ascontiguousarray(self.arrays[name])
                parts = groups.setdefault(a.dtype.str, [])
                where[name] = (a.dtype.str, sum(p.size for p in parts), a.shape)
                parts.append(a.ravel())
            self._buffers = {k: torch.from_numpy(np.concatenate(v)) for k, v in groups.items()}, where
            self.arrays = None
        return self._buffers

    def pin_memory(self):
        """The plan with its buffers in pinned memory (a DataLoader with ``pin_memory`` calls this
        in its pinning thread), so that they reach a GPU asynchronously."""
        buffers, where = self.buffers()
        self._buffers = {k: v.pin_memory() for k, v in buffers.items()}, where
        return self

    def tensors(self, device):
        """name -> the array as a tensor on ``device`` (views of one copy per dtype)."""
        from lightsr.degrade.batched.graphs import views

        buffers, where = self.buffers()
        return views({k: v.to(device, non_blocking=True) for k, v in buffers.items()}, where)


def plan_batch(records, hr_shape, template):
    """The host half of applying ``records`` to a batch of shape (B, C, H, W) (see module doc)."""
    if template.refused:
        raise NotStatic(template.refused)
    b = len(records)
    arrays, layout, capturable, final_sizes = {}, {}, True, {}
    sizes = [(hr_shape[2], hr_shape[3])] * b
    canvas = (hr_shape[2], hr_shape[3])
    for stage in _STAGES:
        steps = [r[stage] for r in records]
        positions = template.fit(stage, [[s["op"] for s in st] for st in steps])
        slots = template.slots[stage]
        members = [{} for _ in slots]
        for i, (st, pos) in enumerate(zip(steps, positions)):
            for step, p in zip(st, pos):
                members[p][i] = step["params"]
        prepared = []
        for k, name in enumerate(slots):  # host work per slot, sizes followed sample by sample
            if name not in STEPS:
                template.refused = f"op '{name}' has no fixed-shape applier"
                raise NotStatic(template.refused)
            params = [members[k].get(i) for i in range(b)]
            hs, ws = [s[0] for s in sizes], [s[1] for s in sizes]
            try:
                data, dims, out = STEPS[name].prepare(params, hs, ws)
            except LightSRError:
                raise
            except Exception as e:
                first = next(p for p in params if p is not None)
                raise OpError(name, f"{type(e).__name__}: {e} (planning a batch, params of its first sample {first})") from e
            if out is not None:
                dims = dict(dims, oh=_round_up(dims["oh"]), ow=_round_up(dims["ow"]))
            prepared.append((data, np.array(hs), np.array(ws), [i in members[k] for i in range(b)]))
            template.grow(stage, k, dims)
            sizes = sizes if out is None else out
        final_sizes[stage] = sizes
        stage_layout = []
        for k, (name, (data, hs, ws, mask)) in enumerate(zip(slots, prepared)):
            dims = template.dims[stage][k]
            capturable = capturable and STEPS[name].capturable(dims)
            packed = STEPS[name].pack(data, dims)
            prefix = f"{stage}{k}."
            arrays.update({prefix + key: a for key, a in packed.items()})
            arrays[prefix + "hs"], arrays[prefix + "ws"] = hs.astype(np.int64), ws.astype(np.int64)
            arrays[prefix + "mask"] = np.array(mask)
            if "oh" in dims:
                canvas = (dims["oh"], dims["ow"])
            stage_layout.append((name, tuple(sorted(dims.items())), tuple(sorted(packed))))
        end = (max(s[0] for s in sizes), max(s[1] for s in sizes))
        layout[stage] = (tuple(stage_layout), end, canvas)
    return Plan(arrays, (tuple(hr_shape), layout["gt"], layout["lq"]), capturable, final_sizes)


def run_plan(hr, tensors, layout):
    """The device half: ``tensors`` (name -> tensor on hr's device) of a plan with ``layout``
    applied to ``hr`` (B, C, H, W) float32; returns (lr, target), each cropped to the largest
    sample's final size. No host round trip."""
    x = hr
    outputs = []
    for stage, (slots, (fh, fw), _) in zip(_STAGES, layout[1:]):
        for k, (name, dims, keys) in enumerate(slots):
            prefix = f"{stage}{k}."
            t = {key: tensors[prefix + key] for key in keys}
            dims = dict(dims)
            out = STEPS[name].execute(x, tensors[prefix + "hs"], tensors[prefix + "ws"], t, dims)
            # a resize carries the samples outside the slot through identity bands; other ops
            # keep them by selection (bit for bit)
            x = out if "oh" in dims else torch.where(tensors[prefix + "mask"].view(-1, 1, 1, 1), out, x)
        outputs.append(x[:, :, :fh, :fw])
    target, lr = outputs
    return lr, target


def wanted(device, mode="auto"):
    """Whether apply_records takes the fixed-shape path on ``device``: ``mode`` True or False
    decides; "auto": on CUDA only (on the CPU, running every op on the whole batch costs more than
    it saves)."""
    from lightsr.degrade.batched.compiled import check_mode

    mode = check_mode("static", mode)
    return device.type == "cuda" if mode == "auto" else mode


def check_records(hr_shape, records):
    """Refuse records that do not fit a batch of shape (B, C, H, W) or this version of lightsr."""
    from lightsr.degrade.pipeline import RECORD_VERSION

    if len(hr_shape) != 4 or hr_shape[0] != len(records):
        raise LightSRError(f"expected a (B, C, H, W) batch with one record per sample, got {tuple(hr_shape)} and "
                           f"{len(records)} records")
    for r in records:
        if r.get("version") != RECORD_VERSION:
            raise LightSRError(f"record of sample {r.get('index')} has version {r.get('version')}, not {RECORD_VERSION}")
        if list(r["hr_shape"]) != [hr_shape[2], hr_shape[3]]:
            raise LightSRError(f"record of sample {r.get('index')} was drawn for a {r['hr_shape'][0]}x{r['hr_shape'][1]} "
                               f"HR, got {hr_shape[2]}x{hr_shape[3]}")


_MAX_TEMPLATES = 16  # (pipeline, scale, batch shape) combinations kept, the least recently used dropped
_TEMPLATES = collections.OrderedDict()


def _template(key):
    template = _TEMPLATES.pop(key, None) or Template()
    _TEMPLATES[key] = template
    while len(_TEMPLATES) > _MAX_TEMPLATES:
        _TEMPLATES.popitem(last=False)
    return template


def plan_records(records, hr_shape):
    """The host half for a batch of shape (B, C, H, W), with the template kept for its pipeline
    and shape in this process (loader workers keep their own: they arrive at the same slots).
    Raises NotStatic for batches the fixed-shape path cannot run, LightSRError for samples that
    end at different sizes."""
    check_records(tuple(hr_shape), records)
    key = (records[0].get("pipeline"), records[0].get("scale"), tuple(hr_shape))
    plan = plan_batch(records, tuple(hr_shape), _template(key))
    for stage, sizes in plan.final_sizes.items():
        if len(set(sizes)) != 1:
            raise LightSRError(f"the batch ended at different sizes {sorted({s[0] for s in sizes})} x "
                               f"{sorted({s[1] for s in sizes})} ({stage})")
    return plan


def _graphable(hr):
    return hr.is_cuda


def apply_plan(hr, plan, compile=None, cuda_graphs="auto"):
    """The device half: (lr, target) of a plan on ``hr``, through a CUDA graph replay on CUDA
    (``graphs``; ``cuda_graphs=False`` runs it eagerly there too), eagerly elsewhere. ``compile``:
    torch.compile of the elementwise chains (see ``compiled``)."""
    from lightsr.degrade.batched import graphs
    from lightsr.degrade.batched.compiled import check_mode, compiling

    check_mode("cuda_graphs", cuda_graphs)
    hr = hr.to(torch.float32)
    if tuple(hr.shape) != plan.layout[0]:
        raise LightSRError(f"a plan for a {plan.layout[0]} batch applied to {tuple(hr.shape)}")
    def run(x, tensors):
        return run_plan(x, tensors, plan.layout)

    with compiling(compile):
        if _graphable(hr) and plan.capturable and cuda_graphs is not False:
            out = graphs.run_graphed((plan.key, str(hr.device)), run, hr, *plan.buffers())
            if out is not None:
                return out
        lr, target = run(hr, plan.tensors(hr.device))
    return lr.clone(), target.clone()  # views of the canvas, or of hr itself when no op ran


def apply_static(hr, records, compile=None, cuda_graphs="auto"):
    """(lr, target) of ``records`` on ``hr`` through the fixed-shape path."""
    return apply_plan(hr, plan_records(records, tuple(hr.shape)), compile, cuda_graphs)
