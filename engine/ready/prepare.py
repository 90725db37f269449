"""A ready model's ONNX graph on disk, verified, with the description to wrap it with: found in its installed
package (pip-installed first when missing and allowed) or downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..callbacks import Callback
from ..errors import DependencyError
from ..runtime.environment import pip_install_command
from . import csmask
from .catalogue import Entry
from .download import download
from .folders import download_path
from .packages import install as pip_install
from .packages import missing_requirements, package_file


@dataclass
class Prepared:
    """The graph to wrap, its description (None: the graph's own metadata) and a download to remove after."""

    onnx: Path
    description: dict[str, Any] | None
    download: Path | None = None


def prepare(entry: Entry, folder: Path, callback: Callback, install: bool = True) -> Prepared:
    """The verified graph of ``entry`` (downloads go under ``folder``); ``install``: pip-install a missing
    package into the running Python, else DependencyError with the command."""
    source = entry.source
    if source.kind == "http":
        path = download(str(source.url), download_path(folder, entry.name, source.sha256), source.sha256, callback)
        return Prepared(path, entry.description_fields(), download=path)
    for requirement in missing_requirements(source):
        if not install:
            raise DependencyError(requirement, f"install it with `{' '.join(pip_install_command([requirement]))}`"
                                               ", or let DualStream install it")
        pip_install(requirement, callback)
    model = package_file(source, str(source.model), source.sha256)
    callback.info(f"Found {model} (checksum verified)")
    if source.statistics and source.statistics_format == "ukis-csmask":
        statistics = package_file(source, source.statistics, str(source.statistics_sha256))
        csmask.check_entry(entry, csmask.read_statistics(statistics), statistics)
    return Prepared(model, entry.description_fields())
