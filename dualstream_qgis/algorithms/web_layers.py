"""Raster layers only QGIS reads as layers (web services) turned into the GDAL source that reads the same service.

QGIS's ``wms`` provider shows XYZ tiles, OGC WMS and WMTS; its ``wcs`` provider WCS coverages; its
``arcgismapserver`` provider ArcGIS REST MapServer and ImageServer services. GDAL reads each of these services too
(its WMS driver with the TMS minidriver for XYZ and the AGS minidriver for ArcGIS REST, its WMTS and WCS drivers),
so the engine reads
them as it reads any raster: window by window, tiles fetched in parallel into a bounded cache, retried. Here a
layer's data-source URI becomes that GDAL description (``engine.api`` builds the text); the algorithm then asks the
engine for one window of it at a pixel size (:func:`window_path`), as Deepness does with its resolution setting.

A web layer has no pixel grid the model could use, so it needs an extent (the Extent parameter: canvas, layer or
drawn) and a pixel size (the Pixel size parameter; Segment defaults it to the model's training pixel size).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsDataSourceUri,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingUtils,
    QgsRasterLayer,
)

from ..engine_bridge import engine_api

#: Providers whose layers are web services GDAL reads as well.
WEB_PROVIDERS = ("wms", "wcs", "arcgismapserver")
#: Providers no GDAL source stands for here: what to do instead.
UNSUPPORTED = {
    "arcgisfeatureserver": "this is a vector service",
}


@dataclass(frozen=True)
class WebLayer:
    """A web layer as GDAL reads it: ``description`` (GDAL XML or connection string), its name and band count."""

    name: str
    description: str
    bands: int
    kind: str  # "XYZ", "WMS", "WMTS", "WCS", "ArcGIS MapServer", "ArcGIS ImageServer"


def is_web_layer(layer: Any) -> bool:
    return isinstance(layer, QgsRasterLayer) and layer.providerType() in (*WEB_PROVIDERS, *UNSUPPORTED)


def web_layer(layer: QgsMapLayer, parameter: str) -> WebLayer:
    """The GDAL source for ``layer`` (a ``wms``, ``wcs`` or ``arcgismapserver`` provider layer);
    QgsProcessingException otherwise."""
    api = engine_api()
    provider = layer.providerType()
    if provider in UNSUPPORTED:
        raise QgsProcessingException(f"Parameter {parameter}: layer '{layer.name()}' comes from the '{provider}' "
                                     f"provider, which DualStream cannot read; {UNSUPPORTED[provider]}.")
    try:
        if provider == "arcgismapserver":
            return _arcgis_layer(layer)
        uri = QgsDataSourceUri()
        uri.setEncodedUri(layer.source())
        if provider == "wcs":
            return WebLayer(layer.name(), api.wcs_description(uri.param("url"), uri.param("identifier"),
                                                              uri.param("version") or "1.0.0"),
                            max(1, layer.bandCount()), "WCS")
        if uri.param("type") == "xyz":
            zmax = int(uri.param("zmax") or 19)
            return WebLayer(layer.name(), api.xyz_description(uri.param("url"), zmax=zmax), 3, "XYZ")
        layers = ",".join(uri.params("layers"))
        if uri.param("tileMatrixSet"):
            styles = ",".join(uri.params("styles"))
            description = (f"WMTS:{uri.param('url')},layer={layers},tilematrixset={uri.param('tileMatrixSet')}"
                           + (f",style={styles}" if styles else ""))
            return WebLayer(layer.name(), description, 3, "WMTS")
        crs = uri.param("crs") or layer.crs().authid()
        return WebLayer(layer.name(), api.wms_description(uri.param("url"), layers, crs,
                                                          uri.param("format") or "image/png",
                                                          ",".join(uri.params("styles"))), 3, "WMS")
    except api.DualStreamError as exc:
        raise QgsProcessingException(f"Parameter {parameter}: layer '{layer.name()}': {api.render(exc)}") from exc


def _arcgis_layer(layer: QgsMapLayer) -> WebLayer:
    """An ``arcgismapserver`` layer (``url='.../MapServer' layer='0'`` or ``url='.../ImageServer'``) as GDAL's AGS
    description, asked for in the layer's CRS (the service's spatial reference, as QGIS reads it)."""
    api = engine_api()
    uri = QgsDataSourceUri(layer.source())
    url = uri.param("url")
    sublayer = uri.param("layer")
    crs = layer.crs().authid() or uri.param("crs")
    kind = "ArcGIS ImageServer" if url.split("?", 1)[0].rstrip("/").endswith("/ImageServer") else "ArcGIS MapServer"
    return WebLayer(layer.name(), api.arcgis_description(url, crs, f"show:{sublayer}" if sublayer else ""), 3, kind)


def window_path(web: WebLayer, parameter: str, extent: list[float] | None, extent_crs: str | None,
                pixel_size: float | None, context: QgsProcessingContext, feedback: QgsProcessingFeedback,
                extent_parameter: str = "EXTENT", size_parameter: str = "PIXEL_SIZE") -> str:
    """A GDAL raster (a virtual VRT in the run's temporary folder, nothing copied) of ``web`` over ``extent`` at
    ``pixel_size`` metres; refused without an extent or a pixel size, with the parameter to set."""
    api = engine_api()
    if extent is None:
        raise QgsProcessingException(
            f"Parameter {parameter}: '{web.name}' is a web layer ({web.kind}), which covers far more than any run can "
            f"read; set {extent_parameter} to the area to read (the map canvas, a layer's extent, or drawn).")
    if not pixel_size:
        raise QgsProcessingException(
            f"Parameter {parameter}: '{web.name}' is a web layer ({web.kind}) and has no pixel size of its own; set "
            f"{size_parameter} (metres per pixel) to the size the model should see.")
    folder = Path(QgsProcessingUtils.tempFolder())
    folder.mkdir(parents=True, exist_ok=True)
    destination = folder / f"{_safe(web.name)}_{uuid.uuid4().hex[:8]}{api.WINDOW_SUFFIX}"
    try:
        window = api.web_window(web.description, extent, extent_crs, float(pixel_size), destination, name=web.name)
    except api.DualStreamError as exc:
        raise QgsProcessingException(f"Parameter {parameter}: {api.render(exc)}") from exc
    feedback.pushInfo(f"{parameter}: the {web.kind} layer '{web.name}' is read over the extent at "
                      f"{window.pixel_size:g} m per pixel ({window.map_pixel_size:.4g} map units): {window.width} x "
                      f"{window.height} pixels, {window.bands} bands, fetched window by window as needed.")
    return window.path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "web_layer"


PIXEL_SIZE = "PIXEL_SIZE"


def windowed(algorithm: Any, parameters: dict[str, Any], context: QgsProcessingContext,
             feedback: QgsProcessingFeedback, inputs: dict[str, Any], extent: list[float] | None,
             extent_crs: str | None, default_size: float | None = None, default_from: str = "") -> dict[str, Any]:
    """``inputs`` (parameter name -> a source, a :class:`WebLayer` or a list of them) with every web layer
    replaced by its window over ``extent`` at the Pixel size (else ``default_size``, said in the log with
    ``default_from``). Nothing changes where no web layer is given."""
    webs = [item for value in inputs.values() for item in (value if isinstance(value, list) else [value])
            if isinstance(item, WebLayer)]
    if not webs:
        return inputs
    size = parameters.get(PIXEL_SIZE)
    size = algorithm.parameterAsDouble(parameters, PIXEL_SIZE, context) if size not in (None, "") else None
    if not size and default_size:
        size = default_size
        feedback.pushInfo(f"{PIXEL_SIZE} is empty: web layers are read at {size:g} m per pixel, {default_from}.")
    out: dict[str, Any] = {}
    for name, value in inputs.items():
        items = value if isinstance(value, list) else [value]
        done = [window_path(item, name, extent, extent_crs, size, context, feedback) if isinstance(item, WebLayer)
                else item for item in items]
        out[name] = done if isinstance(value, list) else done[0]
    return out
