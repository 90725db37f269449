"""Where ready models are kept: ``$DUALSTREAM_MODELS_DIR``, else the user's cache folder (``~/.cache/dualstream/
models`` on Linux, ``~/Library/Caches/dualstream/models`` on macOS, ``%LOCALAPPDATA%\\dualstream\\models`` on
Windows). QGIS's Get a ready model uses a folder of the QGIS profile instead. Each model is ``NAME.dsmodel`` there;
downloads wait in ``downloads/`` until they are wrapped."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODELS_ENV = "DUALSTREAM_MODELS_DIR"


def default_folder() -> Path:
    """The folder ready models go to when none is given."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dualstream" / "models"


def bundle_path(folder: str | os.PathLike, name: str) -> Path:
    """The bundle of the ready model ``name`` in ``folder``."""
    return Path(folder) / f"{name}.dsmodel"


def download_path(folder: str | os.PathLike, name: str, sha256: str) -> Path:
    """Where the download of ``name`` waits (its checksum in the name: another version is another file)."""
    return Path(folder) / "downloads" / f"{name}-{sha256[:12]}.onnx"
