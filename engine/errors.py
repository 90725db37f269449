"""One hierarchy of engine errors. Every message says what went wrong *and* what to do."""

from __future__ import annotations


class DualStreamError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(DualStreamError, ValueError):
    """A setting is invalid (bad value, unknown name, inconsistent combination)."""


class DependencyError(DualStreamError, ImportError):
    """A required Python package is missing or broken."""

    def __init__(self, package: str, install_hint: str | None = None, detail: str | None = None):
        hint = install_hint or (
            f"install it into the Python that runs DualStream, e.g. `make install` in the DualStream "
            f"checkout, or `python3 -m pip install {package}`"
        )
        msg = f"The Python package '{package}' is required but could not be imported"
        if detail:
            msg += f" ({detail})"
        super().__init__(f"{msg}; {hint}.")
        self.package = package


class DataError(DualStreamError, ValueError):
    """Input data is missing, unreadable, inconsistent or empty. The message names the file."""


class AlignmentError(DataError):
    """Rasters/vectors do not overlap or cannot be brought onto a common grid."""


class ModelError(DualStreamError, ValueError):
    """A model cannot be built or does not accept the given inputs."""


class BundleError(DualStreamError, ValueError):
    """A model bundle file is missing, corrupt, truncated or incompatible."""


class OutputError(DualStreamError, OSError):
    """An output could not be written (disk full, I/O error). The message names the file and the space needed;
    nothing that looks finished was left and a previous file at the destination is unchanged."""


class OutputLockedError(DualStreamError):
    """Another run is writing the same output right now (its lock file is held)."""


class CanceledError(DualStreamError):
    """The user canceled the run (through the callback). Nothing that looks finished was written."""
