"""What a model expects, whatever made it (trained here, an imported ONNX model, a ready model): :func:`model_view`
reads the bundle's data section and what an import recorded (its maker's band names, value range, resolution in
metres, overlap, border, the defaults it runs with) into one :class:`ModelView`, so no caller looks in two places.
Pixel sizes in metres on the ground follow the one ground rule (:mod:`engine.data.ground`), at the training scenes'
latitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..data.ground import METRES, GroundUnit, ground_unit
from ..data.metadata import DataMetadata
from ..models.encoders.catalog import takes_coords, torch_faster_on_cpu
from .imported import import_record


@dataclass(frozen=True)
class Resolution:
    """A pixel size ``(x, y)`` in the units of the CRS it was measured in (``ground``: metres, degrees, or pixels
    for imagery without a CRS, by :mod:`engine.data.ground`). ``recorded``: the resolution a model made elsewhere
    was made for (its maker's words, in metres, no CRS), not a training grid. ``latitude``: where the training scenes
    lie, recorded where their CRS's units on the ground depend on it (Mercator, degrees)."""

    size: tuple[float, float]
    ground: GroundUnit
    recorded: bool = False
    latitude: float | None = None

    def metres(self, latitude: float | None = None) -> float | None:
        """The x pixel size in metres on the ground where the model was trained (its recorded latitude), else at
        ``latitude`` (a model recording none: older bundles; None: the equator); None without a CRS."""
        return self.ground.metres(self.size[0], latitude if self.latitude is None else self.latitude)


@dataclass(frozen=True)
class ModelView:
    """What a model expects and how its maker ran it (None: not recorded)."""

    band_names: list[str] | None  # the vision bands' names in the model's order
    value_range: list[float] | None  # [low, high] of the values it expects (None: judged by its statistics)
    resolution: Resolution | None  # the pixel size it was trained at or made for
    overlap: float | None  # overlap, border, threshold: as its maker ran it (None: the engine's defaults)
    border: int | None
    threshold: float | None
    tta: str | None = None  # the test-time augmentation it was made to be run with (a change model's: flips)
    imported: bool = False  # made elsewhere; ``record``: what the import recorded (source, licence, scaling, ...)
    record: dict[str, Any] = field(default_factory=dict)
    takes_date_and_place: bool = False  # a second input (a Prithvi-EO-2.0 TL encoder's time and location encoders)
    assumed: tuple[str, ...] = ()  # defaults an imported graph that said nothing of itself runs with (Deepness's)
    torch_on_cpu: str | None = None  # why torch runs it faster than onnxruntime on the CPU (segment's auto backend)

    def pixel_size_metres(self, latitude: float | None = None) -> float | None:
        """The pixel size the model was trained at (or made for), in metres (:meth:`Resolution.metres`)."""
        return None if self.resolution is None else self.resolution.metres(latitude)


def resolution_of(data: DataMetadata) -> Resolution | None:
    """The pixel size ``data`` records: the training grid's (``gsd`` in its CRS's units), else the resolution an
    imported model was made for (metres); None when neither is recorded."""
    if data.gsd:
        return Resolution((float(data.gsd[0]), float(data.gsd[-1])), ground_unit(data.crs), latitude=data.latitude)
    made = import_record(data).get("resolution_m")
    usable = isinstance(made, (int, float)) and made > 0
    return Resolution((float(made), float(made)), GroundUnit(METRES), recorded=True) if usable else None


def model_view(data: DataMetadata, model: Any = None) -> ModelView:
    """What the model of ``data`` expects (``model``: its model section, for threshold and date-and-place input)."""
    record = import_record(data)
    names = data.band_names or record.get("band_names")
    names = [str(n) for n in names] if names and len(names) == data.vision_bands else None
    value_range = data.value_range or record.get("value_range")
    threshold = getattr(model, "threshold", None)
    return ModelView(
        band_names=names, value_range=[float(v) for v in value_range] if value_range else None,
        resolution=resolution_of(data), overlap=record.get("overlap"), border=record.get("border"),
        threshold=float(threshold) if threshold else None, tta=getattr(model, "tta", None), imported=bool(record),
        record=record,
        takes_date_and_place=model is not None and takes_coords(model),
        assumed=tuple(str(a) for a in record.get("assumed") or ()),
        torch_on_cpu=torch_faster_on_cpu(model) if model is not None else None)
