"""``propose``: candidate labels in the windows ``suggest`` ranked, for the user to accept or correct.

For each window the current model segments the window afresh (:func:`engine.segment.segment` over its extent: the
same checks, tiling and units as ``segment``); each 8-connected blob of a class other than 0 at least
``min_pixels`` large becomes a box prompt Segment Anything answers through the ``label`` job's session (the window
embedded once); with a text (SAM 3) the text is the prompt instead. Every polygon goes to ONE GeoPackage layer (a
window's proposals cut at its edge).

The windows are read back from ``suggest``'s layer (:func:`read_windows`, also for ``accept``) by their fields'
names, so a layer the user edited or copied (QGIS keeps the fields) serves as well.

Progress is one count of windows (``Stage.PROPOSE``), each window's share moving on as its steps end (the model's
tiles, the embedding, each prompt): the segment run inside reports there, never under its own stage, which would
sit at 100 % while Segment Anything worked.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import Callback, PartProgress, Stage
from ..config.proposals import ProposeConfig
from ..data.reproject import coordinate_transform, transform_geometry
from ..data.vector_layer import VectorLayer, ogr_osr, whole_number
from ..errors import ConfigError, DataError, mention
from ..io.atomic import temporary_folder
from ..io.geopackage import spatial_ref, write_layer
from ..io.safety import BUNDLE_GIVE, RASTER_GIVE, Files, check_outputs, check_writable
from ..runtime.environment import require
from .session import clip, open_session

FIELDS = (("window", "OFTInteger"), ("class_id", "OFTInteger"), ("class_name", "OFTString"),
          ("model_prob", "OFTReal"), ("sam_score", "OFTReal"), ("prompt", "OFTString"), ("scene", "OFTString"),
          ("sam_model", "OFTString"))
SEGMENT_SHARE, EMBED_SHARE = 0.3, 0.2  # of a window's progress; its prompts take the rest, one step each


@dataclass
class Window:
    """One suggested window: its rank (the loop's window id), scene, outline (WKT) and bounds in ``crs``."""

    rank: int
    scene: str
    wkt: str
    bounds: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    crs: str
    size: int | None = None  # pixels across (suggest's size_px), when the layer says

    @property
    def inner_bounds(self) -> tuple[float, float, float, float]:
        """The bounds a thousandth of a pixel inside: the window's own pixels, not one more column or row where a bound
        computed in floating point lands a trifle past a pixel edge."""
        xmin, ymin, xmax, ymax = self.bounds
        if not self.size:
            return self.bounds
        dx, dy = 1e-3 * (xmax - xmin) / self.size, 1e-3 * (ymax - ymin) / self.size
        return xmin + dx, ymin + dy, xmax - dx, ymax - dy

    def in_crs(self, crs: str) -> Window:
        """This window in ``crs`` (WKT) by :func:`carry` (itself where that does not apply), so that a window written or
        saved in another CRS comes back to its scene's corners; DataError when it cannot be carried."""
        carried = carry([self.wkt], self.crs, crs, f"outline of window {self.rank} (windows layer)")
        if carried is None:
            return self
        xmin, xmax, ymin, ymax = carried[0].GetEnvelope()
        return replace(self, wkt=carried[0].ExportToWkt(), bounds=(xmin, ymin, xmax, ymax), crs=crs)


def carry(wkts: list[str], crs: str, target: str, what: str) -> list[Any] | None:
    """The OGR geometries ``wkts`` carried from ``crs`` into ``target`` vertex by vertex; None when either CRS is empty
    or they are the same. DataError naming ``what`` when one cannot be carried."""
    ogr, _ = ogr_osr()
    source, dest = spatial_ref(crs), spatial_ref(target)
    if source is None or dest is None or source.IsSame(dest):
        return None
    transform = coordinate_transform(source, dest, what)
    geometries = [ogr.CreateGeometryFromWkt(wkt) for wkt in wkts]
    for geometry in geometries:
        transform_geometry(geometry, transform, source, dest, what)
    return geometries


def read_windows(source: str, ranks: list[int] | None = None) -> list[Window]:
    """The windows of ``source`` (all, or those of ``ranks`` in that order), outlines in the layer's CRS. DataError for
    a layer that is not suggest's, a rank that is no whole number, or a rank it does not hold."""
    with VectorLayer(source, "windows layer") as layer:
        names = layer.require_fields(("rank", "scene"), "give the layer suggest wrote (fields rank, scene, size_px).")
        size_field = layer.field("size_px")
        crs = layer.crs_wkt()
        found: dict[int, Window] = {}
        for feature in layer:
            geometry = feature.GetGeometryRef()
            rank = feature.GetField(names["rank"])
            if geometry is None or geometry.IsEmpty() or rank is None:
                continue
            advice = "give each window its rank as suggest wrote it."
            rank = whole_number(rank, f"A window's rank in '{source}'", advice)
            size = feature.GetField(size_field) if size_field else None
            size = whole_number(size, f"The size_px of window {rank} in '{source}'", advice) if size else None
            xmin, xmax, ymin, ymax = geometry.GetEnvelope()
            found[rank] = Window(rank, str(feature.GetField(names["scene"])), geometry.ExportToWkt(),
                                 (xmin, ymin, xmax, ymax), crs, size or None)
    if ranks is None:
        return [found[r] for r in sorted(found)]
    unknown = [r for r in ranks if r not in found]
    if unknown:
        raise DataError(f"The windows layer '{source}' has no window of rank {', '.join(map(str, unknown))} (it holds "
                        f"ranks {', '.join(map(str, sorted(found))) or 'none'}).")
    return [found[r] for r in dict.fromkeys(ranks)]


@dataclass
class Proposal:
    """One candidate label: a polygon (WKT in the layer's CRS) and what it came from."""

    window: int
    class_id: int
    class_name: str
    model_prob: float
    sam_score: float
    prompt: str  # "box N" (the model's N-th blob of the window) or "text"
    wkt: str
    scene: str = ""


@dataclass
class ProposeResult:
    """What ``propose`` wrote: the layer, its candidates, per window (rank, blobs, polygons) and notes."""

    output: str
    proposals: list[Proposal]
    windows: list[tuple[int, int, int]]
    notes: list[str] = field(default_factory=list)
    next_step: str = ""


def check_request(cfg: ProposeConfig) -> None:
    """What can be said before a model is loaded."""
    if not cfg.windows:
        raise ConfigError(f"propose needs the windows suggest wrote: give {mention('propose.windows')}.")
    if not cfg.models:
        raise ConfigError(f"propose needs the current model: give {mention('propose.models')} (a .dsmodel bundle).")
    if not cfg.output or Path(cfg.output).suffix.lower() != ".gpkg":
        raise ConfigError(f"Give {mention('propose.output')}: the GeoPackage (.gpkg) of proposals to write.")
    check_outputs({f"windows layer ({mention('propose.windows')})": Files([cfg.windows], give="a GeoPackage"),
                   f"model bundle ({mention('propose.models')})": Files(cfg.models, "bundle", give=BUNDLE_GIVE),
                   f"aux raster ({mention('propose.aux')})": Files(cfg.aux, give=RASTER_GIVE)},
                  {f"proposals ({mention('propose.output')})": Files([cfg.output], "gpkg")})
    check_writable(cfg.output, f"proposals ({mention('propose.output')})")
    from ..segment.relay import refuse_dated_models

    refuse_dated_models(cfg, list(cfg.models))


def propose(cfg: ProposeConfig, callback: Callback | None = None) -> ProposeResult:
    """Write ``cfg.output``: SAM's polygons for the model's blobs (or ``cfg.text``) in each window of ``cfg.windows``.
    Raises ConfigError or DataError (bad inputs, before any model runs), ModelError (SAM cannot be had or refuses)."""
    callback = callback or Callback()
    check_request(cfg)
    windows = read_windows(cfg.windows, cfg.ranks)
    if not windows:
        raise DataError(f"The windows layer '{cfg.windows}' holds no window; run suggest first.")
    work = temporary_folder(cfg.output, "propose")
    proposals: list[Proposal] = []
    counts: list[tuple[int, int, int]] = []
    notes: list[str] = []
    crs = ""
    try:
        for number, window in enumerate(windows):
            callback.check_canceled()
            callback.progress(number, len(windows), Stage.PROPOSE)
            steps = PartProgress(callback, Stage.PROPOSE, number, len(windows), {
                Stage.SEGMENT: (0.0, SEGMENT_SHARE), Stage.EMBED: (SEGMENT_SHARE, SEGMENT_SHARE + EMBED_SHARE)})
            found, blobs, scene_crs = _window(cfg, window, work / str(window.rank), steps)
            crs = crs or scene_crs  # the layer's: the first window's scene's, where the others are carried
            if found:  # a window with nothing to carry never needs its CRS transformed
                for proposal, geometry in zip(found, carry([p.wkt for p in found], scene_crs, crs,
                                                           f"proposals of window {window.rank}") or []):
                    proposal.wkt = geometry.ExportToWkt()  # carry gives None where the CRS is the same
            proposals += found
            counts.append((window.rank, blobs, len(found)))
            callback.info(f"Window {window.rank}: {blobs} blob(s) of the model, {len(found)} polygon(s) from SAM.")
            if not found:
                notes.append(f"Window {window.rank}: nothing proposed (the model sees no object there, or SAM drew "
                             f"no mask); accept it as all background, or label it by hand.")
        write_layer(cfg.output, crs, FIELDS, ((p.wkt, (p.window, p.class_id, p.class_name, p.model_prob, p.sam_score,
                                                       p.prompt, p.scene, cfg.sam_model)) for p in proposals))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    callback.progress(len(windows), len(windows), Stage.PROPOSE)
    step = (f"Next: look at '{cfg.output}' over the image, delete or redraw what is wrong (the field class_id "
            f"holds the class), then accept the windows you checked (accept: {mention('accept.proposals')} "
            f"'{cfg.output}', {mention('accept.windows')} '{cfg.windows}', {mention('accept.window_ids')} the "
            f"ranks): their polygons go to your labels, the windows to the labelled area.")
    return ProposeResult(cfg.output, proposals, counts, notes, step)


def _window(cfg: ProposeConfig, window: Window, folder: Path, callback: PartProgress) -> tuple[
        list[Proposal], int, str]:
    """The proposals of one window (polygons in its scene's CRS), its blob count and that CRS."""
    classes, probabilities, names, transform, scene_crs = _predict(cfg, window, folder, callback)
    callback.at(SEGMENT_SHARE)
    window = window.in_crs(scene_crs)  # the layer may be in another CRS (another scene's, or the user's)
    session = open_session(window.scene, window.inner_bounds, cfg.sam_model, extent_crs=window.crs, device=cfg.device,
                           callback=callback)
    callback.at(SEGMENT_SHARE + EMBED_SHARE)
    boxes = _blobs(classes, transform, cfg.min_pixels)  # in the scene's CRS, the model's class raster's
    prompts: list[tuple[str, int, dict[str, Any]]] = (
        [("text", text_class(cfg.text, names), {"text": cfg.text.strip()})] if cfg.text.strip()
        else [(f"box {i}", c, {"box": box, "crs": scene_crs}) for i, (c, box) in enumerate(boxes, start=1)])
    ogr = require("osgeo.ogr")
    frame = ogr.CreateGeometryFromWkt(window.wkt)
    found = []
    for step, (prompt, class_id, kwargs) in enumerate(prompts, start=1):
        callback.check_canceled()
        name = names[class_id] if class_id < len(names) else str(class_id)
        for answer in session.predict(class_name=name, treatment=cfg.treatment, min_pixels=cfg.min_pixels, **kwargs):
            for polygon in answer.polygons:
                geometry = clip(ogr.CreateGeometryFromWkt(polygon.wkt), frame)
                if geometry is None:
                    continue
                wkt = ogr.ForceToMultiPolygon(geometry).ExportToWkt()
                found.append(Proposal(window.rank, class_id, name, _mean(probabilities, class_id, wkt, transform),
                                      round(float(answer.score), 4), prompt, wkt, window.scene))
        callback.at(SEGMENT_SHARE + EMBED_SHARE + (1 - SEGMENT_SHARE - EMBED_SHARE) * step / len(prompts))
    return found, len(boxes), session.crs


def _predict(cfg: ProposeConfig, window: Window, folder: Path, callback: Callback) -> tuple[
        np.ndarray, np.ndarray, list[str], Any, str]:
    """The model's classes (H, W) and probabilities (C, H, W) over the window, its class names, transform and CRS."""
    import rasterio

    from ..segment.relay import read_probabilities, segment_for

    folder.mkdir(parents=True, exist_ok=True)
    result = segment_for(cfg, callback, image=window.scene, aux=list(cfg.aux), models=list(cfg.models),
                         output=str(folder / "classes.tif"), probabilities=str(folder / "p.tif"),
                         extent=list(window.inner_bounds), extent_crs=window.crs or None, tta="none",
                         device=cfg.device, backend=cfg.backend)
    with rasterio.open(result.output) as ds:
        classes, transform, crs = ds.read(1), ds.transform, (ds.crs.to_wkt() if ds.crs else "")
    return classes, read_probabilities(result.extras["probabilities"])[0], list(result.class_names), transform, crs


def _blobs(classes: np.ndarray, transform: Any, min_pixels: float) -> list[tuple[int, tuple[float, ...]]]:
    """(class, box xmin, ymin, xmax, ymax in map coordinates) of each 8-connected blob of a class above 0."""
    from rasterio import features

    found = []
    values = classes.astype(np.int32)
    for shape, value in features.shapes(values, mask=values > 0, connectivity=8, transform=transform):
        ring = np.asarray(shape["coordinates"][0])
        pixels = features.rasterize([(shape, 1)], out_shape=values.shape, transform=transform).sum()
        if pixels < max(min_pixels, 1):
            continue
        found.append((int(value), tuple(float(v) for v in (*ring[:, :2].min(axis=0), *ring[:, :2].max(axis=0)))))
    return found


def _mean(probabilities: np.ndarray, class_id: int, wkt: str, transform: Any) -> float:
    """The model's mean probability of ``class_id`` over the pixels inside the polygon (by their centres)."""
    from rasterio import features

    ogr = require("osgeo.ogr")
    shape = json.loads(ogr.CreateGeometryFromWkt(wkt).ExportToJson())
    inside = features.rasterize([(shape, 1)], out_shape=probabilities.shape[1:], transform=transform).astype(bool)
    if not inside.any() or class_id >= len(probabilities):
        return 0.0
    return round(float(probabilities[class_id][inside].mean()), 4)


def text_class(text: str, names: list[str]) -> int:
    """The model's class a SAM 3 text names (a binary model's foreground when no class has that name)."""
    wanted = text.strip().lower()
    for i, name in enumerate(names):
        if i and name.strip().lower() in (wanted, wanted.rstrip("s")):
            return i
    if len(names) == 2:
        return 1
    raise DataError(f"The text '{text}' names none of the model's classes ({', '.join(names[1:])}); give "
                    f"{mention('propose.text')} as one of them.")
