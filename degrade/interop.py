"""A lightsr pipeline as a step of an albumentations ``Compose``.

    t = A.Compose([A.RandomCrop(256, 256), LightSRDegradation(load_pipeline("realesrgan"))],
                  seed=0, save_applied_params=True)
    out = t(image=hr)   # out["image"] is the LR

albumentations' own split maps onto lightsr's: ``get_params_dependent_on_data`` draws the
record (from an index drawn with the Compose's seeded generator), ``apply`` replays it.
"""

import albumentations as A
import numpy as np


class LightSRDegradation(A.ImageOnlyTransform):
    """Degrade the image with ``pipeline`` (the output is 1/scale of the input size).

    uint8 input gives uint8 output; float input must be in [0, 1]. The record of the
    draw is in the params (``save_applied_params=True`` on the Compose keeps them).
    """

    def __init__(self, pipeline, degradation_seed=0, p=1.0):
        super().__init__(p=p)
        self.pipeline, self.degradation_seed = pipeline, int(degradation_seed)

    def get_params_dependent_on_data(self, params, data):
        img = data["image"]
        index = int(self.random_generator.integers(0, 2**62))
        return {"record": self.pipeline.sample(img.shape, self.degradation_seed, index)}

    def apply(self, img, record=None, **params):
        x = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
        lr = self.pipeline.replay(x, record)
        if img.dtype == np.uint8:
            return np.rint(np.clip(lr, 0, 1) * 255.0).astype(np.uint8)
        return lr

    def get_transform_init_args_names(self):
        return ("degradation_seed",)
