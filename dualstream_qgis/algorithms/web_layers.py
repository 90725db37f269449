"""Raster layers only QGIS reads as layers (web services) turned into the GDAL source that reads the same service.

QGIS's ``wms`` provider shows XYZ tiles, OGC WMS and WMTS; its ``wcs`` provider WCS coverages; its
``arcgismapserver`` provider ArcGIS REST MapServer and ImageServer services. GDAL reads each of these services too
(its WMS driver with the TMS minidriver for XYZ and the AGS minidriver for ArcGIS REST, its WMTS and WCS drivers),
so the engine reads
them as it reads any raster: window by window, tiles fetched in parallel into a bounded cache, retried. Here a
layer's data-source URI becomes that GDAL description (``engine.api`` builds the text), handed over (:func:`handed`)
with the extent and pixel size (:class:`WebWindowParameters`); the engine's image door reads one window of it at that
pixel size, as Deepness does with its resolution setting.

A web layer has no pixel grid the model could use, so it needs an extent (the Extent parameter: canvas, layer or
drawn) and a pixel size (the Pixel size parameter; Segment defaults it to the model's training pixel size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qgis.core import (
    QgsDataSourceUri,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterExtent,
    QgsRasterLayer,
)

from ..engine_bridge import engine_api
from .common import add_parameter, extent_settings
from .parameters import add_settings, declared_text

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


def handed(source: Any) -> Any:
    """A source as the engine's image door takes it: a web layer as its service's description named after the
    layer (``DESCRIPTION|layername=NAME``: its window and the outputs over it are named so), anything else as it is."""
    return engine_api().join_layer(source.description, source.name) if isinstance(source, WebLayer) else source


class WebWindowParameters:
    """The extent and the pixel size web layers are read over (EXTENT, PIXEL_SIZE): added and read here, for
    Segment, Segment in bulk and Train. ``note``: what the extent is in that dialog, after the declared help."""

    def __init__(self, extent_key: str, size_key: str, note: str = ""):
        self.extent_key, self.size_key, self.note = extent_key, size_key, note

    def add(self, alg: Any) -> None:
        param, label, text = declared_text(alg, self.extent_key)
        add_parameter(alg, QgsProcessingParameterExtent(param, label, optional=True),
                      text + (alg.tr(" " + self.note) if self.note else ""))
        add_settings(alg, self.size_key)

    def extent(self, alg: Any, parameters: dict[str, Any],
               context: QgsProcessingContext) -> tuple[list[float] | None, str | None]:
        """The extent as the engine's ``(extent, extent_crs)`` (None, None: not given)."""
        return extent_settings(alg, parameters, declared_text(alg, self.extent_key)[0], context)
