"""lightsr: real-world degradation, blind lightweight super-resolution, evaluation.

Importing the package is cheap: torch, basicsr and pyiqa are imported by the
subpackages that need them, when they are used.
"""

__version__ = "0.1.0"

from lightsr.errors import ConfigError, ImageError, JobError, LightSRError, OpError  # noqa: E402,F401
