"""Models made elsewhere: an ONNX graph and its description, wrapped in a bundle the engine runs like its own.

``dualstream import MODEL.onnx`` takes the description from Deepness's metadata in the file (:mod:`.deepness`) or
from the user and writes a ``.dsmodel``: a safetensors file whose one tensor is the graph's bytes and whose header
holds the usual bundle metadata (an ``ImportedConfig`` model section, checksums over graph and description), so
every front end and command takes it as a trained bundle.

The description's scaling ``(raw * scale - mean) / std`` per band is the engine's mean/std band statistics with
``mean / scale`` and ``std / scale``: the tile pipeline feeds the graph exactly what its maker's code fed it.
Torch-free; onnxruntime reads the graph.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.metadata import DataMetadata
from ..data.normalize import BandStatistics
from ..errors import BundleError, ConfigError
from ..io.atomic import write_bytes_atomic
from ..io.formats import ONNX
from ..io.safety import check_input_file
from ..models.configuration_utils import AutoModelConfig
from ..models.imported.configuration_imported import IMPORTED
from ..runtime.environment import require
from .schema import BundleMetadata
from .validate import Origin, checked_values

GRAPH_TENSOR = "onnx_graph"  # the one tensor of an imported bundle: the ONNX file's bytes (uint8)
DYNAMIC_TILE = 512  # the tile size of a graph that takes any size, when neither its maker nor the user says
DEFAULT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf")


@dataclass
class ImportedDescription:
    """What the graph cannot say about itself: its bands and their scaling (``(raw * scale - mean) / std`` per band),
    its classes (one per output channel; one channel: background then foreground), how to tile (``tile_size`` None:
    the graph's fixed size, else DYNAMIC_TILE; ``border``: pixels its maker mirrored the scene by), its ``output``
    (probabilities, logits, scores) and the ``resolution`` in metres per pixel it was made for."""

    bands: int
    class_names: list[str]
    mean: list[float]
    std: list[float]
    scale: float = 1.0
    class_colors: list[str] | None = None
    band_names: list[str] | None = None
    value_range: list[float] | None = None  # [low, high] of the raw values the graph expects (None: unknown)
    tile_size: int | None = None
    overlap: float | None = None  # None: its maker recorded none (segment's default applies)
    border: int = 0
    output: str = "probabilities"
    threshold: float = 0.5
    layout: str = "NCHW"
    input_name: str | None = None
    output_name: str | None = None
    resolution: float | None = None
    name: str | None = None
    task: str | None = None
    sensor: str | None = None
    source: str | None = None
    licence: str | None = None
    polygon_treatment: dict[str, str] | None = None  # class name -> how its polygons are drawn (by name if None)
    notes: list[str] = field(default_factory=list)  # what was assumed, for the log
    assumed: list[str] = field(default_factory=list)  # defaults taken for a graph that says nothing of itself
    origins: dict[str, str] = field(default_factory=dict)  # key -> how its source names it (flag, file: `key`)

    def name_of(self, key: str) -> str:
        """How messages name ``key``: as its source wrote it (a flag, a file and its key), else the key."""
        return self.origins.get(key, f"`{key}`")

    def check(self, source: str, tile: int | None = None) -> None:
        """ConfigError for a value of the wrong type or range (:mod:`.validate`), then for values that disagree
        with each other (``tile``: the tile the graph runs on)."""
        checked_values({f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                        if f.name not in ("notes", "origins", "assumed")},
                       Origin(f"the description of '{source}'", flags=self.origins))
        found = [f"{self.name_of(key)} has {len(given)} value(s) for {self.bands} band(s)"
                 for key in ("mean", "std", "band_names")
                 if (given := getattr(self, key)) is not None and len(given) != self.bands]
        if self.value_range is not None and (len(self.value_range) != 2
                                             or not float(self.value_range[0]) < float(self.value_range[1])):
            found.append(f"{self.name_of('value_range')} must be [low, high] with low < high (got "
                         f"{self.value_range})")
        if self.class_colors is not None and len(self.class_colors) != len(self.class_names):
            found.append(f"{self.name_of('class_colors')} has {len(self.class_colors)} colour(s) for "
                         f"{len(self.class_names)} class(es)")
        if len(self.class_names) < 2:
            found.append(f"at least 2 class names are needed (background and foreground for one channel); "
                         f"{self.name_of('class_names')} gives {self.class_names}")
        tile = tile or self.tile_size
        if tile and self.border >= tile:
            found.append(f"{self.name_of('border')} ({self.border} px) must be less than the tile size ({tile} px)")
        if found:
            raise ConfigError(f"The description of '{source}' cannot be used: {'; '.join(found)}.")

    def statistics(self) -> BandStatistics:
        """The engine's band statistics that feed the graph ``(raw * scale - mean) / std``."""
        return BandStatistics("meanstd", [float(m) / self.scale for m in self.mean],
                              [float(s) / self.scale for s in self.std])


@dataclass(frozen=True)
class GraphInfo:
    """The graph's one image input and its chosen output, as onnxruntime sees them."""

    input_name: str
    input_shape: tuple[Any, ...]  # ints for fixed axes, names or None for dynamic ones
    output_name: str
    output_shape: tuple[Any, ...]


def graph_info(session: Any, source: str, input_name: str | None = None, output_name: str | None = None) -> GraphInfo:
    """The input and output of an onnxruntime session, checked to be one float image input (BundleError else)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise BundleError(f"The ONNX model '{source}' has {len(inputs)} inputs ({[i.name for i in inputs]}); only "
                          f"models with one image input can be imported.")
    chosen_in = inputs[0]
    if input_name and chosen_in.name != input_name:
        raise BundleError(f"The ONNX model '{source}' has no input '{input_name}'; its input is '{chosen_in.name}'.")
    names = [o.name for o in outputs]
    chosen_out = outputs[0] if not output_name else next((o for o in outputs if o.name == output_name), None)
    if chosen_out is None:
        raise BundleError(f"The ONNX model '{source}' has no output '{output_name}'; its outputs are {names}.")
    if len(chosen_in.shape) != 4:
        raise BundleError(f"The input '{chosen_in.name}' of '{source}' has shape {chosen_in.shape}; an image model "
                          f"takes 4 axes (batch, bands, height, width, or NHWC).")
    if chosen_in.type != "tensor(float)":
        raise BundleError(f"The input '{chosen_in.name}' of '{source}' is {chosen_in.type}; only float32 inputs "
                          f"can be imported.")
    if len(chosen_out.shape) not in (3, 4):
        raise BundleError(f"The output '{chosen_out.name}' of '{source}' has shape {chosen_out.shape}; a "
                          f"segmentation model gives (batch, classes, height, width) or (batch, height, width).")
    return GraphInfo(chosen_in.name, tuple(chosen_in.shape), chosen_out.name, tuple(chosen_out.shape))


def _axis(shape: tuple[Any, ...], index: int) -> int | None:
    value = shape[index]
    return int(value) if isinstance(value, int) and value > 0 else None


def fit_graph(description: ImportedDescription, graph: GraphInfo, source: str) -> dict[str, Any]:
    """The model section for ``description`` on ``graph`` (ConfigError where they disagree)."""
    nhwc = description.layout == "NHWC"
    channels = _axis(graph.input_shape, 3 if nhwc else 1)
    if channels is not None and channels != description.bands:
        raise ConfigError(f"The ONNX model '{source}' takes {channels} band(s) ({description.layout}), but its "
                          f"description gives {description.bands}; give the band count the graph takes.")
    sizes = {_axis(graph.input_shape, i) for i in ((1, 2) if nhwc else (2, 3))}
    fixed = sizes.pop() if len(sizes) == 1 and None not in sizes else None
    tile = description.tile_size or fixed or DYNAMIC_TILE
    if fixed and tile != fixed:
        raise ConfigError(f"The ONNX model '{source}' takes tiles of {fixed} px only, not {tile}; leave out the tile "
                          f"size or give {fixed}.")
    out = graph.output_shape
    classes = 1 if len(out) == 3 else _axis(out, 3 if nhwc else 1)
    if classes is None:
        classes = 1 if len(description.class_names) == 2 else len(description.class_names)
    names = 2 if classes == 1 else classes
    if len(description.class_names) != names:
        raise ConfigError(f"The ONNX model '{source}' gives {classes} output channel(s), so {names} class names are "
                          f"needed (background and foreground for one channel); the description gives "
                          f"{len(description.class_names)}: {description.class_names}.")
    return {"name": IMPORTED, "preset": "onnx", "vision_channels": description.bands, "aux_channels": 0,
            "num_classes": classes, "aux_ratio": 1, "input_name": graph.input_name, "output_name": graph.output_name,
            "output": description.output, "layout": description.layout, "batch": _axis(graph.input_shape, 0),
            "fixed_tile": fixed, "threshold": description.threshold, "architecture": description.name}


def graph_facts(graph: bytes) -> dict[str, Any]:
    """What the model card says of a graph: its weights, opset and producer (empty without the onnx package)."""
    try:
        import onnx
    except ImportError:
        return {}
    model = onnx.load_model_from_string(graph)
    return {"parameters": sum(int(np.prod(t.dims)) for t in model.graph.initializer),
            "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
            "producer": f"{model.producer_name} {model.producer_version}".strip(), "onnx_version": onnx.__version__}


def imported_metadata(description: ImportedDescription, session: Any, source: str,
                      graph_sha256: str, facts: dict[str, Any] | None = None) -> BundleMetadata:
    """The bundle metadata of the graph open in ``session`` (its digest fields left to the writer)."""
    graph = graph_info(session, source, description.input_name, description.output_name)
    description.check(source)
    model = AutoModelConfig.from_dict(fit_graph(description, graph, source))
    tile = int(description.tile_size or model.fixed_tile or DYNAMIC_TILE)
    description.check(source, tile)
    colors = list(description.class_colors or [DEFAULT_COLORS[i % len(DEFAULT_COLORS)]
                                               for i in range(len(description.class_names))])
    data = DataMetadata(
        vision_bands=description.bands, vision_stats=description.statistics(), aux_channels=0,
        class_names=list(description.class_names), class_colors=colors, tile_size=tile, aux_ratio=1,
        num_classes=model.num_classes, label_mapping=None, polygon_treatment=description.polygon_treatment,
        band_names=None if description.band_names is None else [str(n) for n in description.band_names],
        value_range=None if description.value_range is None else [float(v) for v in description.value_range],
        extra={"imported": {k: v for k, v in {
            "source_file": Path(source).name, "graph_sha256": graph_sha256, "band_names": description.band_names,
            "scale": description.scale, "mean": list(description.mean), "std": list(description.std),
            "overlap": description.overlap, "border": description.border, "resolution_m": description.resolution,
            "task": description.task, "assumed": list(description.assumed) or None,
            "sensor": description.sensor, "source": description.source, "licence": description.licence,
            **(facts or {}),
        }.items() if v is not None}})
    return BundleMetadata(model=model, data=data, metrics={})


def write_imported_bundle(path: str | os.PathLike, graph: bytes, metadata: BundleMetadata) -> str:
    """The bundle file: the graph's bytes as one uint8 tensor, the metadata (with its digests) in the header."""
    numpy_st = require("safetensors.numpy")
    from .store import header

    tensors = {GRAPH_TENSOR: np.frombuffer(graph, dtype=np.uint8)}
    write_bytes_atomic(Path(path), numpy_st.save(tensors, metadata=header(metadata, hashlib.sha256(graph).hexdigest())))
    return str(path)


def is_imported(metadata: BundleMetadata) -> bool:
    """Whether the bundle or ONNX file holds a model made elsewhere (run by onnxruntime only)."""
    return metadata.model.name == IMPORTED


def imported_graph(path: str | os.PathLike, metadata: BundleMetadata) -> bytes:
    """The ONNX graph inside an imported bundle, checked against its digest (BundleError if it was altered)."""
    numpy_st = require("safetensors.numpy")
    try:
        graph = numpy_st.load_file(str(path))[GRAPH_TENSOR].tobytes()
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for damaged files
        raise BundleError(f"The ONNX graph in bundle '{path}' cannot be read ({exc}); copy the bundle again or "
                          f"import the model again.") from exc
    if hashlib.sha256(graph).hexdigest() != metadata.weights_sha256:
        raise BundleError(f"The ONNX graph in bundle '{path}' does not match its checksum: the file was altered or "
                          f"damaged. Copy the bundle again or import the model again.")
    return graph


def read_graph_file(path: str | os.PathLike) -> bytes:
    """An ONNX file's bytes (BundleError naming it when it is not a readable file)."""
    path = Path(path)
    check_input_file(path, "ONNX model", give="an .onnx file", suffixes=ONNX.suffixes)
    if not path.is_file():
        raise BundleError(f"ONNX model '{path}' does not exist; give the .onnx file to import.")
    return path.read_bytes()


def import_record(data: DataMetadata) -> dict[str, Any]:
    """What the import recorded of a model made elsewhere (band names, scaling, source, ...); empty for our own."""
    return dict(data.extra.get("imported") or {})


def check_imported_bundle(metadata: BundleMetadata, path: str | os.PathLike) -> None:
    """The description an imported bundle carries, checked as the import checks it: one written by an older
    import, or edited, is refused before it is run, naming the bundle and the value."""
    data = metadata.data
    record = import_record(data)
    checked_values({"class_names": list(data.class_names), "tile_size": data.tile_size,
                    **{key: record.get(key) for key in ("band_names", "scale", "mean", "std", "overlap", "border")},
                    "resolution": record.get("resolution_m")},
                   Origin(f"{Path(path).name} (imported description)", keys={"resolution": "resolution_m"}))


def description_from(values: dict[str, Any], base: ImportedDescription | None, origin: Origin,
                     graph_bands: int | None) -> ImportedDescription:
    """``base`` (or a new description) with ``values`` (a sidecar file's or the command line's) set, each checked
    (``origin`` names the file and its keys, or the flags). Without a base, ``class_names`` and the band count are
    needed (``bands``, else as many as ``mean`` has, else ``graph_bands``, a fixed band axis); mean and std default
    to 0 and 1."""
    names = {f.name for f in dataclasses.fields(ImportedDescription)} - {"notes", "origins", "assumed"}
    if unknown := sorted(set(values) - names):
        raise ConfigError(f"{origin.where} has unknown key(s) {unknown}; the keys are {sorted(names)}.")
    values = {k: v for k, v in checked_values(values, origin).items() if v is not None}
    named = {k: origin.name(k) for k in values}
    if base is not None:
        return dataclasses.replace(base, **values, origins={**base.origins, **named})
    bands = (values.get("bands") or len(values.get("mean") or values.get("std") or values.get("band_names") or [])
             or graph_bands)
    if not bands or not values.get("class_names"):
        raise ConfigError(f"{origin.where} needs the class names, and the band count where the graph does not fix "
                          f"it (bands, or mean/std per band); a model without Deepness's metadata cannot say them "
                          f"itself.")
    values.setdefault("mean", [0.0] * int(bands))
    values.setdefault("std", [1.0] * int(bands))
    return ImportedDescription(**{**values, "bands": int(bands)}, origins=named)


def sidecar_of(path: str | os.PathLike) -> Path | None:
    """The description file beside an ONNX model (``MODEL.onnx.json`` or ``MODEL.json``), when there is one."""
    path = Path(path)
    return next((c for c in (path.with_name(path.name + ".json"), path.with_suffix(".json")) if c.is_file()), None)


def description_values(path: str | os.PathLike, what: str = "The model description") -> dict[str, Any]:
    """The JSON object of description keys in file ``path`` (ConfigError naming it, as ``what``, otherwise)."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{what} '{path}' cannot be read ({exc}); it must be a JSON object of description keys "
                          f"(bands, class_names, mean, std, scale, ...).") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{what} '{path}' holds {type(values).__name__}, not a JSON object.")
    return values


def graph_bands(session: Any, values: dict[str, Any]) -> int | None:
    """The band count a graph's input fixes, on the channel axis of the layout ``values`` give (None: dynamic)."""
    shape = session.get_inputs()[0].shape
    return _axis(tuple(shape), 3 if values.get("layout") == "NHWC" else 1) if len(shape) == 4 else None
