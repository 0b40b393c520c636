"""Photos that install with lightsr's dependencies or Debian packages (no download).

- scikit-image's bundled colour photographs (astronaut, chelsea, coffee, rocket, the
  stereo motorcycle pair, the Hubble deep field);
- when installed, Debian's ``mate-backgrounds`` (nature photos, some heavily JPEG-compressed)
  and ``palapeli-data`` (puzzle photos).
"""

import glob
import os

SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
)
DEBIAN_PHOTO_GLOBS = (
    "/usr/share/backgrounds/mate/nature/*.jpg",
    "/usr/share/kde4/apps/palapeli/collection/*.jpg",
    "/usr/share/palapeli/collection/*.jpg",
)


def skimage_data_dir():
    import skimage.data

    return os.path.dirname(skimage.data.__file__)


def skimage_photos():
    """Paths of scikit-image's bundled colour photos that are present."""
    folder = skimage_data_dir()
    return [os.path.join(folder, n) for n in SKIMAGE_PHOTOS if os.path.isfile(os.path.join(folder, n))]


def debian_photos():
    """Paths of the Debian photo packages' images, if those packages are installed."""
    return sorted(p for g in DEBIAN_PHOTO_GLOBS for p in glob.glob(g))


def photo_paths(include_debian=True):
    """Every embedded photo available on this machine, scikit-image's first."""
    return skimage_photos() + (debian_photos() if include_debian else [])
