"""The one place the plugin imports the DualStream engine from.

Two layouts are supported, chosen by which folder exists (not by catching ImportError, which would hide
a genuinely broken engine behind the other copy):

* installed plugin (zip or ``make deploy``): the engine is bundled as ``dualstream_qgis/engine`` and
  imported as ``dualstream_qgis.engine`` (its modules import each other relatively);
* repository checkout (tests, development): no bundled folder, so the top-level ``engine`` package next
  to ``dualstream_qgis/`` is used.

QGIS runs its own Python, which does not see the packages of the project's virtual environment
(torch, transformers). ``make deploy`` records that environment's site-packages folder in
``site-packages.txt`` inside the deployed plugin; the folders listed there, the folder *Install dependencies*
fills (``deps.py``: ``<QGIS profile>/dualstream``) and the environment variable ``DUALSTREAM_SITE_PACKAGES``
(``os.pathsep``-separated) are added to ``sys.path`` *just before the system
site-packages folders*, i.e. where a ``--system-site-packages`` venv has them: after QGIS's own and the
plugins' folders, and ahead of Debian's dist-packages, because torch needs newer versions of some packages
Debian also ships (sympy). QGIS's numpy and GDAL stay in use because the venv has none (``make install``
checks); a folder that does contain numpy, GDAL, rasterio, qgis or PyQt (5 or 6) is appended instead, so it can
never shadow them.
"""

from __future__ import annotations

import importlib
import os
import site
import sys
from pathlib import Path
from types import ModuleType

PLUGIN_DIR = Path(__file__).resolve().parent
SITE_PACKAGES_FILE = PLUGIN_DIR / "site-packages.txt"
SITE_PACKAGES_ENV = "DUALSTREAM_SITE_PACKAGES"
#: Packages that must come from QGIS's own Python (same GDAL/numpy ABI as QGIS).
SYSTEM_OWNED = ("numpy", "osgeo", "rasterio", "qgis", "PyQt5", "PyQt6")


def installed_packages_site() -> str | None:
    """The site-packages folder that *Install dependencies* (``dualstream:installdeps``) fills, if known."""
    try:
        from .deps import packages_dir, site_dir

        return str(site_dir(packages_dir()))
    except Exception:  # noqa: BLE001 - no QGIS settings yet (plain Python): nothing installed there to find
        return None


def extra_site_packages() -> list[str]:
    """Folders named by ``DUALSTREAM_SITE_PACKAGES``, the installer's folder, and ``site-packages.txt``."""
    folders = [p for p in os.environ.get(SITE_PACKAGES_ENV, "").split(os.pathsep) if p.strip()]
    installed = installed_packages_site()
    if installed:
        folders.append(installed)
    if SITE_PACKAGES_FILE.is_file():
        for line in SITE_PACKAGES_FILE.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                folders.append(line)
    return folders


def _system_site_index() -> int:
    """Index in ``sys.path`` of the first user/system site-packages folder (``len(sys.path)`` if none)."""
    system = set(getattr(site, "getsitepackages", lambda: [])())
    user = getattr(site, "getusersitepackages", lambda: None)()
    if isinstance(user, str):
        system.add(user)
    for index, entry in enumerate(sys.path):
        if entry in system:
            return index
    return len(sys.path)


def add_site_packages() -> list[str]:
    """Add the extra site-packages folders that exist to ``sys.path`` (see the module docstring).

    Returns the folders added by this call.
    """
    added = []
    for folder in extra_site_packages():
        path = str(Path(folder).expanduser())
        if not Path(path).is_dir() or path in sys.path:
            continue
        if any((Path(path) / name).exists() for name in SYSTEM_OWNED):
            sys.path.append(path)  # would shadow QGIS's numpy/GDAL: lowest priority only
        else:
            sys.path.insert(_system_site_index(), path)
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


def engine_api() -> ModuleType:
    """The engine's public surface (``engine.api``), the only part of the engine the plugin uses: a renamed
    internal module can never break the plugin at run time."""
    return importlib.import_module(f"{engine().__name__}.api")


add_site_packages()
