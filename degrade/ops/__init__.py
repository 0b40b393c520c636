"""Degradation ops. Importing this package registers every op under its config name."""

from lightsr.degrade.ops import blur, compression, levels, noise, resize, sharpen  # noqa: F401
from lightsr.degrade.ops.base import OPS, Op, SampleContext, op_class, register_op  # noqa: F401
