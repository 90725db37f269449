"""One hierarchy of engine errors. Every message says what went wrong *and* what to do.

A message names a setting with :func:`mention` (``f"lower {mention('data.tile_size')}"``), never with one front
end's spelling: the command line renders it as ``--tile-size``, QGIS as its parameter ('Tile size (pixels)'),
and ``str(error)`` as the setting's own name (``tile_size``), e.g. in log files and bulk summaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

_SETTING = re.compile(r"\u27e6([\w.#]+)\u27e7")  # the marker: the setting's key in white square brackets


def mention(key: str) -> str:
    """How a message names a setting: ``"section.field"`` (``data.tile_size``) or a bare field name."""
    return f"\u27e6{key}\u27e7"


#: How a message names the command whose settings are ``section``'s (``segment``, ``suggest``), or a job of
#: :data:`COMMANDS`: the same marker, which each front end writes as its own name of the command; a command running
#: segment for its own ends names itself (engine/segment/relay.py).
command = mention


@dataclass(frozen=True)
class CommandName:
    """How each front end names one job a message points to."""

    cli: str  # the command line's command that does it
    algorithm: str  # the Processing algorithm's id (``dualstream:<algorithm>``): QGIS writes its display name


#: The jobs whose names differ between the front ends (a change model's pair is segment's on the command line, QGIS
#: has *Detect change* for it); any other command is its own name on the command line and its algorithm's id in QGIS.
COMMANDS = {
    "compare": CommandName("compare", "comparechange"),
    "detect_change": CommandName("segment", "detectchange"),
    "train_change": CommandName("train", "trainchange"),
    "train_season": CommandName("train", "trainseason"),
    "segment_season": CommandName("segment", "segmentseason"),
}


def command_line_name(key: str) -> str | None:
    """The command line's command for the command key ``key`` (no section, no part), or None for a setting."""
    if "." in key or "#" in key:
        return None
    found = COMMANDS.get(key)
    return found.cli if found else None


def plain_name(key: str) -> str:
    """The setting's own name (the config-file key), the rendering without a front end; ``key#part`` names one part
    of a compound setting (``data.train_scenes#label``: a training scene's label); a job of :data:`COMMANDS` its
    command."""
    if command_line_name(key):
        return str(command_line_name(key))
    key, _, part = key.partition("#")
    name = key.rpartition(".")[2]
    return f"{name} ({part})" if part else name


def render(text: str, name: Callable[[str], str] = plain_name) -> str:
    """``text`` with every setting marker replaced by ``name(key)``."""
    return _SETTING.sub(lambda m: name(m.group(1)), text)


class DualStreamError(Exception):
    """Base class of every error the engine raises on purpose."""

    def __str__(self) -> str:
        return render(super().__str__())

    @property
    def raw(self) -> str:
        """The message with its setting markers, for a front end to render later (bulk scene records)."""
        return super().__str__()

    def render(self, name: Callable[[str], str] = plain_name) -> str:
        """The message with its settings named by ``name`` (a front end's renderer)."""
        return render(super().__str__(), name)


def reworded(exc: DualStreamError, rename: Callable[[str], str]) -> None:
    """``exc``'s message (with its setting markers) passed through ``rename`` in place, its type and traceback kept:
    a relayed run's error in its command's words, a training's in the names the user gave its layers."""
    exc.args = (rename(exc.raw), *exc.args[1:])


class ConfigError(DualStreamError, ValueError):
    """A setting is invalid (bad value, unknown name, inconsistent combination)."""


class DependencyError(DualStreamError, ImportError):
    """A required Python package is missing or broken."""

    def __init__(self, package: str, install_hint: str | None = None, detail: str | None = None):
        hint = install_hint or (f"install it into the Python that runs DualStream, e.g. `make install` in the "
                                f"DualStream checkout, or `python3 -m pip install {package}`")
        said = f" ({detail})" if detail else ""
        super().__init__(f"The Python package '{package}' is required but could not be imported{said}; {hint}.")
        self.package, self.detail = package, detail


class DataError(DualStreamError, ValueError):
    """Input data is missing, unreadable, inconsistent or empty. The message names the file."""


class AlignmentError(DataError):
    """Rasters/vectors do not overlap or cannot be brought onto a common grid."""


class ModelError(DualStreamError, ValueError):
    """A model cannot be built or does not accept the given inputs."""


class BundleError(DualStreamError, ValueError):
    """A model bundle file is missing, corrupt, truncated or incompatible."""


class GraphRunError(BundleError):
    """onnxruntime could not run a model made elsewhere on a batch of tiles; ``detail``: onnxruntime's words."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class OutputError(DualStreamError, OSError):
    """An output could not be written (disk full, I/O error). The message names the file and the space needed;
    nothing that looks finished was left and a previous file at the destination is unchanged."""


class OutputLockedError(DualStreamError):
    """Another run is writing the same output right now (its lock file is held)."""


class CanceledError(DualStreamError):
    """The user canceled the run (through the callback). Nothing that looks finished was written."""
