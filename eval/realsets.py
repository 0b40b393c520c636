"""Real low-resolution images available offline (no ground truth), for no-reference evaluation.

- ``lfw_faces``: scikit-image's 200 real 25x25 faces (LFW subset, gray);
- ``clock_motion``: scikit-image's real motion-blurred photograph (gray);
- ``mate_backgrounds``: Debian's mate-backgrounds nature photos, several heavily JPEG-compressed
  (present when the package is installed).
"""

import os

import numpy as np

from lightsr.images import write_image
from lightsr.sample_data import debian_photos, skimage_data_dir


def _gray_to_rgb(g):
    g = np.asarray(g, dtype=np.float32)
    if g.max() > 1.0:
        g = g / 255.0
    return np.repeat(g[:, :, None], 3, axis=2)


def lfw_faces(limit=None):
    """[(name, RGB float32)] of the real 25x25 faces shipped with scikit-image."""
    faces = np.load(os.path.join(skimage_data_dir(), "lfw_subset.npy"))
    faces = faces[:limit] if limit else faces
    return [(f"face_{i:03d}", _gray_to_rgb(f)) for i, f in enumerate(faces)]


def clock_motion():
    from lightsr.images import read_image

    return [("clock_motion", read_image(os.path.join(skimage_data_dir(), "clock_motion.png"))[0])]


def mate_backgrounds():
    from lightsr.images import read_image

    return [(os.path.splitext(os.path.basename(p))[0], read_image(p)[0]) for p in debian_photos() if "/mate/" in p]


REAL_SETS = {"lfw_faces": lfw_faces, "clock_motion": clock_motion, "mate_backgrounds": mate_backgrounds}


def available_sets():
    """Names of the real LR sets present on this machine."""
    return [name for name in REAL_SETS if name != "mate_backgrounds" or any("/mate/" in p for p in debian_photos())]


def write_set(name, out_dir, limit=None):
    """Write a real LR set as PNG files (for ``lightsr upscale`` / ``lightsr eval``); returns the paths."""
    items = lfw_faces(limit) if name == "lfw_faces" else REAL_SETS[name]()
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for item_name, img in items[:limit] if limit else items:
        path = os.path.join(out_dir, f"{item_name}.png")
        write_image(path, img)
        paths.append(path)
    return paths
