"""An extent and its CRS checked as the settings are made: four finite bounds, max above min; a CRS GDAL knows."""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError, mention
from ..runtime.environment import require


def check_crs(crs: Any, what: str) -> None:
    """ConfigError unless ``crs`` (text: 'EPSG:n', WKT, PROJ string) is a CRS that :func:`srs_from_crs` can use;
    ``what`` names the setting (``"extent_crs (--extent-crs)"``)."""
    require("osgeo")
    from osgeo import osr

    osr.UseExceptions()
    try:
        failed = osr.SpatialReference().SetFromUserInput(str(crs)) != 0
        cause = ""
    except RuntimeError as exc:  # osr with exceptions on: PROJ's "crs not found", OGR's "Corrupt data"
        failed, cause = True, f" ({' '.join(str(exc).split())})"
    if failed or not str(crs).strip():
        raise ConfigError(f"The {what} '{crs}' is not a coordinate reference system GDAL knows{cause}; give an EPSG "
                          f"code such as EPSG:4326 or EPSG:32633, a WKT or PROJ string, or leave it out to use the "
                          f"image's CRS.")


def checked_extent(extent: Any, what: str) -> list[float] | None:
    """``extent`` (xmin, ymin, xmax, ymax) as four floats, None as None; ConfigError naming ``what`` (the setting,
    ``mention``-marked) unless there are four finite numbers with xmin < xmax and ymin < ymax."""
    if extent is None:
        return None
    values = list(extent)
    if len(values) != 4:
        raise ConfigError(f"{what} must be xmin, ymin, xmax, ymax (got {values}).")
    try:
        bounds = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be four numbers xmin, ymin, xmax, ymax (got {values}).") from exc
    if not all(math.isfinite(v) for v in bounds):
        raise ConfigError(f"{what} must be four finite numbers (got {values}); give the window's bounds in map units.")
    if not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
        raise ConfigError(f"{what} must have xmin < xmax and ymin < ymax (got {bounds}).")
    return bounds


def checked_area(extent: Any, extent_crs: Any, section: str) -> list[float] | None:
    """``section``'s extent checked by :func:`checked_extent` and its CRS by :func:`check_crs`, each error naming
    ``section.extent`` or ``section.extent_crs``; the extent as four floats (None as None)."""
    if extent_crs is not None and str(extent_crs).strip():
        check_crs(extent_crs, f"extent CRS ({mention(section + '.extent_crs')})")
    return checked_extent(extent, f"extent ({mention(section + '.extent')})")
