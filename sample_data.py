"""Photos that install with lightsr's dependencies or Debian packages (no download).

- scikit-image's bundled colour photographs (astronaut, chelsea, coffee, rocket, the
  stereo motorcycle pair, the Hubble deep field);
- when installed, Debian's ``mate-backgrounds`` (nature photos, some heavily JPEG-compressed),
  ``palapeli-data`` (puzzle photos) and the photographs among ``plasma-workspace-wallpapers``
  (the rest of that package, and all of ``ukui-wallpapers``, are drawings and gradients, which
  would teach a model to paint flat colour: they are left out by name).
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
PLASMA_WALLPAPERS = "/usr/share/wallpapers"
# the photographs of plasma-workspace-wallpapers (looked at one by one; the others are digital art)
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
                 "OneStandsOut", "Path", "summer_1am")


def skimage_data_dir():
    import skimage.data

    return os.path.dirname(skimage.data.__file__)


def skimage_photos():
    """Paths of scikit-image's bundled colour photos that are present."""
    folder = skimage_data_dir()
    return [os.path.join(folder, n) for n in SKIMAGE_PHOTOS if os.path.isfile(os.path.join(folder, n))]


def _largest(paths):
    def pixels(p):
        w, _, h = os.path.splitext(os.path.basename(p))[0].partition("x")
        return int(w) * int(h) if w.isdigit() and h.isdigit() else 0

    return max(paths, key=pixels) if paths else None


def plasma_photos():
    """The largest size of each photograph among plasma-workspace-wallpapers (one file per photo)."""
    found = (_largest(glob.glob(os.path.join(PLASMA_WALLPAPERS, name, "contents", "images", "*.jpg"))) for name in PLASMA_PHOTOS)
    return [p for p in found if p]


def debian_photos():
    """Paths of the Debian photo packages' images, if those packages are installed."""
    return sorted(p for g in DEBIAN_PHOTO_GLOBS for p in glob.glob(g)) + plasma_photos()


def photo_name(path):
    """A file name unique among the embedded photos (Plasma names every size of a wallpaper alike:
    its photos are named after their folder)."""
    if path.startswith(PLASMA_WALLPAPERS + os.sep):
        return path[len(PLASMA_WALLPAPERS) + 1:].split(os.sep)[0] + os.path.splitext(path)[1]
    return os.path.basename(path)


def photo_paths(include_debian=True):
    """Every embedded photo available on this machine, scikit-image's first."""
    return skimage_photos() + (debian_photos() if include_debian else [])
