"""A model card catalogues can read: a STAC Item with the Machine Learning Model extension (MLM v1.5).

From the bundle's own metadata, without torch: one ``mlm:input`` per stream (the vision bands; the aux or X
stream with its grid ratio) with its shape, dim order, data type and per-band value scaling; one ``mlm:output``
with the classes; the bundle (and an ONNX export) as assets. Band names are those the bundle records, else the
image's band numbers (``band4``).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from ..bundle.schema import BundleMetadata
from ..bundle.store import read_metadata
from ..bundle.view import model_view
from ..config.output_kinds import OUTPUT_KINDS
from ..data.labels import transition_of
from ..data.metadata import DataMetadata
from ..data.normalize import BandStatistics
from ..errors import ConfigError
from ..io.atomic import write_text_atomic
from ..io.formats import JSON, json_safe
from ..models.configuration_utils import family_card
from ..models.encoders.weights import model_encoder, pretrained_source
from ..runtime.environment import require

MLM_SCHEMA = "https://stac-extensions.github.io/mlm/v1.5.2/schema.json"
STAC_VERSION = "1.1.0"  # 1.1: band names described by the core 'bands' field


def total_parameters(bundle: str | os.PathLike) -> int:
    """The number of weights in the bundle, from the safetensors header (no tensor is read)."""
    safetensors = require("safetensors")
    with safetensors.safe_open(str(bundle), framework="numpy") as handle:
        return sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())


def _band_names(data: DataMetadata) -> tuple[list[str], list[str]]:
    """Names of the vision bands and of the second stream's channels, in model order."""
    view = model_view(data)
    vision = view.band_names or [f"band{b}" for b in data.bands or range(1, data.vision_bands + 1)]
    if view.imported:
        return vision, []
    if data.x_bands:
        return vision, [f"band{b}" for b in data.x_bands]
    file_bands = data.aux_file_bands
    if file_bands and sum(file_bands) == data.aux_channels:
        return vision, [f"aux{i}_band{b}" for i, count in enumerate(file_bands, 1) for b in range(1, count + 1)]
    return vision, [f"aux_channel{c}" for c in range(1, data.aux_channels + 1)]


def _value_scaling(stats: BandStatistics) -> list[dict[str, Any]]:
    """MLM scaling objects, one per band: min-max for the percentile method (clipped to 0..1 after), z-score."""
    if stats.method == "percentile":
        return [{"type": "min-max", "minimum": float(lo), "maximum": float(hi)}
                for lo, hi in zip(stats.low, stats.high)]
    return [{"type": "z-score", "mean": float(mean), "stddev": float(std)}
            for mean, std in zip(stats.low, stats.high)]


def _scaling_words(stats: BandStatistics) -> str:
    if stats.method == "percentile":
        return ("each band scaled by min-max between its training 2nd and 98th percentiles, then clipped to 0..1; "
                "nodata, NaN and infinite pixels set to 0")
    return "each band standardised by its training mean and standard deviation; nodata pixels set to 0"


def _stream(name: str, description: str, bands: list[str], channels: int, size: int, stats: BandStatistics | None,
            resize: str | None = None) -> dict[str, Any]:
    tensor = {"shape": [-1, channels, size, size], "dim_order": ["batch", "bands", "height", "width"],
              "data_type": "float32"}
    return {"name": name, "description": description, "bands": bands, "input": tensor,
            "value_scaling": _value_scaling(stats) if stats else None, "resize_type": resize}


def _inputs(data: DataMetadata, tile: int) -> list[dict[str, Any]]:
    vision_names, aux_names = _band_names(data)
    gsd = data.gsd
    # without a CRS the training pixel size (1 x 1) is no size on the ground
    where = f" at {gsd[0]:g} x {gsd[1]:g} map units per pixel" if gsd and data.crs else \
        " without georeferencing (pixel size unknown)" if gsd else ""
    low_high = model_view(data).value_range  # the raw values it expects, where recorded (segment rescales or warns)
    expected = f"; raw values expected in {float(low_high[0]):g}..{float(low_high[1]):g}" if low_high else ""
    image = f"bands {','.join(map(str, data.bands))} of a {data.image_bands}-band image" \
        if data.bands else f"a {data.vision_bands}-band image"
    inputs = [_stream("vision", f"The imagery: {image}{where}; {_scaling_words(data.vision_stats)}{expected}.",
                      vision_names, len(vision_names), tile, data.vision_stats)]
    channels = data.aux_channels
    if channels:
        ratio = data.aux_ratio or 1
        if data.x_bands:
            source = f"the X modality: bands {','.join(map(str, data.x_bands))} of the same image"
        else:
            files = ", ".join(f"file {i} ({n} band{'s' if n != 1 else ''})"
                              for i, n in enumerate(data.aux_file_bands, 1))
            source = "auxiliary rasters in this order: " + (files or f"{channels} channels")
        grid = (f"warped bilinearly onto a grid {ratio} times coarser than the tile ({tile // ratio} px)"
                if ratio > 1 else "on the tile's own grid")
        stats = data.aux_stats
        inputs.append(_stream("aux", f"The second stream: {source}; {grid}" + (
            f"; {_scaling_words(stats)}." if stats else "."), aux_names, channels, tile // ratio, stats,
            "interpolation-linear" if ratio > 1 else None))
    return inputs


def _raw_order(key: str) -> tuple[int, float, str]:
    """Label values in order: numbers by value (2 before 10), then texts (transitions, names) alphabetically."""
    try:
        return 0, float(key), ""
    except ValueError:
        return 1, 0.0, key


def _classes(data: DataMetadata) -> list[dict[str, Any]]:
    mapping = data.label_mapping or {}
    out = []
    for value, (name, colour) in enumerate(zip(data.class_names, data.class_colors)):
        raw = sorted((str(k) for k, v in mapping.items() if int(v) == value), key=_raw_order)
        if raw and all(transition_of(k)[0] for k in raw):  # from-to labels: "forest → bare"
            label = f"the transition(s) {', '.join(raw)} of the from-to training labels"
        else:
            label = f"label value(s) {', '.join(raw)} in the training labels" if raw else "no label value"
        out.append({"value": value, "name": str(name), "description": f"{name} ({label})",
                    "color_hint": str(colour).lstrip("#").lower()})
    return out


def _output(meta: BundleMetadata, tile: int) -> dict[str, Any]:
    classes = meta.model.num_classes
    activation = "the probability of class 1 (sigmoid)" if classes == 1 else "one probability per class (softmax)"
    return {
        "name": "probabilities",
        "description": f"Per-pixel class probabilities at the tile's resolution: {activation}. DualStream blends "
                       f"overlapping tiles and writes {'; '.join(kind.card for kind in OUTPUT_KINDS)}.",
        "tasks": ["semantic-segmentation"],
        "result": {"shape": [-1, classes, tile, tile], "dim_order": ["batch", "class", "height", "width"],
                   "data_type": "float32"},
        "classification:classes": _classes(meta.data),
        "post_processing_function": None,
    }


def _mlm_name(family: str, preset: str | None, stem: str) -> str:
    """``family preset stem`` in the characters MLM allows (a letter first, a letter or digit last)."""
    name = re.sub(r"[^a-zA-Z0-9_.\-\s]+", "-", f"{family} {preset or ''} {stem}")
    name = re.sub(r"\s+", " ", name).strip(" -_.")
    return name if re.match(r"^[a-zA-Z]", name) else f"model {name}"


def model_card(bundle: str | os.PathLike, onnx: str | os.PathLike | None = None,
               relative_to: str | os.PathLike | None = None) -> dict[str, Any]:
    """The STAC MLM item of ``bundle`` (and of its ONNX export ``onnx``); asset links relative to ``relative_to``."""
    meta = read_metadata(bundle)
    data, model, train = meta.data, meta.model, meta.train_config()
    tile = data.tile_size
    base = Path(relative_to) if relative_to else Path(bundle).resolve().parent

    def href(path: str | os.PathLike) -> str:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()

    family, preset = model.name, model.preset
    card = family_card(family)  # None for a family this version does not know: its name stands in
    architecture = getattr(model, "architecture", None) or (  # what an imported model is called
        card.architecture if card is not None else family)
    paper = f" ({card.citation})" if card is not None and card.citation else ""
    pretrained = pretrained_source(model.pretrained or getattr(model, "vision_encoder_pretrained", None),
                                   model_encoder(model)).said()
    imported = model_view(data).record
    made = (f"made elsewhere ({imported.get('source') or imported.get('source_file')}) and imported into DualStream"
            f" for QGIS" if imported else
            f"trained with DualStream for QGIS on {data.train_scenes or '?'} scene(s)")
    properties: dict[str, Any] = {
        "description": f"{architecture} ({preset or 'custom'}) semantic segmentation model{paper}, {made}.",
        "datetime": meta.created,
        "mlm:name": _mlm_name(family, preset, Path(bundle).stem),
        "mlm:architecture": architecture,
        "mlm:tasks": ["semantic-segmentation"],
        "mlm:framework": card.framework if card is not None else "pytorch",
        "mlm:framework_version": str(imported.get("onnx_version", "unknown") if imported else
                                     meta.versions.get("torch", "unknown")),
        "mlm:total_parameters": imported.get("parameters") if imported else total_parameters(bundle),
        "mlm:pretrained": bool(pretrained),
        "mlm:pretrained_source": str(pretrained) if pretrained else None,
        "mlm:batch_size_suggestion": train.batch_size if train is not None else 1,
        "mlm:accelerator": None,
        "mlm:accelerator_constrained": False,
        "mlm:input": _inputs(data, tile),
        "mlm:output": [_output(meta, tile)],
        "mlm:hyperparameters": json_safe({"family": family, "preset": preset, **({} if train is None else {
            k: getattr(train, k) for k in ("epochs", "learning_rate", "optimizer", "schedule", "batch_size")})}),
        "bands": [{"name": name} for stream in _inputs(data, tile) for name in stream["bands"]],
    }
    if meta.parent:
        properties["description"] += f" Fine-tuned from {meta.parent.get('name')}."
        properties["dualstream:parent"] = json_safe(dict(meta.parent))
    if meta.metrics:
        properties["dualstream:validation"] = json_safe(
            {k: v for k, v in meta.metrics.items() if k in ("epoch", "val_iou", "val_miou", "val_pixel_accuracy")})
    assets = {key: {"href": href(path), "title": title, "type": f"application/octet-stream; application={kind}",
                    "roles": roles, "mlm:artifact_type": kind}
              for key, path, title, kind, roles in (
                  ("model", bundle, "DualStream model bundle (safetensors weights + JSON metadata)", "safetensors",
                   ["mlm:model", "mlm:weights"]),
                  ("onnx", onnx, "ONNX export (normalised tiles in, class probabilities out)", "onnx", ["mlm:model"]))
              if path is not None}
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [MLM_SCHEMA],
        "id": Path(bundle).stem,
        "geometry": None,
        "properties": properties,
        "links": [],
        "assets": assets,
    }


def write_model_card(bundle: str | os.PathLike, output: str | os.PathLike,
                     onnx: str | os.PathLike | None = None) -> str:
    """Write :func:`model_card` to ``output`` (.json); asset links relative to its folder."""
    output = Path(output)
    if not JSON.matches(output):
        raise ConfigError(f"The STAC item '{output}' must end in .json; for example --stac model_stac.json.")
    card = model_card(bundle, onnx, relative_to=output.resolve().parent)
    write_text_atomic(output, json.dumps(card, indent=2, allow_nan=False) + "\n")
    return str(output)
