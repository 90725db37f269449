"""Where the plugin's resources (icons, QML styles, the README) live, installed or in a repository checkout.

Installed from the zip, ``resources/`` and ``README.md`` sit inside the plugin folder; in a checkout they are
siblings of ``dualstream_qgis/`` at the repository root.
"""

from __future__ import annotations

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """The folder holding ``icons/``."""
    bundled = PLUGIN_DIR / "resources"
    return bundled if bundled.is_dir() else PLUGIN_DIR.parent / "resources"


def icon_path(name: str = "dualstream.svg") -> Path:
    """Path of an icon file in ``resources/icons``."""
    return resources_dir() / "icons" / name


def readme_path() -> Path:
    """The README shipped with the plugin (the algorithms' help link)."""
    bundled = PLUGIN_DIR / "README.md"
    return bundled if bundled.is_file() else PLUGIN_DIR.parent / "README.md"
