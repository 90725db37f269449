"""The post-classification comparison: two dates' class rasters compared pixel by pixel, the baseline every change
detection paper reports and a trained change model must beat (and useful alone: two cloud masks, two land-cover
maps).

Each date is segmented by a model of one date, or given as a class raster; the later one is brought onto the first
date's grid by the label reader's alignment (nearest, any CRS and pixel size). Each pixel's (before, after) pair is
one class of the change raster: 0 no change (transparent), then one per pair, named ``from → to``; or, as a change
mask, 0 no change and 1 change. Nodata on either date is nodata. Streamed in row blocks, published atomically.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle.model_files import read_model_metadata
from ..callbacks import Callback, Stage
from ..config import CompareConfig, PolygonsConfig, SegmentConfig
from ..data.labels import transition_name
from ..data.raster import grid_of, open_raster
from ..errors import ConfigError, DataError, command, mention
from ..io.atomic import write_text_atomic
from ..io.prediction_tags import class_names_of, prediction_tags
from ..io.safety import (
    RASTER_GIVE,
    Files,
    check_creatable,
    check_outputs,
    make_folders,
    raster_sidecars,
    remove_empty_folders,
)
from ..io.writers import GeoTiffStreamWriter, class_raster_type, qml_path_for, qml_text, set_palette
from ..models.configuration_utils import NO_CHANGE
from .change_table import ChangeRow, change_rows, class_counts, row_hectares, write_change_table

# distinct colours for the kinds of change (ColorBrewer's Paired and Set1, strong ones first)
CHANGE_COLORS = ("#e31a1c", "#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#fb9a99", "#a6cee3",
                 "#b2df8a", "#fdbf6f", "#cab2d6", "#ffff99", "#e41a1c", "#377eb8", "#4daf4a", "#984ea3")
BLOCK_ROWS = 512
MOST_CLASSES = 65535  # a class raster's (UInt16, writers.class_raster_type)
MOST_FROM_TO = 256  # the most classes whose transitions fit in it: 256 * 255 + 1


@dataclass
class Transitions:
    """The change raster's classes: their names, colours, and the class of each (before, after) pair."""

    names: list[str]
    colors: list[str]
    lookup: np.ndarray  # (K*K,): the change class of before * K + after

    @classmethod
    def of(cls, class_names: list[str], mask: bool) -> Transitions:
        if mask:  # any two classes that differ: no lookup (its K*K entries grow past memory for UInt16 classes)
            return cls([NO_CHANGE, "change"], ["#000000", CHANGE_COLORS[0]], np.zeros(0, np.int64))
        k = len(class_names)
        pairs = [(a, b) for a in range(k) for b in range(k) if a != b]
        lookup = np.zeros(k * k, np.int64)
        lookup[[a * k + b for a, b in pairs]] = np.arange(1, len(pairs) + 1)
        return cls([NO_CHANGE, *(transition_name(class_names[a], class_names[b]) for a, b in pairs)],
                   ["#000000", *(CHANGE_COLORS[i % len(CHANGE_COLORS)] for i in range(len(pairs)))], lookup)


@dataclass
class CompareResult:
    """What a comparison wrote and found."""

    output: str
    qml: str
    rows: list[ChangeRow]
    class_names: list[str]  # the dates' classes
    change_names: list[str]  # the change raster's
    change_colors: list[str] = field(default_factory=list)  # and their colours (no change first: drawn transparent)
    change_table: str | None = None
    polygons: str | None = None
    pixels: int = 0  # valid on both dates
    changed_pixels: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(cfg: CompareConfig, callback: Callback | None = None) -> CompareResult:
    """Segment both dates with the model (or take their class rasters) and compare them; writes the change raster,
    its style, and the table and polygons asked for. ConfigError, DataError, AlignmentError: bad inputs, before any
    model runs; nothing is written."""
    callback = callback or Callback()
    start = time.perf_counter()
    inputs = {f"first date ({mention('compare.image')})": Files(cfg.image or [], give=RASTER_GIVE),
              f"later date ({mention('compare.after')})": Files(cfg.after or [], give=RASTER_GIVE),
              f"class raster ({mention('compare.before_classes')})": Files(cfg.before_classes or [], give=RASTER_GIVE),
              f"class raster ({mention('compare.after_classes')})": Files(cfg.after_classes or [], give=RASTER_GIVE),
              f"model ({mention('compare.models')})": Files(cfg.models, "bundle")}
    outputs = {f"change raster ({mention('compare.output')})": Files(raster_sidecars(cfg.output, qml=True),
                                                                     "geotiff"),
               f"change table ({mention('compare.change_table')})": Files(cfg.change_table or []),
               f"polygons ({mention('compare.polygons')})": Files(cfg.polygons or [], "gpkg")}
    check_outputs(inputs, outputs)
    destinations = [Path(p) for p in (cfg.output, cfg.change_table, cfg.polygons) if p]
    for path, what in zip(destinations, ("change raster", "change table", "polygons")):
        check_creatable(path, what)  # a missing folder is made, as segment and qgis_process make it
    made = make_folders(destinations)
    try:
        if cfg.before_classes:
            result = compare_classes(cfg.before_classes, cfg.after_classes, cfg.output, mask=cfg.mask,
                                     callback=callback, ground_pixel_size=cfg.ground_pixel_size)
        else:
            result = _segment_and_compare(cfg, callback)
        if cfg.change_table:
            result.change_table = write_change_table(cfg.change_table, result.rows)
        if cfg.polygons:
            from .vectorize import polygonize_raster

            polygonize_raster(PolygonsConfig(raster=result.output, output=cfg.polygons), callback)
            result.polygons = cfg.polygons
    finally:
        remove_empty_folders(made)  # a refused or failed run leaves no folder it made
    result.seconds = time.perf_counter() - start
    return result


def _segment_and_compare(cfg: CompareConfig, callback: Callback) -> CompareResult:
    """Each date segmented into a temporary folder beside the output (removed at the end), then compared."""
    from .run import segment

    for model in cfg.models:
        if read_model_metadata(model).data.dates > 1:
            raise ConfigError(f"The model '{model}' is a change model: it compares the dates itself. Give the pair "
                              f"to {command('detect_change')} with it, the later date as {mention('segment.after')}; "
                              f"the comparison takes a model of one date.")
    folder = Path(tempfile.mkdtemp(prefix=f".{Path(cfg.output).stem}_dates_", dir=Path(cfg.output).parent))
    try:
        rasters = []
        for index, image in enumerate((cfg.image, cfg.after)):
            callback.info(f"Segmenting the {'first' if index == 0 else 'later'} date '{image}'.")
            out = folder / f"date{index + 1}.tif"
            # both dates over the one extent at one pixel size (a web layer's window): their grids agree
            segment(SegmentConfig(image=image, models=list(cfg.models), output=str(out), device=cfg.device,
                                  backend=cfg.backend, extent=cfg.extent, extent_crs=cfg.extent_crs,
                                  pixel_size=cfg.pixel_size), callback)
            rasters.append(str(out))
        return compare_classes(rasters[0], rasters[1], cfg.output, mask=cfg.mask, callback=callback,
                               names=(cfg.image, cfg.after), ground_pixel_size=cfg.ground_pixel_size)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def compare_classes(before: str, after: str, output: str, *, mask: bool = False, callback: Callback | None = None,
                    names: tuple[str, str] | None = None, ground_pixel_size: float | None = None) -> CompareResult:
    """The change raster of two class rasters (``names``: the dates as the user gave them, for messages;
    ``ground_pixel_size``: metres per pixel of dates without georeferencing, for the hectares)."""
    from ..data.align import check_overlap
    from ..data.checks import date_cover_warning
    from ..data.scene import SceneReader

    callback = callback or Callback()
    shown = names or (before, after)
    classes, later = class_names_of(before), class_names_of(after)
    if classes and later and classes != later:
        raise DataError(f"The class rasters of '{shown[0]}' ({classes}) and '{shown[1]}' ({later}) have different "
                        f"classes; compare rasters of one model or one legend.")
    top = max(len(class_counts(raster)[0]) for raster in (before, after))
    numbered = [str(i) for i in range(max(top, 2))]  # a value beyond the names is a class too, never nodata
    classes = list(classes or later or numbered)
    classes += numbered[len(classes):]
    if not mask and len(classes) * (len(classes) - 1) + 1 > MOST_CLASSES:
        raise DataError(f"The class rasters '{shown[0]}' and '{shown[1]}' hold class values up to {len(classes) - 1} "
                        f"({len(classes):,} classes, 0 to {len(classes) - 1}): a from-to change raster would need a "
                        f"class for each of their {len(classes) * (len(classes) - 1):,} transitions, past the "
                        f"{MOST_CLASSES:,} a class raster holds. Give {mention('compare.mask')} for a change mask "
                        f"(change / no change), or renumber the classes from 0 (at most {MOST_FROM_TO} classes).")
    grids = []
    for path in (before, after):
        with open_raster(path, "class raster") as dataset:
            grids.append(grid_of(dataset))
    if grids[0].georeferenced and grids[1].georeferenced:
        check_overlap(grids[0], grids[1], shown[0], shown[1], "later date", "first date")
    if partly := date_cover_warning(grids[0], grids[1], shown[1], shown[0], "the first date",
                                    "the change raster is nodata there (give dates that cover the same area)"):
        callback.warning(partly)
    transitions = Transitions.of(list(classes), mask)
    k = len(classes)
    dtype, nodata = class_raster_type(len(transitions.names))
    counts = np.zeros(len(transitions.names), np.int64)
    with open_raster(before, "class raster") as dataset:
        per_row = row_hectares(dataset, ground_pixel_size)  # the first date's grid is the change raster's
    hectares = None if per_row is None else np.zeros(len(counts))
    with SceneReader(before, label=after, label_classes=max(k, 2), callback=callback,
                     role="first date's class raster") as reader:
        grid = reader.grid
        writer = GeoTiffStreamWriter(output, width=grid.width, height=grid.height, count=1, dtype=dtype, crs=grid.crs,
                                     transform=grid.transform, nodata=nodata)
        try:
            for row in range(0, grid.height, BLOCK_ROWS):
                callback.check_canceled()
                rows = min(BLOCK_ROWS, grid.height - row)
                tile = reader.read(0, row, grid.width, rows)
                first, second = tile.vision[0].astype(np.int64), tile.label.astype(np.int64)
                valid = tile.valid & (first >= 0) & (first < k) & (second < k)
                code = np.full(first.shape, nodata, np.int64)
                code[valid] = (first[valid] != second[valid]) if mask else \
                    transitions.lookup[first[valid] * k + second[valid]]
                counts += np.bincount(code[valid], minlength=len(counts))[:len(counts)]
                if hectares is not None:  # each row's pixels at their own size (degrees shrink towards the pole)
                    area = np.broadcast_to(per_row[row:row + rows, None], code.shape)[valid]
                    hectares += np.bincount(code[valid], weights=area, minlength=len(counts))[:len(counts)]
                writer.write_rows(row, code[None].astype(dtype))
                callback.progress(row + rows, grid.height, Stage.SEGMENT)
            tags = prediction_tags(transitions.names, transitions.colors, None)
            writer.finalize(category_names=transitions.names, metadata=tags,
                            describe=lambda band: set_palette(band, transitions.names, transitions.colors, [0]))
            qml = qml_path_for(output)
            write_text_atomic(qml, qml_text(transitions.names, transitions.colors, transparent=[0]))
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    rows = change_rows(counts, transitions.names, hectares)
    pixels, changed = int(counts.sum()), int(counts[1:].sum())
    if pixels == 0:
        callback.warning(f"The dates '{shown[0]}' and '{shown[1]}' share no pixel with data: the change raster is all "
                         f"nodata.")
    callback.info(f"Compared {pixels:,} pixels: {changed:,} changed ({100 * changed / max(pixels, 1):.1f} %).")
    return CompareResult(str(output), str(qml), rows, list(classes), transitions.names, list(transitions.colors),
                         pixels=pixels, changed_pixels=changed)
