"""Ready models: ``ready_models`` lists the catalogue (with what is already in a models folder), ``get_ready_model``
fetches one (pip package or download, checksums verified) and wraps it as ``NAME.dsmodel``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..bundle.imported import ImportedDescription
from ..bundle.model_files import import_onnx
from ..errors import ConfigError
from ..ready.catalogue import CATALOGUE_ENV, Entry, find_entry, load_catalogue
from ..ready.prepare import MODELS_ENV, bundle_path, cached_problem, default_folder, missing_requirements, prepare
from .protocol import Callback

__all__ = ["CATALOGUE_ENV", "MODELS_ENV", "ReadyModel", "ReadyResult", "get_ready_model", "models_folder",
           "ready_model_requirements", "ready_models"]


@dataclass
class ReadyModel:
    """A catalogue entry as a front end lists it; ``path``: its verified bundle in the folder; ``damaged``: why the
    file under its name is not (then ``path`` is None)."""

    entry: Entry
    path: str | None = None
    damaged: str | None = None

    @property
    def state(self) -> str:
        """"yes", "no" or "damaged" (a file under its name that does not load or is another model)."""
        return "damaged" if self.damaged else "yes" if self.path else "no"

    @property
    def name(self) -> str:
        return self.entry.name

    def row(self) -> dict[str, str]:
        """The entry as one row of text: name, task, sensor, bands, classes, licence, installed."""
        entry = self.entry
        return {"name": entry.name, "task": entry.task, "sensor": entry.sensor,
                "bands": ", ".join(entry.bands) or "(from the model file)",
                "classes": ", ".join(entry.classes) or "(from the model file)", "licence": entry.licence,
                "installed": self.path or self.state}


@dataclass
class ReadyResult:
    """What ``get_ready_model`` did: the bundle, and whether it was there already."""

    path: str
    reused: bool = False


def models_folder(folder: str | os.PathLike | None = None) -> Path:
    """``folder``, else ``$DUALSTREAM_MODELS_DIR``, else the user's cache folder (``~/.cache/dualstream/models``)."""
    return Path(folder).expanduser() if folder else default_folder()


def ready_models(folder: str | os.PathLike | None = None) -> list[ReadyModel]:
    """Every catalogue entry (shipped, then ``$DUALSTREAM_CATALOGUE``'s), with its bundle if ``folder`` has it and
    it is the entry's model (verified by its digests), else why the file there is damaged."""
    where = models_folder(folder)
    found = []
    for entry in load_catalogue():
        path = bundle_path(where, entry.name)
        problem = cached_problem(path, entry) if path.exists() else None
        found.append(ReadyModel(entry, str(path) if path.exists() and not problem else None, problem))
    return found


def ready_model_requirements(name: str) -> list[str]:
    """The pip requirements the ready model ``name`` needs and that are not installed (QGIS installs them into
    its own folder, then calls :func:`get_ready_model` with ``install=False``)."""
    return missing_requirements(find_entry(name).source)


def get_ready_model(name: str, folder: str | os.PathLike | None = None, callback: Callback | None = None,
                    install: bool = True, force: bool = False) -> ReadyResult:
    """The bundle of the ready model ``name`` in ``folder`` (see :func:`models_folder`): kept when it is there
    (unless ``force``), else fetched, verified and wrapped. ``install``: pip-install a missing package into the
    running Python (else DependencyError with the command)."""
    callback = callback or Callback()
    entry = find_entry(name)
    where = models_folder(folder)
    if where.exists() and not where.is_dir():  # else a download, then 'File exists' from mkdir
        raise ConfigError(f"The models folder '{where}' is a file, not a folder; give a folder to keep ready models "
                          f"in (it is made when missing).")
    destination = bundle_path(where, entry.name)
    if destination.exists() and not force:
        if (problem := cached_problem(destination, entry)) is None:
            callback.info(f"{entry.name} is already in {where}: {destination} (checksum verified)")
            return ReadyResult(str(destination), reused=True)
        callback.warning(f"The file {destination} is not the ready model {entry.name}: {problem}. It is fetched "
                         f"again and replaced.")
    graph, downloaded = prepare(entry, where, callback, install=install)
    fields = entry.description_fields()
    description = None if fields is None else ImportedDescription(**fields)
    result = import_onnx(graph, destination, description, callback=callback, output_name="folder")
    if downloaded is not None:  # the bundle holds the graph now
        downloaded.unlink(missing_ok=True)
    return ReadyResult(result.path)
