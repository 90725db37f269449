"""Sources that are no local file, as the front ends hand them over: web map layers turned into GDAL rasters
(:func:`web_window` over an XYZ/WMS/WCS description), the name of any source, and a bundle's training pixel
size (the default pixel size a web layer is read at)."""

from __future__ import annotations

from typing import Any

from ..bundle.model_files import read_model_metadata
from ..data.web import (
    WINDOW_SUFFIX,
    WebWindow,
    map_units_per_metre,
    wcs_description,
    web_window,
    wms_description,
    xyz_description,
)
from ..io.locations import is_remote, join_layer, split_layer
from ..io.locations import stem as source_stem


def training_pixel_size(model: str) -> float | None:
    """The pixel size (metres, x) a bundle was trained at, or None when it records none (or is not a bundle)."""
    try:
        metadata: Any = read_model_metadata(model)
    except Exception:  # noqa: BLE001 - any unreadable model: no default, the caller asks for one
        return None
    gsd = getattr(getattr(metadata, "data", None), "gsd", None)
    try:
        value = float(gsd[0]) if gsd else None
    except (TypeError, ValueError, IndexError):
        return None
    return value if value and value > 0 else None


__all__ = ["WINDOW_SUFFIX", "WebWindow", "is_remote", "join_layer", "map_units_per_metre", "source_stem",
           "split_layer", "training_pixel_size", "wcs_description", "web_window", "wms_description",
           "xyz_description"]
