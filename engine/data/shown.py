"""How a training run's messages name a scene's sources: as the user gave them, never as the temporary file read.

A web layer is read through its window (a VRT beside the bundle) and a QGIS scratch layer reaches the engine as a
temporary GeoPackage ('LABELS.gpkg'); :class:`~engine.config.SceneSpec`'s ``names`` say how the user knows each
(:func:`shown_layer`). One rule renames every line and error of the run on its way out, however deep it was written
(:func:`renamer`, through :class:`~engine.callbacks.RenamedCallback`, and :func:`named_errors`), as
:mod:`engine.segment.relay` renames a relayed run's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import DualStreamError, reworded


def shown_layer(name: str, what: str) -> str:
    """How messages name a layer the user chose by ``name`` and the engine reads from another file, standing where a
    quoted path stands: "'tiles' (XYZ layer, https://...)" (``what``: what it is)."""
    return f"'{name}' ({what})"


def vector_layer_kind(provider: str, file: str, selected: bool = False) -> str:
    """What a QGIS vector layer handed over as a temporary file is, for :func:`shown_layer`: "scratch layer" (memory
    provider), "layer of FILE" (OGR), "postgres layer"; "selected features of the ..." for a selection."""
    what = {"memory": "scratch layer", "ogr": f"layer of {file}"}.get(provider, f"{provider} layer")
    return f"selected features of the {what}" if selected else what


def scene_names(data: Any) -> dict[str, str]:
    """Every scene's ``names`` of the data settings ``data`` (a DataConfig) in one mapping: source -> name."""
    scenes = [*data.train_scenes, *data.val_scenes]
    return {source: name for scene in scenes for source, name in (scene.names or {}).items()}


def given_file(names: Mapping[str, str], path: str) -> str:
    """The file name a bundle records for the scene read from ``path``: the one the user gave where ``path`` is a
    stand-in (a season date's VRT of its clouds: the date's file; a web layer's window: the layer's name), else
    ``path``'s own; ``names`` as :func:`scene_names` gives them, each a quoted name and what it is."""
    named = re.fullmatch(r"'(.*?)'(?: \(.*\))?", names.get(path, ""), re.DOTALL)
    return Path((named.group(1) if named else path).split("|", 1)[0]).name


def renamer(names: Mapping[str, str]) -> Callable[[str], str]:
    """A message with each quoted source of ``names`` (its path, its file without a ``|layername=`` part, or their
    file names, as messages quote them) replaced by its name."""
    found: dict[str, set[str]] = {}
    for source, name in names.items():
        file = str(source).split("|", 1)[0]
        for form in (str(source), file, Path(source).name, Path(file).name):
            if form:
                found.setdefault(f"'{form}'", set()).add(name)
    # a file name two sources share (two windows 'scene.web.vrt') names neither: it stays as it is
    if not (quoted := {form: next(iter(named)) for form, named in found.items() if len(named) == 1}):
        return lambda text: text
    # one pass, a full path before the file name it ends in; a name put in is never renamed again ('tiles' (...))
    pattern = re.compile("|".join(re.escape(form) for form in sorted(quoted, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda found: quoted[found.group(0)], text)


@contextmanager
def named_errors(names: Mapping[str, str]) -> Iterator[None]:
    """An engine error raised inside names the sources as the user gave them (its type and traceback kept)."""
    try:
        yield
    except DualStreamError as exc:
        if names:
            reworded(exc, renamer(names))
        raise
