"""A class raster's palette: exactly the model's classes, with their names and colours, some drawn transparent.

A GeoTIFF's own colour table always has 2^bits entries (256 for a byte raster, 65536 for UInt16), so QGIS's legend
would list "3, 4, ... 255" wherever the style file is missing. The palette goes instead into GDAL's side file
(``.aux.xml``, beside the category names): as many entries as classes, with an alpha channel that the TIFF table
lacks, so the classes drawn transparent (a mask's "background" or "clear") stay transparent without the style.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from ..errors import DataError
from ..runtime.environment import require
from .writers import hex_to_rgb


def set_palette(band: Any, class_names: Sequence[str], class_colors: Sequence[str],
                transparent: Collection[int] = ()) -> None:
    """The palette on a GDAL band of a raster opened read-only (so it goes to the side file): a colour per class,
    alpha 0 for the ``transparent`` ones, and the class names."""
    if len(class_names) != len(class_colors):
        raise DataError(f"{len(class_names)} class names but {len(class_colors)} colours; they must match.")
    gdal = require("osgeo.gdal")
    table = gdal.ColorTable()
    for index, color in enumerate(class_colors):
        table.SetColorEntry(index, (*hex_to_rgb(color), 0 if index in transparent else 255))
    band.SetColorTable(table)
    band.SetColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetCategoryNames([str(n) for n in class_names])
