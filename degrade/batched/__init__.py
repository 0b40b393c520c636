"""The batched torch backend: a record's steps applied to many samples at once, on the CPU
(torch) or a GPU, with every parameter per sample and the results of the numpy appliers.

    lr, hr = apply_records(hr_batch, records)   # (B, C, H, W) tensors on any device

See ``scheduler`` for how samples whose steps differ are batched, ``canvas`` for how samples of
different sizes share one tensor, ``steps`` for the ops' host and device halves, ``static`` and
``graphs`` for the fixed-shape path that CUDA replays as a graph.
"""

from lightsr.degrade.batched.scheduler import apply_records  # noqa: F401
