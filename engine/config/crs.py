"""A CRS setting checked as the settings are made (an extent's CRS): GDAL must know it."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
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
