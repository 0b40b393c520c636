"""Pipelines: ops composed with combinators, drawn per sample, recorded, replayable.

    pipe = load_pipeline("realesrgan")            # or build_pipeline(config_dict)
    lr, record = pipe(hr, seed=0, index=17)       # same (hr, seed, index) -> same lr
    assert (pipe.replay(hr, record) == lr).all()  # bit-identical
    lr_b, hr_b, records = pipe.batch(hr_tensor, seed=0, indices=range(16))  # (B, C, H, W) on any device

Sampling and applying are separate: ``sample`` walks the combinator tree once and returns
a flat record of the ops that were chosen with their params; ``apply`` runs that record.
The generator of sample i is ``numpy.random.default_rng([seed, epoch, i])`` and nothing
else, so results never depend on worker count, process count or order.
"""

from dataclasses import dataclass

import numpy as np

from lightsr.degrade.distributions import cumulative, pick_index
from lightsr.degrade.ops import OPS, SampleContext
from lightsr.errors import LightSRError, OpError

# 3: Gaussian noise takes both Box-Muller outputs of a pair of stream elements;
# 2: noise fields from the counter-based stream; 1: numpy's generator
RECORD_VERSION = 3


def sample_rng(seed, index, epoch=0, stream=()):
    """The counter-based generator of one sample. ``stream`` separates independent uses
    (e.g. the crop position of a dataset) from the degradation draw."""
    for name, v in (("seed", seed), ("index", index), ("epoch", epoch)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise LightSRError(f"{name} must be a non-negative integer, got {v!r}")
    return np.random.default_rng([int(seed), int(epoch), int(index), *stream])


# ---------------------------------------------------------------- nodes


class Node:
    """A part of a pipeline. ``sample`` appends the chosen steps and returns the new shape."""

    label = None

    def sample(self, rng, shape, ctx, steps, prefix):
        raise NotImplementedError

    def _prefix(self, prefix):
        if self.label is None:
            return prefix
        return f"{prefix}/{self.label}" if prefix else self.label


class OpNode(Node):
    def __init__(self, op, label=None):
        self.op, self.label = op, label

    def sample(self, rng, shape, ctx, steps, prefix):
        params = self.op.sample(rng, shape, ctx)
        step = {"op": self.op.name, "params": params}
        label = self._prefix(prefix)
        if label:
            step["label"] = label
        steps.append(step)
        return type(self.op).output_shape(shape, params)


class Sequence(Node):
    def __init__(self, children, label=None):
        self.children, self.label = list(children), label

    def sample(self, rng, shape, ctx, steps, prefix):
        prefix = self._prefix(prefix)
        for child in self.children:
            shape = child.sample(rng, shape, ctx, steps, prefix)
        return shape


class Maybe(Node):
    """Run the child with probability ``p``."""

    def __init__(self, child, p, label=None):
        self.child, self.p, self.label = child, p, label

    def sample(self, rng, shape, ctx, steps, prefix):
        if rng.uniform() < self.p:
            return self.child.sample(rng, shape, ctx, steps, self._prefix(prefix))
        return shape


class OneOf(Node):
    """Run exactly one child, chosen with weights ``p``."""

    def __init__(self, children, p, label=None):
        self.children, self.p, self.label = list(children), list(p), label
        self._cum = cumulative(self.p)

    def sample(self, rng, shape, ctx, steps, prefix):
        child = self.children[pick_index(rng, self._cum)]
        return child.sample(rng, shape, ctx, steps, self._prefix(prefix))


class Shuffle(Node):
    """Run every child in a random order.

    ``keep_order`` lists chains of child indices that must run in the given order
    (BSRGAN keeps its second downsampling after the first): after drawing a uniform
    permutation, the members of each chain are re-sorted within the positions they hold.
    For one pair this is BSRGAN's swap; the result is uniform over the allowed orders.
    """

    def __init__(self, children, keep_order=(), label=None):
        self.children, self.keep_order, self.label = list(children), [list(c) for c in keep_order], label

    def order(self, rng):
        order = [int(i) for i in rng.permutation(len(self.children))]
        for chain in self.keep_order:
            slots = sorted(order.index(i) for i in chain)
            for slot, i in zip(slots, chain):
                order[slot] = i
        return order

    def sample(self, rng, shape, ctx, steps, prefix):
        prefix = self._prefix(prefix)
        for i in self.order(rng):
            shape = self.children[i].sample(rng, shape, ctx, steps, prefix)
        return shape


class Repeat(Node):
    """Run the child ``times`` times, each with its own draw (higher-order degradation)."""

    def __init__(self, child, times, label=None):
        self.child, self.times, self.label = child, times, label

    def sample(self, rng, shape, ctx, steps, prefix):
        prefix = self._prefix(prefix)
        for _ in range(self.times):
            shape = self.child.sample(rng, shape, ctx, steps, prefix)
        return shape


# ---------------------------------------------------------------- applying records


def apply_step(img, step):
    """Apply one recorded step; failures are reported with the op's name."""
    name = step["op"]
    try:
        cls = OPS[name]
    except KeyError:
        raise OpError(name, f"unknown op in record (known: {', '.join(sorted(OPS))})") from None
    try:
        return cls.apply(img, step["params"])
    except LightSRError:
        raise
    except Exception as e:  # OpenCV/numpy errors: say which op and params failed
        raise OpError(name, f"{type(e).__name__}: {e} (params {step['params']})") from e


def apply_steps(img, steps):
    for step in steps:
        img = apply_step(img, step)
    return img


@dataclass
class Sample:
    """One degraded pair: ``lr``, the target ``hr`` (after the pipeline's gt ops) and the record."""

    lr: np.ndarray
    hr: np.ndarray
    record: dict


@dataclass
class TraceStep:
    stage: str  # "gt" or "lq"
    step: dict
    before: np.ndarray
    after: np.ndarray


class Pipeline:
    """A degradation y = D(x): ``gt`` ops turn the HR into the training target (e.g. USM
    sharpening), ``lq`` ops turn that target into the LR at exactly 1/scale."""

    def __init__(self, lq, gt=None, scale=4, name="custom", description="", source="", scales=None):
        self.lq = lq
        self.gt = gt if gt is not None else Sequence([])
        self.scale = int(scale)
        self.name, self.description, self.source = name, description, source
        self.scales = scales

    def sample(self, hr_shape, seed, index, epoch=0):
        """Draw the record of sample ``index`` for an HR image of ``hr_shape`` (H, W[, C])."""
        hr_shape = tuple(int(v) for v in hr_shape[:2]) + (int(hr_shape[2]) if len(hr_shape) > 2 else 3,)
        if hr_shape[0] < self.scale or hr_shape[1] < self.scale:
            raise LightSRError(f"pipeline '{self.name}': HR image {hr_shape[0]}x{hr_shape[1]} is smaller than the scale")
        rng = sample_rng(seed, index, epoch)
        ctx = SampleContext(hr_shape, self.scale)
        gt_steps, lq_steps = [], []
        shape = self.gt.sample(rng, hr_shape, ctx, gt_steps, "")
        if tuple(shape[:2]) != hr_shape[:2]:
            raise LightSRError(f"pipeline '{self.name}': gt ops must keep the HR size, they change it to {shape[0]}x{shape[1]}")
        shape = self.lq.sample(rng, shape, ctx, lq_steps, "")
        if tuple(shape[:2]) != ctx.target_hw:
            raise LightSRError(
                f"pipeline '{self.name}': ends at {shape[0]}x{shape[1]}, but the LR of a {hr_shape[0]}x{hr_shape[1]} HR at "
                f"scale {self.scale} is {ctx.target_hw[0]}x{ctx.target_hw[1]}; end the lq ops with resize_to_target")
        return {
            "version": RECORD_VERSION,
            "pipeline": self.name,
            "scale": self.scale,
            "seed": int(seed),
            "epoch": int(epoch),
            "index": int(index),
            "hr_shape": list(hr_shape[:2]),
            "gt": gt_steps,
            "lq": lq_steps,
        }

    @staticmethod
    def apply(hr, record):
        """Apply a record: returns (lr, target hr). Pure: no randomness beyond the record."""
        if record.get("version") != RECORD_VERSION:
            raise LightSRError(f"record of sample {record.get('index')} has version {record.get('version')}; this lightsr "
                               f"replays version {RECORD_VERSION} (earlier versions drew their noise fields differently): draw it again")
        if list(hr.shape[:2]) != list(record["hr_shape"]):
            raise LightSRError(
                f"record of sample {record.get('index')} was drawn for a {record['hr_shape'][0]}x{record['hr_shape'][1]} HR, "
                f"got {hr.shape[0]}x{hr.shape[1]}")
        hr = np.ascontiguousarray(hr, dtype=np.float32)
        target = apply_steps(hr, record["gt"])
        return apply_steps(target, record["lq"]), target

    def run(self, hr, seed, index, epoch=0):
        record = self.sample(hr.shape, seed, index, epoch)
        lr, target = self.apply(hr, record)
        return Sample(lr, target, record)

    def __call__(self, hr, seed, index, epoch=0):
        s = self.run(hr, seed, index, epoch)
        return s.lr, s.record

    def batch(self, hr, seed, indices, epoch=0):
        """Degrade a (B, C, H, W) torch batch on its device, sample i drawn as ``index=indices[i]``
        (``epoch``: one for all, or one per sample): returns (lr, target, records), equal to
        ``run`` on each sample (see degrade.batched)."""
        from lightsr.degrade.batched import apply_records

        indices = list(indices)
        epochs = [int(epoch)] * len(indices) if np.ndim(epoch) == 0 else [int(e) for e in epoch]
        if not len(indices) == len(epochs) == hr.shape[0]:
            raise LightSRError(f"pipeline '{self.name}': {hr.shape[0]} images, {len(indices)} indices, {len(epochs)} epochs")
        shape = (int(hr.shape[2]), int(hr.shape[3]), int(hr.shape[1]))
        records = [self.sample(shape, seed, int(i), int(e)) for i, e in zip(indices, epochs)]
        lr, target = apply_records(hr, records)
        return lr, target, records

    @staticmethod
    def apply_batch(hr, records):
        """Records (from either backend) applied to a (B, C, H, W) torch batch: (lr, target)."""
        from lightsr.degrade.batched import apply_records

        return apply_records(hr, records)

    @classmethod
    def replay(cls, hr, record):
        """The LR a record produces from ``hr`` (bit-identical to the original draw)."""
        return cls.apply(hr, record)[0]

    @staticmethod
    def trace(hr, record):
        """Every step of a record with its input and output, for inspection."""
        out, img = [], np.ascontiguousarray(hr, dtype=np.float32)
        for stage in ("gt", "lq"):
            for step in record[stage]:
                after = apply_step(img, step)
                out.append(TraceStep(stage, step, img, after))
                img = after
        return out

    def __repr__(self):
        return f"Pipeline(name={self.name!r}, scale={self.scale})"
