"""Model files that ship inside a Python package (a ``pypi`` catalogue source, e.g. ukis-csmask): where the
installed package keeps them, and installing the package with pip when it is missing.

The package is found by import machinery (``importlib.util.find_spec``) without importing it, so its own
dependencies need not be importable: only its files are read. In QGIS the plugin installs the package into its
dependency folder itself (that folder is on ``sys.path``) and calls the engine with ``install=False``.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
from pathlib import Path

from ..callbacks import Callback
from ..errors import ConfigError, DataError, DependencyError
from ..io.digest import file_sha256
from ..runtime.environment import pip_install_command
from .catalogue import Source, requirement_problem


def package_folder(module: str) -> Path | None:
    """The folder of the installed package ``module`` (None when it is not installed)."""
    importlib.invalidate_caches()  # a package pip installed a moment ago
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    return Path(spec.origin).parent


def missing_requirements(source: Source) -> list[str]:
    """The pip requirement to install for ``source`` when its package is missing, else nothing."""
    if source.kind != "pypi" or package_folder(str(source.module)) is not None:
        return []
    return [str(source.requirement)]


def install(requirement: str, callback: Callback) -> None:
    """``pip install requirement`` into the Python that runs DualStream, its output passed to ``callback``."""
    problem = requirement_problem(requirement)
    if problem:  # the catalogue's check, again where pip is called: never an option for pip
        raise ConfigError(f"The requirement {requirement!r} cannot be installed: {problem}.")
    command = pip_install_command([requirement])
    callback.info(f"Installing {requirement}: {' '.join(command)}")
    lines: list[str] = []
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise DependencyError(requirement, f"pip could not be started ({exc}); run `{' '.join(command)}`") from exc
    with process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith(("Collecting ", "Downloading ", "Installing ", "Successfully ")):
                callback.info(line.rstrip())
            if callback.is_canceled():
                process.terminate()
                process.wait(timeout=60)
                callback.check_canceled()
        code = process.wait()
    if code != 0:
        raise DependencyError(requirement, f"pip failed with exit code {code} ({' | '.join(lines[-3:])}); run "
                                           f"`{' '.join(command)}` and read its messages")


def package_file(source: Source, name: str, sha256: str) -> Path:
    """The file ``name`` of the installed package of ``source``, its checksum verified.

    Raises:
        DependencyError: the package is not installed.
        DataError: the file is missing or differs (another version of the package is installed).
    """
    folder = package_folder(str(source.module))
    command = " ".join(pip_install_command([str(source.requirement)]))
    if folder is None:
        raise DependencyError(str(source.requirement), f"install it with `{command}`")
    path = folder / name
    inside = folder.resolve()
    if inside not in path.resolve().parents:  # "..", an absolute name or a link out of the package
        raise DataError(f"The catalogue names {name!r} in the package {source.module} ({folder}), which is outside "
                        f"the package's folder; only files inside it are read. Correct the catalogue entry.")
    reinstall = f"install the version the catalogue describes: `{command}`"
    if not path.is_file():
        raise DataError(f"The installed package {source.module} ({folder}) has no {name}; {reinstall}.")
    got = file_sha256(path)
    if got != sha256:
        raise DataError(f"{path} has SHA-256 {got}, not the catalogue's {sha256}: another version of "
                        f"{source.module} is installed; {reinstall}.")
    return path
