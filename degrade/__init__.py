"""The degradation engine: y = (x ⊗ k)↓s + n, drawn per sample, recorded, replayable.

Main entry points::

    from lightsr.degrade import load_pipeline
    pipe = load_pipeline("realesrgan", scale=4)
    lr, record = pipe(hr, seed=0, index=3)
"""

from lightsr.degrade.config import build_node, build_pipeline  # noqa: F401
from lightsr.degrade.ops import OPS, Op, register_op  # noqa: F401
from lightsr.degrade.pipeline import Pipeline, Sample, sample_rng  # noqa: F401
from lightsr.degrade.presets import list_presets, load_pipeline, preset_names  # noqa: F401
