"""Models trained by lightsr's own recipes that ship inside the package (no download).

Each is a ``.safetensors`` file written by ``save_model`` (so ``load_model`` rebuilds it alone)
beside a JSON model card: architecture, recipe, training data, steps, hardware, time, and its
figures against bicubic, measured by ``bench/blind_model_card.py`` from the file itself.
"""

import json
import os
from dataclasses import dataclass

from lightsr.errors import ConfigError

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")


@dataclass(frozen=True)
class ShippedModel:
    name: str
    architecture: str  # the zoo name the weights are for
    scale: int
    description: str

    @property
    def weights(self):
        return os.path.join(FOLDER, self.name + ".safetensors")

    @property
    def card_path(self):
        return os.path.join(FOLDER, self.name + ".json")

    def card(self):
        """The model card (a dict); empty when the card file is absent."""
        if not os.path.isfile(self.card_path):
            return {}
        with open(self.card_path, encoding="utf-8") as f:
            return json.load(f)


SHIPPED = {m.name: m for m in (
    ShippedModel("blind_abpn_x4", "abpn", 4,
                 "blind x4 ABPN (62K parameters) trained by lightsr on pairs the realesrgan preset makes on the fly: "
                 "removes noise, blur and JPEG artefacts while upscaling real photos (PSNR-oriented, Charbonnier)"),
)}


def shipped(name):
    """The ShippedModel called ``name``, or None."""
    return SHIPPED.get(name)


def load_shipped(name, device="cpu"):
    from lightsr.models.weights import load_model

    m = SHIPPED.get(name)
    if m is None:
        raise ConfigError("model", f"no shipped model {name!r} (shipped: {', '.join(SHIPPED)})")
    return load_model(m.weights, device)
