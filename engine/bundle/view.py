"""What a model expects, whatever made it: one answer for a model trained here, an imported ONNX model (Deepness's
among them) and a ready model (an imported one fetched by name).

A model trained here records its bands, value range, pixel size and CRS in the bundle's data section; a model made
elsewhere has what its import recorded (its maker's band names, value range, resolution in metres, overlap,
border). :func:`model_view` reads both into one :class:`ModelView`, so no caller looks in two places. The pixel size
a model was trained at, in metres on the ground, is :meth:`Resolution.metres` (a geographic CRS's degrees converted
at a latitude, as GDAL's warper and QGIS measure them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..data.metadata import DataMetadata
from .imported import import_record

#: Metres per degree along the equator (and along a parallel, times the cosine of its latitude): the factor GDAL's
#: web windows use (``engine.imagery.web.map_units_per_metre``), so a pixel size in metres read back is the same.
METRES_PER_DEGREE = 111_320.0
#: The units a resolution is given in: metres, degrees (a geographic CRS), or the CRS's own linear unit.
METRES, DEGREES, PIXELS = "m", "deg", "px"


@dataclass(frozen=True)
class Resolution:
    """A pixel size ``(x, y)`` in the units of the CRS it was measured in: ``unit`` ``"m"`` (a linear unit of
    ``metres_per_unit`` metres: 1 for metres, 0.3048 for feet), ``"deg"`` (a geographic CRS) or ``"px"`` (imagery
    without a CRS: no size on the ground). ``recorded``: the resolution a model made elsewhere was made for (its
    maker's words, in metres, no CRS), not a training grid."""

    size: tuple[float, float]
    unit: str
    metres_per_unit: float = 1.0
    recorded: bool = False
    mercator: bool = False  # web mercator's units are metres at the equator only: cos(latitude) of them elsewhere

    def metres(self, latitude: float | None = None) -> float | None:
        """The x pixel size in metres on the ground: degrees converted at ``latitude`` (None: the equator);
        None for imagery without a CRS."""
        if self.unit == METRES and self.mercator:
            return self.size[0] * self.metres_per_unit * max(math.cos(math.radians(latitude or 0.0)), 1e-6)
        if self.unit == METRES:
            return self.size[0] * self.metres_per_unit
        if self.unit == DEGREES:
            cos = max(math.cos(math.radians(latitude or 0.0)), 1e-6)
            return self.size[0] * METRES_PER_DEGREE * cos
        return None


@dataclass(frozen=True)
class ModelView:
    """What a model expects and how its maker ran it.

    ``band_names``: the vision bands' names in the model's order (None: not recorded); ``value_range``: [low, high]
    of the values it expects (None: judged by its training statistics); ``resolution``: the pixel size it was
    trained at or made for (None: not recorded); ``tile``; ``overlap``, ``border``, ``threshold``: as its maker ran
    it (None: the engine's defaults); ``classes`` and ``colors``; ``imported``: made elsewhere, with ``record``
    what the import recorded (source, licence, input scaling, graph checksum, ...)."""

    band_names: list[str] | None
    value_range: list[float] | None
    resolution: Resolution | None
    tile: int
    overlap: float | None
    border: int | None
    threshold: float | None
    classes: list[str]
    colors: list[str]
    imported: bool = False
    record: dict[str, Any] = field(default_factory=dict)

    def pixel_size_metres(self, latitude: float | None = None) -> float | None:
        """The pixel size the model was trained at (or made for), in metres on the ground at ``latitude``."""
        return None if self.resolution is None else self.resolution.metres(latitude)


def _unit(crs: str | None) -> tuple[str, float, bool]:
    """(the unit a pixel size in ``crs`` is in, metres per linear unit, whether it is a Mercator projection)."""
    if not crs:
        return PIXELS, 1.0, False
    try:
        from rasterio.crs import CRS

        parsed = CRS.from_user_input(crs)
        if parsed.is_geographic:
            return DEGREES, 1.0, False
        wkt = parsed.to_wkt(version="WKT1_GDAL").upper()
        mercator = 'PROJECTION["MERCATOR' in wkt or "PSEUDO_MERCATOR" in wkt  # not Transverse Mercator
        return METRES, float(parsed.linear_units_factor[1]), mercator
    except Exception:  # noqa: BLE001 - an unparsable CRS: its units taken as metres, as the bundle always did
        return (DEGREES if str(crs).lstrip().upper().startswith("GEOG") else METRES), 1.0, False


def resolution_of(data: DataMetadata) -> Resolution | None:
    """The pixel size ``data`` records: the training grid's (``gsd`` in its CRS's units), else the resolution an
    imported model was made for (metres); None when neither is recorded."""
    if data.gsd:
        unit, factor, mercator = _unit(data.crs)
        return Resolution((float(data.gsd[0]), float(data.gsd[-1])), unit, factor, mercator=mercator)
    made = import_record(data).get("resolution_m")
    if isinstance(made, (int, float)) and made > 0:
        return Resolution((float(made), float(made)), METRES, recorded=True)
    return None


def model_view(data: DataMetadata, model: Any = None) -> ModelView:
    """What the model with data section ``data`` (and model section ``model``, for its threshold) expects."""
    record = import_record(data)
    names = data.band_names or record.get("band_names")
    names = [str(n) for n in names] if names and len(names) == data.vision_bands else None
    value_range = data.value_range or record.get("value_range")
    threshold = getattr(model, "threshold", None) if model is not None else None
    return ModelView(
        band_names=names,
        value_range=[float(v) for v in value_range] if value_range else None,
        resolution=resolution_of(data),
        tile=int(data.tile_size),
        overlap=record.get("overlap"),
        border=record.get("border"),
        threshold=float(threshold) if threshold else None,
        classes=list(data.class_names),
        colors=list(data.class_colors),
        imported=bool(record),
        record=record,
    )
