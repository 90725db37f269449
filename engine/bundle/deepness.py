"""Deepness's model metadata read back: the description of an ONNX segmentation model made for Deepness.

Deepness (PUTvision/qgis-plugin-deepness) stores JSON values under ``metadata_props``: ``model_type``,
``class_names`` (``{"0": name, ...}``; older models ``names``, or Python dict literals), ``resolution`` (cm per
pixel), ``tile_size`` / ``tiles_size``, ``tiles_overlap`` (percent), ``standardization_mean`` / ``_std`` and
``seg_thresh``. It feeds the graph ``(raw / 255 - mean) / std`` with mean 0 and std 1 when none are given, and
reads its output as probabilities (one channel: sigmoid, background implied). The same rules hold here, so a
model from Deepness's zoo gives the same classes here as in Deepness.

A graph with no metadata at all runs as Deepness runs it (:func:`undescribed_description`), each assumption said.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from ..config.inference import DEFAULT_OVERLAP
from ..errors import BundleError
from ..io.formats import BUNDLE
from .imported import ImportedDescription, graph_info
from .validate import Origin, checked_values

DEEPNESS_MODEL_TYPE = "Segmentor"
UNDESCRIBED_THRESHOLD = 0.5  # Deepness's default probability threshold
SEGMENTATION_TYPES = (DEEPNESS_MODEL_TYPE, "Segmentation", "segmentation")
PIXEL_SCALE = 255.0  # Deepness divides raw values by this before standardising


def _value(props: dict[str, str], key: str) -> Any:
    text = props.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(text)  # Deepness accepts Python literals for class names
        except (ValueError, SyntaxError):
            return text


def has_deepness_metadata(props: dict[str, str]) -> bool:
    """Whether an ONNX file's metadata says what Deepness needs to run it as a segmentation model."""
    return "class_names" in props or "names" in props or "model_type" in props


def _class_names(props: dict[str, str], source: str) -> list[str] | None:
    names = _value(props, "class_names" if "class_names" in props else "names")
    if names is None:
        return None
    if isinstance(names, list) and names and isinstance(names[0], dict):
        names = names[0]  # one dict per output; the first output is the one run
    if isinstance(names, list):
        return [str(n) for n in names]
    if not isinstance(names, dict):
        raise BundleError(f"The class names in '{source}' are {names!r}, not a mapping of class number to name.")
    try:
        ordered = sorted((int(k), str(v)) for k, v in names.items())
    except ValueError as exc:
        raise BundleError(f"The class names in '{source}' have keys that are not class numbers: "
                          f"{list(names)}.") from exc
    if [k for k, _ in ordered] != list(range(len(ordered))):
        raise BundleError(f"The class names in '{source}' are not numbered 0, 1, 2, ... without gaps: "
                          f"{[k for k, _ in ordered]}.")
    return [v for _, v in ordered]


def deepness_description(session: Any, source: str) -> ImportedDescription:
    """The description of the model open in ``session``, whose metadata is Deepness's (:func:`has_deepness_metadata`;
    BundleError where it is no segmentation model or says too little)."""
    props = dict(session.get_modelmeta().custom_metadata_map)
    model_type = _value(props, "model_type")
    if model_type is not None and model_type not in SEGMENTATION_TYPES:
        raise BundleError(f"The ONNX model '{source}' is a Deepness '{model_type}' model; only segmentation models "
                          f"(model_type {DEEPNESS_MODEL_TYPE}) can be run.")
    graph = graph_info(session, source)
    bands = graph.input_shape[1]
    if not isinstance(bands, int):
        raise BundleError(f"The ONNX model '{source}' does not fix its band count (input shape {graph.input_shape});"
                          f" import it with `dualstream import` and its description.")
    notes = []
    one_channel = len(graph.output_shape) == 3 or graph.output_shape[1] == 1
    names = _class_names(props, source)
    if names is None:
        names = [f"class {i}" for i in range(2 if one_channel else int(graph.output_shape[1]))]
        notes.append("no class names in the model; numbered ones are used")
    if one_channel and len(names) == 1:
        names = ["background", names[0]]  # as Deepness does for a sigmoid output
    mean, std = _value(props, "standardization_mean"), _value(props, "standardization_std")
    if mean is None or std is None:
        mean, std = [0.0] * bands, [1.0] * bands
        notes.append("no standardization in the model: its input is the raw values / 255, as in Deepness")
    tile_key = "tile_size" if _value(props, "tile_size") is not None else "tiles_size"
    origin = Origin(f"{Path(source).name} (Deepness metadata)",
                    keys={"tile_size": tile_key, "overlap": "tiles_overlap / 100", "resolution": "resolution / 100",
                          "threshold": "seg_thresh", "mean": "standardization_mean", "std": "standardization_std",
                          "class_names": "class_names" if "class_names" in props else "names"})
    values = {"class_names": names, "mean": mean, "std": std, "tile_size": _value(props, tile_key),
              "overlap": _per_cent(_value(props, "tiles_overlap")),
              "resolution": _per_cent(_value(props, "resolution")), "threshold": _value(props, "seg_thresh")}
    given = {k: v for k, v in checked_values(values, origin).items() if v is not None}
    return ImportedDescription(bands=int(bands), scale=1.0 / PIXEL_SCALE, output="probabilities", notes=notes,
                               origins={k: origin.name(k) for k in given}, **given)


def _per_cent(value: Any) -> Any:
    """Deepness's percent (overlap) and centimetres (resolution) as fractions and metres; other types as they
    are (the check names them)."""
    return value / 100 if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def undescribed_description(session: Any, source: str) -> ImportedDescription:
    """The description of an ONNX graph that carries none, as Deepness runs it: the raw values / 255 (NCHW), classes
    named by output channel, per-class scores (the highest at or above 0.5, class 0 where none is), the graph's
    fixed tile or 512 px; ``assumed`` lists each in words. BundleError where the graph does not fix its band or
    class count."""
    name = Path(source).name
    better = (f"describe it in {name}.json beside it (bands, class_names, mean, std, scale, output, layout; see "
              f"`dualstream import --help`) or import it with its description")
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise BundleError(f"The ONNX model '{source}' carries no description and has {len(inputs)} inputs "
                          f"({', '.join(i.name for i in inputs)}); a model made elsewhere runs with one image input "
                          f"only (a DualStream export carries its own description: export the bundle again).")
    graph = graph_info(session, source)
    shape, out = graph.input_shape, graph.output_shape
    bands = shape[1]
    if all(isinstance(v, int) for v in shape[1:]) and shape[1] == shape[2] != shape[3]:
        raise BundleError(f"The ONNX model '{source}' carries no description and its input shape {list(shape)} "
                          f"looks like (batch, height, width, bands), NHWC, not the NCHW Deepness assumes; "
                          f"{better}, giving \"layout\": \"NHWC\".")
    if not isinstance(bands, int) or bands < 1:
        raise BundleError(f"The ONNX model '{source}' carries no description and does not fix its band count (input "
                          f"shape {list(shape)}); {better}.")
    channels = 1 if len(out) == 3 else out[1]
    if not isinstance(channels, int) or channels < 1:
        raise BundleError(f"The ONNX model '{source}' carries no description and does not fix its class count "
                          f"(output shape {list(out)}); {better}.")
    names = ["background", "channel 0"] if channels == 1 else [f"channel {i}" for i in range(channels)]
    outputs = session.get_outputs()
    tile = (f"tiles of {shape[2]} px (fixed by the graph)" if isinstance(shape[2], int) and shape[2] == shape[3]
            else "tiles of 512 px (the graph takes any size)")
    reading = ("one output channel: a score from 0 to 1, class 'channel 0' at or above 0.5, background below"
               if channels == 1 else
               f"{channels} output channels: scores from 0 to 1 each, a pixel's class the highest at or above 0.5, "
               f"'channel 0' where none reaches it")
    assumed = [f"input: the image's first {bands} band(s) in order, the raw values / 255 (mean 0, std 1), NCHW",
               f"classes named by output channel: {', '.join(names)}",
               reading,
               f"{tile} overlapping by {100 * DEFAULT_OVERLAP:g} % (segment's default), the image read at its own "
               f"pixel size (no resolution recorded)"]
    if len(outputs) > 1:
        assumed.append(f"the first of its {len(outputs)} outputs ('{graph.output_name}') is run; give output_name "
                       f"in {name}.json for another")
    return ImportedDescription(bands=bands, class_names=names, mean=[0.0] * bands, std=[1.0] * bands,
                               scale=1.0 / PIXEL_SCALE, output="scores", threshold=UNDESCRIBED_THRESHOLD,
                               notes=[assumptions_said(source, assumed)], assumed=assumed)


def assumptions_said(source: str, assumed: list[str]) -> str:
    """The log's sentence for a model run with Deepness's defaults: what was assumed, and how to do better."""
    name = Path(source).name
    better = (f"describe it in {name}.json beside it and run it again (or import it with its description)"
              if not BUNDLE.matches(name) else "import its graph again with its description")
    return (f"The model '{name}' carries no description (no DualStream or Deepness metadata, no description file "
            f"beside it), so it runs as Deepness runs such a model, assuming: {'; '.join(assumed)}. Where these "
            f"are wrong, {better}.")
