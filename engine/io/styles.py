"""How a class raster is drawn: QGIS styles (``.qml``) written beside the rasters, so a layer opens styled even
from a headless run, and its palette: exactly the model's classes, named and coloured, some transparent.

A GeoTIFF's own colour table always has 2^bits entries, so QGIS's legend would list "3, 4, ... 255" wherever the
style file is missing. The palette goes instead into GDAL's ``.aux.xml`` (beside the category names): an entry per
class, with an alpha channel the TIFF table lacks, so a mask's "background" stays transparent without the style.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from ..errors import DataError
from ..runtime.environment import require
from .writers import hex_to_rgb


def set_palette(band: Any, class_names: Sequence[str], class_colors: Sequence[str],
                transparent: Collection[int] = ()) -> None:
    """The palette and class names on a GDAL band opened read-only (so they go to the side file)."""
    if len(class_names) != len(class_colors):
        raise DataError(f"{len(class_names)} class names but {len(class_colors)} colours; they must match.")
    gdal = require("osgeo.gdal")
    table = gdal.ColorTable()
    for index, color in enumerate(class_colors):
        table.SetColorEntry(index, (*hex_to_rgb(color), 0 if index in transparent else 255))
    band.SetColorTable(table)
    band.SetColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetCategoryNames([str(n) for n in class_names])


def qml_text(class_names: Sequence[str], class_colors: Sequence[str], band: int = 1,
             transparent: Collection[int] = ()) -> str:
    """A QGIS (3.x) paletted raster style naming every class; nodata and ``transparent`` stay transparent."""
    palette = "\n".join(f'        <paletteEntry value="{value}" color="#{"%02x%02x%02x" % hex_to_rgb(color)}" alpha="'
                        f'{0 if value in transparent else 255}" label={quoteattr(str(name))}/>'
                        for value, (name, color) in enumerate(zip(class_names, class_colors)))
    return _qml(f"""    <provider>
      <resampling enabled="false" zoomedInResamplingMethod="nearestNeighbour"
        zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2"/>
    </provider>
    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <colorPalette>
{palette}
      </colorPalette>
    </rasterrenderer>""", ' invertColors="0"', "    <resamplingStage>resamplingFilter</resamplingStage>\n")


def qml_path_for(raster: str | os.PathLike) -> Path:
    """The sidecar style QGIS loads by itself."""
    return Path(raster).with_suffix(".qml")


def confidence_qml_text(low: float, scale: float | None = None) -> str:
    """A QGIS (3.x) style for a confidence raster: opaque red at 0, orange at ``low`` (the review threshold), a
    transparent green at 1, so over the imagery the unsure pixels stand out. ``scale``: the stored value per unit
    (254 for uint8), since the style sees stored values."""
    factor = scale or 1.0
    stops = ((0.0, "#d7191c", 255, "0: unsure"), (low, "#fdae61", 200, f"{low:g}: review below"),
             (1.0, "#1a9641", 0, "1: sure"))
    items = "\n".join(f'          <item value="{value * factor:g}" color="{color}" alpha="{alpha}" label="{label}"/>'
                      for value, color, alpha, label in stops)
    return _qml(f"""    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" nodataColor=""
      classificationMin="0" classificationMax="{factor:g}">
      <rasterTransparency/>
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="0"
          maximumValue="{factor:g}" labelPrecision="2">
{items}
        </colorrampshader>
      </rastershader>
    </rasterrenderer>""")


def _qml(renderer: str, hue: str = "", stage: str = "") -> str:
    """A QGIS (3.x) raster style around ``renderer``'s lines."""
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology" hasScaleBasedVisibilityFlag="0" minScale="1e+08" maxScale="0">
  <pipe>
{renderer}
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" colorizeGreen="128"
      colorizeBlue="128" colorizeStrength="100"{hue}/>
    <rasterresampler maxOversampling="2"/>
{stage}  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""
