"""Prompts from a vector layer (or a text) over one window -> a GeoPackage of labels: the ``label`` job.

Points are clicks (a field ``label`` of 0 marks a point that is not the object; points sharing a value of a field
``prompt`` form one prompt, else each point is one), polygons and lines give their bounding box as a box prompt.

Progress is one count (``Stage.LABEL``) over the whole run: the steps to the embedding (the slow part on a CPU)
its first share, :data:`EMBED_SHARE`, then each prompt, so a front end's bar moves through the embedding too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..callbacks import Callback, PartProgress, Stage
from ..config.proposals import PromptedConfig
from ..data.reproject import crs_label
from ..data.vector_layer import VectorLayer
from ..errors import DataError, mention
from ..io.geopackage import write_layer
from ..io.safety import RASTER_GIVE, Files, check_outputs, check_writable
from ..runtime.environment import require
from .session import OutsideWindowError, PromptAnswer, open_session

FIELDS = (("class_id", "OFTInteger"), ("class_name", "OFTString"), ("score", "OFTReal"), ("prompt", "OFTInteger"),
          ("prompt_kind", "OFTString"), ("model", "OFTString"))


@dataclass
class Prompt:
    """One prompt in map coordinates of ``crs``: points with labels, or a box."""

    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    crs: str = ""


@dataclass
class LabelResult:
    """What ``label`` wrote and what was said."""

    output: str
    polygons: int
    answers: list[tuple[int, PromptAnswer]]
    embed_seconds: float
    said: list[str]


EMBED_SHARE = 0.6  # of the progress, the steps to the embedding; the prompts take the rest, one step each
#: the words a text ``label`` field may hold for a point on the object (1) or not on it (0)
LABEL_WORDS = {"1": 1, "true": 1, "yes": 1, "y": 1, "object": 1, "0": 0, "false": 0, "no": 0, "n": 0,
               "background": 0}


def point_label(value: Any, source: str, field_said: str = "") -> int:
    """A point's ``label`` value as 1 (the object) or 0 (not); DataError otherwise (``field_said``: the field, its
    type and the values it takes, for the message)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return 1 if value else 0
    word = str(value).strip().lower()
    if word in LABEL_WORDS:
        return LABEL_WORDS[word]
    raise DataError(f"The prompts layer '{source}' has the label {value!r} on a point{field_said}; give 1 (or yes, "
                    f"true) for a point on the object and 0 (no, false) for one that is not.")


def _field_said(layer: VectorLayer, name: str, values: dict[str, None]) -> str:
    """' (field label, of type String, taking 'no', 'yes')': what a message says of a field and its values."""
    definition = layer.layer.GetLayerDefn()
    kind = definition.GetFieldDefn(definition.GetFieldIndex(name)).GetTypeName()
    taken = ", ".join(list(values)[:8]) + (", ..." if len(values) > 8 else "")
    return f" (field {name}, of type {kind}, taking {taken})"


def _check_degrees(path: str, ref: Any, prompts: list[Prompt]) -> None:
    """A layer in a geographic CRS whose coordinates are no degrees (a GeoPackage layer of srs_id 0, 'Undefined
    geographic SRS', given in metres) refused, naming the CRS and a point: PROJ alone says 'Invalid coordinate'."""
    if ref is None or not ref.IsGeographic():
        return
    for prompt in prompts:
        box = prompt.box or ()
        for x, y in [*prompt.points, *zip(box[::2], box[1::2])]:
            if not (-360 <= x <= 360 and -90 <= y <= 90):
                undefined = " (a GeoPackage layer of srs_id 0: no CRS was set)" if "undefined" in (
                    ref.GetName() or "").lower() else ""
                raise DataError(
                    f"The prompts layer '{path}' is in {crs_label(ref)}{undefined}, whose coordinates are degrees, "
                    f"but it has a point at {x:.10g}, {y:.10g}, which is no longitude and latitude. Set the layer's "
                    f"CRS to the one its coordinates are in (QGIS: Layer Properties > Source > Assigned CRS, then "
                    f"save it; or `ogr2ogr -a_srs EPSG:XXXX fixed.gpkg '{path}'`) and run it again.")


def read_prompts(path: str) -> list[Prompt]:
    """The prompts of a vector layer (``|layername=``, ``|subset=`` honoured)."""
    ogr = require("osgeo.ogr")
    with VectorLayer(path, "prompts layer") as layer:
        crs, ref = layer.crs_wkt(), layer.srs()
        label_field, prompt_field = layer.field("label"), layer.field("prompt")
        values = {repr(v): None for f in layer if label_field and (v := f.GetField(label_field)) is not None}
        field_said = _field_said(layer, label_field, values) if label_field else ""
        groups: dict[Any, Prompt] = {}
        prompts: list[Prompt] = []
        keys: list[Any] = []  # each prompt's value of the field prompt (None: a point or a box of its own)
        for feature in layer:
            geometry = feature.GetGeometryRef()
            if geometry is None or geometry.IsEmpty():
                continue
            if ogr.GT_Flatten(geometry.GetGeometryType()) in (ogr.wkbPoint, ogr.wkbMultiPoint):
                value = feature.GetField(label_field) if label_field else None
                label = 1 if value is None else point_label(value, path, field_said)
                key = feature.GetField(prompt_field) if prompt_field else None
                prompt = groups.setdefault(key, Prompt(crs=crs)) if key is not None else Prompt(crs=crs)
                if key is None or prompt not in prompts:
                    prompts.append(prompt)
                    keys.append(key)
                parts = [geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())] or [geometry]
                prompt.points += [(point.GetX(), point.GetY()) for point in parts]
                prompt.labels += [label] * len(parts)
            else:
                xmin, xmax, ymin, ymax = geometry.GetEnvelope()
                prompts.append(Prompt(box=(xmin, ymin, xmax, ymax), crs=crs))
                keys.append(None)
    if not prompts:
        raise DataError(f"The prompts layer '{path}' has no points or polygons; draw at least one.")
    negative = [n for n, p in enumerate(prompts, start=1) if p.points and 1 not in p.labels]
    if negative:
        group = keys[negative[0] - 1]
        alone = ("the layer has no field prompt, so each point is a prompt of its own: give the points of one object "
                 "one value in an integer field prompt, so that its points labelled 0 go with its point labelled 1"
                 if not prompt_field else f"give the points of {prompt_field} = {group!r} a point labelled 1 too, or "
                 f"leave them out")
        raise DataError(f"{len(negative)} prompt(s) of '{path}' (number {', '.join(map(str, negative[:10]))}) have "
                        f"only points labelled 0, not on the object{field_said}, read as 1 for 1/yes/true/y/object "
                        f"and 0 for 0/no/false/n/background; {alone}. A prompt needs at least one point on the "
                        f"object.")
    _check_degrees(path, ref, prompts)
    return prompts


def label_with_prompts(cfg: PromptedConfig, callback: Callback | None = None) -> LabelResult:
    """Embed ``cfg.image`` over ``cfg.extent`` once, answer every prompt (or the text), write ``cfg.output``.

    Raises DataError (no prompt, every prompt outside the window, unreadable inputs), ModelError (no model, or one
    that does not take this kind of prompt) or OutputError.
    """
    callback = callback or Callback()
    if not cfg.output:
        raise DataError(f"Give {mention('label.output')}: the GeoPackage to write.")
    if not cfg.prompts and not cfg.text.strip():
        raise DataError(f"Give {mention('label.prompts')} (points or polygons) or {mention('label.text')} (SAM 3).")
    inputs = {f"image ({mention('label.image')})": Files([cfg.image], give=RASTER_GIVE)}
    if cfg.prompts:
        inputs[f"prompts layer ({mention('label.prompts')})"] = Files([cfg.prompts], give="a GeoPackage")
    check_outputs(inputs, {f"polygons ({mention('label.output')})": Files([cfg.output], "gpkg")})
    check_writable(cfg.output, f"polygons ({mention('label.output')})")
    prompts = read_prompts(cfg.prompts) if cfg.prompts else []
    callback.progress(0, 1, Stage.LABEL)
    steps = PartProgress(callback, Stage.LABEL, 0, 1, {Stage.EMBED: (0.0, EMBED_SHARE)})
    session = open_session(cfg.image, cfg.extent, cfg.model, extent_crs=cfg.extent_crs or "", bands=cfg.bands,
                           device=cfg.device, callback=steps, pixel_size=cfg.pixel_size)
    for line in session.said:
        callback.info(line)
    name = cfg.class_name or cfg.text.strip() or "object"
    asks = [(0, {"text": cfg.text})] if cfg.text.strip() else []  # the text is number 0, the prompts from 1
    asks += [(n, asdict(p)) for n, p in enumerate(prompts, start=1)]  # points, labels, box, crs
    answers: list[tuple[int, PromptAnswer]] = []
    outside: list[int] = []
    for done, (number, ask) in enumerate(asks, start=1):
        callback.check_canceled()
        try:
            answers += [(number, a) for a in session.predict(class_name=name, treatment=cfg.treatment,
                                                             min_pixels=cfg.min_pixels, **ask)]
        except OutsideWindowError:
            outside.append(number)
        steps.at(EMBED_SHARE + (1 - EMBED_SHARE) * done / len(asks))
    if outside:
        if len(outside) == len(prompts) and not cfg.text.strip():
            raise DataError(f"None of the {len(prompts)} prompt(s) of '{cfg.prompts}' lies inside the window of "
                            f"'{cfg.image}'; give {mention('label.extent')} over them (in the prompts' CRS with "
                            f"{mention('label.extent_crs')}), or check the layer's CRS.")
        callback.warning(f"{len(outside)} of {len(prompts)} prompt(s) lie outside the window and were left out "
                         f"(numbers {', '.join(map(str, outside[:10]))}{', ...' if len(outside) > 10 else ''}).")
    count = write_layer(cfg.output, session.crs, FIELDS, (
        (polygon.wkt, (int(cfg.class_value), name, round(float(answer.score), 4), number,
                       "text" if number == 0 else "prompt", session.model.source))
        for number, answer in answers for polygon in answer.polygons))
    steps.at(1.0)
    return LabelResult(cfg.output, count, answers, session.embed_seconds, session.said)
