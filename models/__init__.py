"""The model zoo: lightweight SR networks of the survey's six families (plus re-parameterisable).

    from lightsr.models import create_model, list_models
    model = create_model("span", scale=4)
"""

from lightsr.models import (  # noqa: F401  (registration)
    attention,
    cfin,
    convolution,
    dense,
    distillation,
    extremely_lightweight,
    reparameterizable,
    residual,
)
from lightsr.models.registry import FAMILIES, MODELS, ModelInfo, Published, create_model, list_models, model_info  # noqa: F401
