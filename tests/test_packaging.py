"""setup.cfg lists its packages by name: every subpackage of the source tree must be among them,
or a regular (non-editable) install silently lacks it."""

import configparser
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_subpackage_is_installed():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    listed = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    found = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("tests", "bench", "build", "__pycache__")]
        if "__init__.py" in files:
            rel = os.path.relpath(folder, ROOT)
            found.add("lightsr" if rel == "." else "lightsr." + rel.replace(os.sep, "."))
    assert found - listed == set()
