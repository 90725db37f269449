"""Any class raster (made by segment, or elsewhere) into attributed polygons: the ``polygons`` job.

The classes' names come from ``--class-names``, else from the raster, else they are the class numbers; each class
is drawn as :mod:`engine.config.polygons` decides, as segment draws a prediction's polygons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..config.polygons import PolygonsConfig, chosen_polygon_classes, class_rules
from ..config.values import fill_class_colors
from ..errors import DataError, mention
from ..io.atomic import output_locks
from ..io.polygons import FeatureTags, polygonize
from ..io.prediction_tags import TAG_MODEL_SHA256, TAG_MODELS, class_names_of, read_prediction_tags
from ..io.safety import RASTER_GIVE, Files, check_outputs, check_writable
from ..runtime.environment import require
from .change_table import transition_fields


@dataclass
class PolygonsResult:
    """What the ``polygons`` job wrote."""

    output: str
    polygons: int
    class_names: list[str]
    class_colors: list[str]  # the raster's (as segment recorded them), else the palette's
    treatments: dict[str, str]  # class name -> treatment


def _raster_facts(path: str) -> tuple[list[str] | None, str, str, tuple[int, set[int], int, int]]:
    """(class names, model, its SHA-256) as the raster records them, and its valid values (:func:`_class_values`)."""
    gdal = require("osgeo.gdal")
    if (dataset := gdal.Open(path)) is None:
        raise DataError(f"The class raster '{path}' cannot be read by GDAL; give a GeoTIFF of class numbers.")
    band = dataset.GetRasterBand(1)
    if band.DataType not in (gdal.GDT_Byte, gdal.GDT_UInt16, gdal.GDT_Int16, gdal.GDT_UInt32, gdal.GDT_Int32):
        raise DataError(f"The class raster '{path}' holds {gdal.GetDataTypeName(band.DataType)} values; a class "
                        f"raster holds integer class numbers (give the class raster, not probabilities).")
    names = class_names_of(path)
    models = dataset.GetMetadataItem(TAG_MODELS) or ""
    model = ";".join(Path(m).stem for m in models.split(";") if m)
    return ((list(names) if names else None), model, dataset.GetMetadataItem(TAG_MODEL_SHA256) or "",
            _class_values(dataset))


#: The largest class number a class raster may hold (a UInt16's): a larger one is no class but an id or a fill.
MAX_CLASS = 65535


def _class_values(dataset: Any) -> tuple[int, set[int], int, int]:
    """The valid values of a class raster's GDAL ``dataset`` (read in row blocks): (the largest, the classes present,
    how many pixels lie below 0, the lowest)."""
    band = dataset.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    largest, present, negative, lowest = 0, set(), 0, 0
    step = max(1, (1 << 22) // max(1, dataset.RasterXSize))
    for top in range(0, dataset.RasterYSize, step):
        values = band.ReadAsArray(0, top, dataset.RasterXSize, min(step, dataset.RasterYSize - top))
        if nodata is not None:
            values = values[values != nodata]
        low = values[values < 0]
        negative += int(low.size)
        lowest = min(lowest, int(low.min())) if low.size else lowest
        unique = np.unique(values[values >= 0])
        if unique.size:
            largest = max(largest, int(unique[-1]))
            present.update(int(v) for v in unique[unique <= MAX_CLASS])
    return largest, present, negative, lowest


def polygonize_raster(cfg: PolygonsConfig, callback: Callback | None = None) -> PolygonsResult:
    """Write ``cfg.raster``'s polygons to ``cfg.output`` (a temp file renamed when complete)."""
    callback = callback or Callback()
    raster, output = str(cfg.raster), str(cfg.output)
    check_outputs(inputs={f"class raster ({mention('polygons.raster')})": Files(raster, give=RASTER_GIVE),
                          f"confidence raster ({mention('polygons.confidence')})": Files(cfg.confidence,
                                                                                          give=RASTER_GIVE)},
                  outputs={f"polygons ({mention('polygons.output')})": Files(output, "gpkg")})
    check_writable(output, f"polygons ({mention('polygons.output')})")
    names, model, digest, (largest, present, negative, lowest) = _raster_facts(raster)
    if cfg.class_names:
        names = list(cfg.class_names)
    if largest > MAX_CLASS:
        raise DataError(f"The class raster '{raster}' holds the value {largest}; class numbers go up to "
                        f"{MAX_CLASS}. Give a raster of class numbers (if that value means no data, record it as "
                        f"the raster's nodata: gdal_edit -a_nodata {largest} '{raster}').")
    if negative:
        callback.warning(f"The class raster '{raster}' holds values below 0 (down to {lowest}) in "
                         f"{negative:,} pixel(s); they are no classes and get no polygon (if they mean no "
                         f"data, record that as the raster's nodata).")
    if names is None:
        names = [str(i) for i in range(largest + 1)]
        callback.warning(f"The class raster '{raster}' names no classes; the polygons' class_name is the class "
                         f"number. Give {mention('polygons.class_names')} to name them.")
    elif largest >= len(names):
        raise DataError(f"The class raster '{raster}' holds class {largest}, but {len(names)} class name(s) are "
                        f"known ({', '.join(names)}); give every class a name with "
                        f"{mention('polygons.class_names')}.")
    rules = class_rules(cfg, names, section="polygons")
    classes = chosen_polygon_classes(cfg, names, section="polygons")
    if cfg.polygon_classes is not None and (empty := [c for c in classes if c not in present]):
        callback.warning(f"The class raster '{raster}' has no pixel of class "
                         f"{', '.join(f'{c} ({names[c]})' for c in empty)}; no polygon of "
                         f"{'it' if len(empty) == 1 else 'them'}. Its classes with pixels are "
                         f"{', '.join(str(c) for c in sorted(present)[:20]) or 'none'}.")
    tags = FeatureTags(model=cfg.model or model, model_sha256=digest if not cfg.model else "",
                       scene=cfg.scene or Path(raster).stem)
    with output_locks({f"polygons ({mention('polygons.output')})": output}):
        count = polygonize(raster, output, names, classes=classes, rules=rules, simplify=cfg.simplify_tolerance,
                           confidence=cfg.confidence, tags=tags, class_fields=transition_fields(names),
                           callback=callback)
    callback.info(f"{count} polygon(s) written to '{output}'.")
    colors = read_prediction_tags(raster).get("class_colors") or []
    return PolygonsResult(output=output, polygons=count, class_names=names,
                          class_colors=fill_class_colors(list(colors), len(names)),
                          treatments={names[c]: rules[c].treatment for c in classes if c < len(names)})
