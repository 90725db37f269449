"""The one place the plugin imports the DualStream engine from.

Two layouts are supported, chosen by which folder exists (not by catching ImportError, which would hide
a genuinely broken engine behind the other copy):

* installed plugin (zip or ``make deploy``): the engine is bundled as ``dualstream_qgis/engine`` and
  imported as ``dualstream_qgis.engine`` (its modules import each other relatively);
* repository checkout (tests, development): no bundled folder, so the top-level ``engine`` package next
  to ``dualstream_qgis/`` is used.

QGIS runs its own Python, which does not see the packages of the project's virtual environment
(torch, transformers). ``make deploy`` records that environment's site-packages folder in
``site-packages.txt`` inside the deployed plugin; the folders listed there and in the environment variable
``DUALSTREAM_SITE_PACKAGES`` (``os.pathsep``-separated) are *appended* to ``sys.path`` so that QGIS's own
numpy and GDAL stay the ones in use.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

PLUGIN_DIR = Path(__file__).resolve().parent
SITE_PACKAGES_FILE = PLUGIN_DIR / "site-packages.txt"
SITE_PACKAGES_ENV = "DUALSTREAM_SITE_PACKAGES"


def extra_site_packages() -> list[str]:
    """Folders named by ``DUALSTREAM_SITE_PACKAGES`` and ``site-packages.txt``, in that order."""
    folders = [p for p in os.environ.get(SITE_PACKAGES_ENV, "").split(os.pathsep) if p.strip()]
    if SITE_PACKAGES_FILE.is_file():
        for line in SITE_PACKAGES_FILE.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                folders.append(line)
    return folders


def add_site_packages() -> list[str]:
    """Append the extra site-packages folders that exist to ``sys.path``; return the ones added now."""
    added = []
    for folder in extra_site_packages():
        path = str(Path(folder).expanduser())
        if Path(path).is_dir() and path not in sys.path:
            sys.path.append(path)
            added.append(path)
    return added


def engine_location() -> tuple[str, Path]:
    """(package name, folder) of the engine this plugin uses."""
    bundled = PLUGIN_DIR / "engine"
    if (bundled / "__init__.py").is_file():
        return f"{__package__}.engine", bundled
    checkout = PLUGIN_DIR.parent / "engine"
    if (checkout / "__init__.py").is_file():
        return "engine", checkout
    raise ImportError(
        f"The DualStream engine was not found: neither {bundled} (installed plugin) nor {checkout} "
        "(repository checkout) exists. Reinstall the plugin from dualstream_qgis.zip or run `make deploy`."
    )


def engine() -> ModuleType:
    """The engine package (``dualstream_qgis.engine`` installed, ``engine`` in a checkout)."""
    name, folder = engine_location()
    if name == "engine":
        root = str(folder.parent)
        if root not in sys.path:
            sys.path.append(root)
    module = importlib.import_module(name)
    found = Path(module.__file__).resolve().parent
    if found != folder.resolve():
        raise ImportError(
            f"'{name}' was imported from {found}, not from {folder}: another package called '{name}' "
            "shadows the DualStream engine; remove it from the Python path."
        )
    return module


def engine_module(name: str) -> ModuleType:
    """An engine submodule, e.g. ``engine_module("environment")`` or ``engine_module("data.raster")``."""
    return importlib.import_module(f"{engine().__name__}.{name}")


add_site_packages()
