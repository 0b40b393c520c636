"""Small helpers shared by the datasets and offline generation (no torch import here)."""

CROP_STREAM = (1,)  # separates the crop/flip draw from the degradation draw of the same item


def modcrop(img, scale):
    """Crop the bottom/right so both sides are multiples of ``scale`` (HR/LR alignment)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]
