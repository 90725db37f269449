"""Any model file a user gives: a bundle (trained here or imported), our ONNX export, or an ONNX model made
elsewhere; and ``import``, which wraps the last kind in a bundle. An ONNX file without our metadata is described by
Deepness's metadata in the file, then a sidecar JSON file (``MODEL.onnx.json`` or ``MODEL.json``), then what the
caller gives, each filling or overriding the one before.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import Callback
from ..errors import BundleError, ConfigError, mention
from ..io.formats import BUNDLE, ONNX
from ..io.safety import check_outputs
from ..runtime.resources import check_graph_memory
from .deepness import deepness_description, has_deepness_metadata, undescribed_description
from .graph_output import graph_probabilities
from .imported import (
    ImportedDescription,
    check_imported_bundle,
    description_from,
    description_values,
    graph_bands,
    graph_facts,
    imported_metadata,
    is_imported,
    read_graph_file,
    sidecar_of,
    write_imported_bundle,
)
from .onnx_metadata import onnx_metadata, session
from .schema import METADATA_KEY, BundleMetadata
from .store import read_metadata
from .validate import Origin


@dataclass
class ImportResult:
    """What ``import`` wrote: the bundle, its metadata, and what was assumed or said on the way."""

    path: str
    metadata: BundleMetadata
    notes: list[str] = field(default_factory=list)


def describe_onnx(runner: Any, source: str, given: ImportedDescription | None = None,
                  changes: dict[str, Any] | None = None, names: dict[str, str] | None = None
                  ) -> ImportedDescription:
    """The description of the ONNX model open in ``runner``: Deepness's metadata and a sidecar file, or ``given``
    instead, then ``changes`` over them (``names``: how errors name each, a flag or a file and its key)."""
    base = given  # replaces both: a JSON file of another format beside the graph (ukis-csmask's) is no sidecar
    if base is None:
        props = dict(runner.get_modelmeta().custom_metadata_map)
        base = deepness_description(runner, source) if has_deepness_metadata(props) else None
        sidecar = sidecar_of(source) if ONNX.matches(source) else None
        if sidecar is not None:  # over what Deepness's metadata says
            values = description_values(sidecar)
            base = description_from(values, base, Origin(sidecar.name), graph_bands(runner, values))
            base.notes.append(f"description read from {sidecar.name}")
    if changes:
        base = description_from(changes, base, Origin("the description given", flags=names or {}),
                                graph_bands(runner, changes))
    if base is None:  # nothing says what the graph takes: Deepness's defaults, each one said
        base = undescribed_description(runner, source)
    return base


def read_model_metadata(path: str | os.PathLike, backend: str = "auto") -> BundleMetadata:
    """The metadata of a model file: a bundle, our exported ONNX model, or one made elsewhere (see the module
    doc). Models that only onnxruntime can run are refused for ``backend`` torch."""
    onnx = ONNX.matches(path)
    meta = None if onnx else read_metadata(path)
    if backend == "torch" and (meta is None or is_imported(meta)):
        what = "is an ONNX model" if onnx else "holds an imported ONNX model"
        raise ConfigError(f"'{path}' {what}, which torch cannot run; set {mention('segment.backend')} to auto (the "
                          f"default) or onnxruntime.")
    if meta is not None:
        if is_imported(meta):
            check_imported_bundle(meta, path)
        return meta
    if not Path(path).is_file():
        raise BundleError(f"ONNX model '{path}' does not exist; give an .onnx file or a .dsmodel bundle.")
    runner = session(path, optimize=False)
    props = runner.get_modelmeta().custom_metadata_map
    if METADATA_KEY in props:  # our own export: its metadata, from the graph already open
        return onnx_metadata(props, str(path))
    return imported_metadata(describe_onnx(runner, str(path)), runner, str(path), "")


def import_onnx(onnx_path: str | os.PathLike, output: str | os.PathLike,
                description: ImportedDescription | None = None, changes: dict[str, Any] | None = None,
                callback: Callback | None = None, output_name: str = "output",
                names: dict[str, str] | None = None) -> ImportResult:
    """Wrap the ONNX model ``onnx_path`` in the bundle ``output`` (described by :func:`describe_onnx`), the graph
    checked against its description and run once on a blank tile. ``output_name``, ``names``: how errors name the
    output and each key of ``changes`` (the front end's flags or parameters)."""
    callback = callback or Callback()
    source, output = str(onnx_path), Path(output)
    if not BUNDLE.matches(output):
        raise ConfigError(f"The imported model ({output_name}) must be a {BUNDLE.suffixes[0]} bundle, not '{output}'.")
    check_outputs({"ONNX model": source}, {f"imported model ({output_name})": str(output)})
    graph = read_graph_file(onnx_path)
    runner = session(graph, optimize=False, name=source)
    if METADATA_KEY in runner.get_modelmeta().custom_metadata_map and description is None and not changes:
        callback.info(f"'{source}' was exported by DualStream; it is imported through the Deepness metadata it "
                      f"carries.")
    found = describe_onnx(runner, source, description, changes, names)
    metadata = imported_metadata(found, runner, source, hashlib.sha256(graph).hexdigest(), graph_facts(graph))
    _try_once(runner, metadata, source)
    written = write_imported_bundle(output, graph, metadata)
    notes = list(found.notes)
    for note in notes:
        callback.info(f"Import: {note}.")
    model, data = metadata.model, metadata.data
    callback.info(f"Imported '{source}' as '{written}': {data.vision_bands} band(s), classes {data.class_names}, "
                  f"output {model.output} ({model.num_classes} channel(s), {model.layout}), tiles of {data.tile_size} "
                  f"px{' (fixed by the graph)' if model.fixed_tile else ''}.")
    return ImportResult(written, read_metadata(written), notes)


def _try_once(runner: Any, metadata: BundleMetadata, source: str) -> None:
    """Run the graph on one blank tile as segment will: one that cannot, or gives another shape, is refused now."""
    import numpy as np

    model, tile = metadata.model, metadata.data.tile_size
    fix = (f"its graph fixes a batch of {model.batch:,} tiles: export it again with a dynamic or small batch axis"
           if model.batch and model.batch > 1 else f"give a smaller tile size (now {tile} px) or the band count the "
           f"graph takes (now {model.vision_channels:,})")  # what sets the size of one run, in words one acts on
    check_graph_memory(model.batch or 1, model.vision_channels, model.num_classes, tile, source, fix)
    try:
        graph_probabilities(runner, model, np.zeros((model.batch or 1, model.vision_channels, tile, tile),
                                                    np.float32), source, check=True)
    except BundleError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors say what the graph wanted
        raise BundleError(f"The ONNX model '{source}' does not run on a {tile} px tile of {model.vision_channels} "
                          f"band(s) ({str(exc)[:300]}); give the tile size and band count it takes.") from exc
