"""A window of an image and a model, embedded once; prompts in map coordinates answered with polygons.

The embedding is the slow step (seconds on a CPU): it is kept in a small LRU cache keyed by the window and the
model, so each further click, box or text on the window only runs the prompt encoder and mask decoder. Loaded
models are kept the same way.

A mask becomes polygons through the project's one polygon pipeline (:func:`engine.io.polygons.write_polygons`): the
same tracing, speck removal, hole filling and outline treatment as a segmentation's. The polygons are cut at the
window's edge (a squared outline can reach past it, where the mask says nothing).
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..callbacks import Callback, Stage
from ..config.polygons import default_treatment
from ..errors import DataError
from ..imagery.picture import ImageWindow, read_window, transform_points
from ..io.geopackage import spatial_ref
from ..io.polygons import TREATMENTS, ClassRule, field_names, write_polygons
from ..runtime.environment import require
from .model import DEFAULT_MODEL, Embedding, PromptModel, model_source

EMBEDDINGS_KEPT = 8  # windows (a SAM ViT-B embedding is 4 MB, a SAM 2 one about 6 MB)
MODELS_KEPT = 2
THRESHOLD = 0.5  # a pixel is inside the mask when the model's probability reaches this


class OutsideWindowError(DataError):
    """A prompt lies outside the embedded window."""


class _Lru:
    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_MODELS = _Lru(MODELS_KEPT)
_EMBEDDINGS = _Lru(EMBEDDINGS_KEPT)


@dataclass
class MaskPolygon:
    """One polygon of a mask."""

    wkt: str  # in the image's CRS
    area: float  # m² where the CRS has metres, else map units
    confidence: float | None  # the mean probability of its pixels


def _raster(name: str, values: np.ndarray, transform: tuple, crs: str, dtype: int, nodata: float | None) -> str:
    gdal = require("osgeo.gdal")
    path = f"/vsimem/prompted-{uuid.uuid4().hex}-{name}.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(path, values.shape[1], values.shape[0], 1, dtype)
    dataset.SetGeoTransform(transform)
    if crs:
        dataset.SetProjection(spatial_ref(crs).ExportToWkt())  # WKT, or EPSG:XXXX
    band = dataset.GetRasterBand(1)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    band.WriteArray(values)
    dataset = band = None
    return path


def _frame(transform: tuple, shape: tuple[int, ...]) -> object:
    """The window's outline as an OGR polygon in map coordinates."""
    ogr = require("osgeo.ogr")
    x0, dx, rx, y0, ry, dy = transform
    rows, cols = shape[:2]
    corners = [(x0 + dx * c + rx * r, y0 + ry * c + dy * r) for c, r in ((0, 0), (cols, 0), (cols, rows), (0, rows),
                                                                         (0, 0))]
    return ogr.CreateGeometryFromWkt("POLYGON ((" + ", ".join(f"{x!r} {y!r}" for x, y in corners) + "))")


def clip(geometry: Any, frame: Any) -> Any:
    """``geometry`` cut at ``frame`` (a multipolygon where cut; itself where inside), None where nothing is left."""
    if frame.Contains(geometry):
        return geometry
    cut = geometry.Intersection(frame)
    if cut is None or cut.IsEmpty() or cut.GetArea() <= 0:
        return None
    return require("osgeo.ogr").ForceToMultiPolygon(cut)


def mask_polygons(probabilities: np.ndarray, transform: tuple, crs: str, rule: ClassRule) -> list[MaskPolygon]:
    """The polygons of ``probabilities >= 0.5`` on the grid ``transform`` / ``crs``, shaped by ``rule``."""
    gdal, ogr = require("osgeo.gdal"), require("osgeo.ogr")
    inside = (probabilities >= THRESHOLD).astype(np.uint8)
    if not inside.any():
        return []
    mask = _raster("mask", inside, transform, crs, gdal.GDT_Byte, 0)
    confidence = _raster("p", probabilities.astype(np.float32), transform, crs, gdal.GDT_Float32, None)
    found: list[MaskPolygon] = []
    try:
        with tempfile.TemporaryDirectory(prefix="dualstream-prompt-") as folder:
            out = Path(folder) / "mask.gpkg"
            write_polygons(mask, out, ["", "object"], scratch=Path(folder) / "scratch.gpkg", rules={1: rule},
                           confidence=confidence)
            source = ogr.Open(str(out))
            layer = source.GetLayer(0)
            metric = layer.FindFieldIndex(field_names(True)[0], True) >= 0
            area_field = field_names(metric)[0]
            frame = _frame(transform, probabilities.shape)
            for feature in layer:
                mean = feature.GetField("conf_mean")
                geometry = clip(feature.GetGeometryRef(), frame)  # a squared outline may reach past the window
                if geometry is None:
                    continue
                area = float(feature.GetField(area_field)) * geometry.GetArea() / feature.GetGeometryRef().GetArea()
                found.append(MaskPolygon(geometry.ExportToWkt(), area, None if mean is None else float(mean)))
            layer = source = None
    finally:
        gdal.Unlink(mask)
        gdal.Unlink(confidence)
    return found


@dataclass
class PromptAnswer:
    """What one prompt gave."""

    polygons: list[MaskPolygon]  # WKT in ``crs``
    score: float  # the model's IoU estimate; for a text, the object's
    crs: str
    seconds: float  # how long the answer took (the embedding excluded)
    mask_pixels: int


@dataclass
class PromptSession:
    """One window of one image with one model, its embedding made (or found in the cache)."""

    model: PromptModel
    window: ImageWindow
    embedding: Embedding
    embed_seconds: float  # 0 when the embedding came from the cache
    from_cache: bool
    said: list[str] = field(default_factory=list)

    @property
    def crs(self) -> str:
        return self.window.crs

    def _pixels(self, points: Sequence[Sequence[float]], crs: str) -> np.ndarray:
        xs, ys = transform_points([p[0] for p in points], [p[1] for p in points], crs, self.window.crs)
        return np.column_stack(self.window.to_pixels(np.asarray(xs), np.asarray(ys)))

    def predict(self, points: Sequence[tuple[float, float]] = (), labels: Sequence[int] = (),
                box: Sequence[float] | None = None, text: str = "", crs: str = "", *, class_name: str = "",
                treatment: str = "", min_pixels: float = 16.0) -> list[PromptAnswer]:
        """Polygons for positive/negative ``points`` (map coordinates in ``crs``, default the image's; ``labels`` 1
        object, 0 not) and/or a ``box`` (xmin, ymin, xmax, ymax), or for a ``text`` (SAM 3: one answer per object).
        ``treatment`` ("" or "auto": from ``class_name`` or the text, buildings squared) and ``min_pixels`` (smaller
        specks are dropped) shape the polygons. Raises DataError (a prompt outside the window, or none) or ModelError
        (the model does not take this kind of prompt)."""
        rows, cols = self.window.shape
        rule = self._rule(treatment, class_name or text, min_pixels)
        start = time.perf_counter()
        if text.strip():
            masks = self.model.decode_text(self.embedding, text.strip())
        else:
            pixel_points = labels_array = pixel_box = None
            if points:
                pixel_points = self._pixels(points, crs)
                labels_array = np.asarray(list(labels) or [1] * len(points), np.int64)
                if len(labels_array) != len(pixel_points):
                    raise DataError(f"{len(points)} point(s) but {len(labels_array)} label(s); give one label per "
                                    f"point (1 object, 0 not).")
                outside = [i for i, (c, r) in enumerate(pixel_points) if not (0 <= c <= cols and 0 <= r <= rows)]
                if outside:
                    raise OutsideWindowError(f"Point(s) {[list(points[i]) for i in outside]} lie outside the window of "
                                    f"'{self.window.source}'; click inside it or embed another window.")
            if box is not None:
                xmin, ymin, xmax, ymax = box
                corners = self._pixels([(xmin, ymin), (xmax, ymin), (xmin, ymax), (xmax, ymax)], crs)
                pixel_box = np.concatenate([corners.min(axis=0), corners.max(axis=0)]).clip(0, [cols, rows, cols, rows])
                if pixel_box[2] <= pixel_box[0] or pixel_box[3] <= pixel_box[1]:
                    raise OutsideWindowError(f"The box {list(box)} does not overlap the window of "
                                             f"'{self.window.source}'.")
            if pixel_points is None and pixel_box is None:
                raise DataError("Give a prompt: points (with labels), a box, or a text (SAM 3).")
            masks = [self.model.decode(self.embedding, pixel_points, labels_array, pixel_box)]
        decoded = time.perf_counter() - start
        return [PromptAnswer(mask_polygons(p, self.window.transform, self.window.crs, rule), score, self.window.crs,
                             decoded, int((p >= THRESHOLD).sum())) for p, score in masks]

    def _rule(self, treatment: str, name: str, min_pixels: float) -> ClassRule:
        chosen = (default_treatment(name or "object") if treatment in ("", "auto") else treatment).strip().lower()
        if chosen not in TREATMENTS:
            raise DataError(f"The outline treatment '{treatment}' is unknown; use one of {', '.join(TREATMENTS)}.")
        _, dx, rx, _, ry, dy = self.window.transform
        ref = spatial_ref(self.window.crs)
        metres = float(ref.GetLinearUnits()) if ref is not None and ref.IsProjected() else 1.0
        area = min_pixels * abs(dx * dy - rx * ry) * metres ** 2
        return ClassRule(treatment=chosen, min_area=area, fill_holes=area)


def open_session(image: str, extent: Sequence[float] | None, model: str = "", *, extent_crs: str = "",
                 bands: Sequence[int | str] | None = None, device: str = "auto", callback: Callback | None = None,
                 pixel_size: float | None = None, name: str = "") -> PromptSession:
    """The window of ``image`` over ``extent`` embedded by ``model`` (from the cache when it was before); a web
    service read at ``pixel_size`` metres per pixel (``name``: how messages name it). The window read, the model
    loaded and the picture embedded are told as ``Stage.EMBED`` progress."""
    callback = callback or Callback()
    window = read_window(image, extent, extent_crs, bands, callback, pixel_size=pixel_size, name=name)
    callback.progress(1, 3, Stage.EMBED)
    model = model or DEFAULT_MODEL
    loaded = _MODELS.get((model_source(model), device))
    if loaded is None:  # loaded once per process, kept for the next session
        loaded = PromptModel.load(model, callback.info, callback, device)
        _MODELS.put((model_source(model), device), loaded)
    callback.progress(2, 3, Stage.EMBED)
    key = (window.key, loaded.source, str(loaded.device))
    embedding, seconds, said = _EMBEDDINGS.get(key), 0.0, window.said
    cached = embedding is not None
    if not cached:
        start = time.perf_counter()
        embedding = loaded.embed(window.rgb)
        seconds = time.perf_counter() - start
        _EMBEDDINGS.put(key, embedding)
        said = said + [f"Embedded the window with {loaded.model_type.model_class} in {seconds:.1f} s; further "
                       f"prompts on it reuse the embedding."]
    callback.progress(3, 3, Stage.EMBED)
    return PromptSession(loaded, window, embedding, seconds, cached, said)
