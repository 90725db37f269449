"""Web map layers (XYZ/TMS, WMS, WMTS, WCS, ArcGIS MapServer and ImageServer) as GDAL sources, read window by window.

A web layer has no pixel grid of its own that a model could use: an XYZ service covers the world at 20 zoom levels.
GDAL's WMS/WMTS/WCS drivers read such services as rasters (tiles fetched in parallel, kept in GDAL's block cache,
retried by the settings of :mod:`..io.network`); :func:`web_window` puts one window of one, at a chosen pixel size, into
a warped VRT that every reader then reads as any GDAL raster (nothing fetched until read; GDAL picks the zoom level
nearest to the pixel size). The descriptions are GDAL's own formats, so the command line reads them too: save one as
``layer.xml`` and give it with ``--image``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, unescape

from ..data.ground import map_units_per_metre, middle_latitude
from ..errors import ConfigError, DataError, mention
from ..io import network
from ..io.locations import WINDOW_SUFFIX
from ..io.network import SERVICE_TAG
from ..runtime.environment import require

#: Web Mercator's extent (EPSG:3857), the grid of XYZ tiles.
MERCATOR = 20037508.342789244


@dataclass(frozen=True)
class WebWindow:
    """One window of a web layer as a GDAL raster (``path``, a VRT)."""

    path: str
    bands: int
    width: int
    height: int
    pixel_size: float  # on the ground, metres
    map_pixel_size: float  # in the source's map units
    asked: float | None = None  # the pixel size asked (metres), where the service's finest level was coarser


def xyz_description(url: str, zmax: int = 19, bands: int = 4, tile_size: int = 256, max_connections: int = 8) -> str:
    """A GDAL WMS (TMS minidriver) description of an XYZ tile service ``url`` with ``{x}``, ``{y}`` (``{-y}`` for TMS
    rows counted from the south), ``{z}``. ``bands``: 4 (RGB + alpha: a tile the server lacks, HTTP 404 or 204, is
    transparent, as QGIS shows it, and :func:`web_window` makes it nodata) or 3."""
    if not all(key in url for key in ("{x}", "{z}")) or ("{y}" not in url and "{-y}" not in url):
        raise ConfigError(f"The tile URL '{url}' has no {{x}}, {{y}} and {{z}}; give an XYZ template such as "
                          "https://tile.example.org/{z}/{x}/{y}.png.")
    tms = "{-y}" in url
    server = url.replace("{x}", "${x}").replace("{-y}", "${y}").replace("{y}", "${y}").replace("{z}", "${z}")
    return (f"<GDAL_WMS><Service name=\"TMS\"><ServerUrl>{escape(server)}</ServerUrl></Service>"
            f"<DataWindow><UpperLeftX>{-MERCATOR}</UpperLeftX><UpperLeftY>{MERCATOR}</UpperLeftY>"
            f"<LowerRightX>{MERCATOR}</LowerRightX><LowerRightY>{-MERCATOR}</LowerRightY>"
            f"<TileLevel>{int(zmax)}</TileLevel><TileCountX>1</TileCountX><TileCountY>1</TileCountY>"
            f"<YOrigin>{'bottom' if tms else 'top'}</YOrigin></DataWindow>"
            f"<Projection>EPSG:3857</Projection><BlockSizeX>{tile_size}</BlockSizeX>"
            f"<BlockSizeY>{tile_size}</BlockSizeY><BandsCount>{int(bands)}</BandsCount>"
            f"<MaxConnections>{int(max_connections)}</MaxConnections>"
            f"<ZeroBlockHttpCodes>204,404</ZeroBlockHttpCodes></GDAL_WMS>")


def wms_description(url: str, layers: str, crs: str, image_format: str = "image/png", styles: str = "",
                    version: str = "1.3.0", bands: int = 4, max_connections: int = 8) -> str:
    """A GDAL WMS description of an OGC WMS layer (GetMap requests of 512-px blocks) in ``crs`` over its area of use."""
    srs, window = _crs_window(crs, "WMS layer")
    axis = "yxYX" if version == "1.3.0" and srs.EPSGTreatsAsLatLong() else "xyXY"  # type: ignore[attr-defined]
    base = url if url.endswith(("?", "&")) else url + ("&" if "?" in url else "?")
    return (f"<GDAL_WMS><Service name=\"WMS\"><Version>{escape(version)}</Version>"
            f"<ServerUrl>{escape(base)}</ServerUrl><CRS>{escape(crs)}</CRS><ImageFormat>{escape(image_format)}"
            f"</ImageFormat><Layers>{escape(layers)}</Layers><Styles>{escape(styles)}</Styles>"
            f"<BBoxOrder>{axis}</BBoxOrder></Service>{window}<BlockSizeX>512</BlockSizeX><BlockSizeY>512</BlockSizeY>"
            f"<BandsCount>{int(bands)}</BandsCount><MaxConnections>{int(max_connections)}</MaxConnections>"
            f"</GDAL_WMS>")


#: ArcGIS's own codes of web mercator (a service's ``wkid`` 102100 is ``ESRI:102100`` in QGIS), and the EPSG code
#: ArcGIS servers take for it
WEB_MERCATOR_ALIASES = {"ESRI:102100": "EPSG:3857", "ESRI:102113": "EPSG:3857", "EPSG:102100": "EPSG:3857",
                        "EPSG:900913": "EPSG:3857"}


def arcgis_description(url: str, crs: str, layers: str = "", max_connections: int = 8) -> str:
    """A GDAL WMS (``AGS`` minidriver) description of an ArcGIS REST MapServer (``export`` requests; ``layers`` as
    ArcGIS writes them, e.g. ``show:0``) or ImageServer (``exportImage``) ``url``, in ``crs`` (an EPSG code) over its
    area of use. Pictures are asked for as ``png32`` (a plain ``png`` may be an 8-bit palette); the alpha band marks
    where the service has no data."""
    service = url.split("?", 1)[0].rstrip("/")
    if not service.endswith(("/MapServer", "/ImageServer")):
        raise ConfigError(f"The ArcGIS REST URL '{url}' names no MapServer or ImageServer; give the service's URL, "
                          "such as https://host/arcgis/rest/services/NAME/MapServer.")
    crs = WEB_MERCATOR_ALIASES.get(crs.upper(), crs)
    if not crs.upper().startswith("EPSG:"):
        raise ConfigError(f"The ArcGIS layer's CRS '{crs}' is no EPSG code; choose the layer's CRS in QGIS as an "
                          "EPSG code (ArcGIS REST asks for a well-known ID).")
    _, window = _crs_window(crs, "ArcGIS layer")
    # the minidriver adds "/export?" unless the URL already ends in an export or exportImage request
    server = service + "/exportImage?" if service.endswith("/ImageServer") else service
    return (f"<GDAL_WMS><Service name=\"AGS\"><ServerUrl>{escape(server)}</ServerUrl><SRS>{escape(crs)}</SRS>"
            f"<ImageFormat>png32</ImageFormat><Layers>{escape(layers)}</Layers><Transparent>true</Transparent>"
            f"<BBoxOrder>xyXY</BBoxOrder></Service>{window}<BlockSizeX>512</BlockSizeX><BlockSizeY>512</BlockSizeY>"
            f"<BandsCount>4</BandsCount><MaxConnections>{int(max_connections)}</MaxConnections></GDAL_WMS>")


def _crs_window(crs: str, what: str) -> tuple[object, str]:
    """(the SRS of ``crs``, a GDAL WMS ``<DataWindow>`` over its area of use, 2^30 square pixels along its longer side:
    finer than any window is read at; GDAL reads a coarser one from its overviews)."""
    osr = require("osgeo.osr")
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(crs)
    except RuntimeError as exc:
        raise ConfigError(f"The {what}'s CRS '{crs}' is unknown to GDAL ({exc}); choose another CRS.") from exc
    if srs.IsGeographic():
        xmin, ymin, xmax, ymax = -180.0, -90.0, 180.0, 90.0
    elif srs.GetAuthorityCode(None) == "3857":
        xmin, ymin, xmax, ymax = -MERCATOR, -MERCATOR, MERCATOR, MERCATOR
    else:
        area = srs.GetAreaOfUse()
        if area is None:
            raise ConfigError(f"The web layer's CRS '{crs}' has no known area of use; choose EPSG:3857 or EPSG:4326.")
        wgs84 = osr.SpatialReference()
        wgs84.ImportFromEPSG(4326)
        for ref in (wgs84, srs):
            ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        xmin, ymin, xmax, ymax = osr.CoordinateTransformation(wgs84, srs).TransformBounds(
            area.west_lon_degree, area.south_lat_degree, area.east_lon_degree, area.north_lat_degree, 21)
    # square pixels (GDAL then picks one overview for both axes), 2^30 along the longer side: a few cm at most
    pixel = max(xmax - xmin, ymax - ymin) / 2 ** 30
    return srs, (f"<DataWindow><UpperLeftX>{xmin}</UpperLeftX><UpperLeftY>{ymax}</UpperLeftY>"
                 f"<LowerRightX>{xmax}</LowerRightX><LowerRightY>{ymin}</LowerRightY>"
                 f"<SizeX>{max(1, round((xmax - xmin) / pixel))}</SizeX>"
                 f"<SizeY>{max(1, round((ymax - ymin) / pixel))}</SizeY></DataWindow>")


def wcs_description(url: str, coverage: str, version: str = "1.0.0") -> str:
    """A GDAL WCS description of one coverage."""
    return (f"<WCS_GDAL><ServiceURL>{escape(url)}</ServiceURL><Version>{escape(version)}</Version>"
            f"<CoverageName>{escape(coverage)}</CoverageName></WCS_GDAL>")


def web_window(description: str, extent: list[float], extent_crs: str | None,
               pixel_size: float | Callable[[float], float | None], destination: str | os.PathLike,
               name: str = "web layer", no_finer_than_service: bool = False) -> WebWindow:
    """The window ``extent`` (xmin, ymin, xmax, ymax in ``extent_crs``; None: the source's CRS) of the web source
    ``description`` at ``pixel_size`` metres on the ground (:mod:`engine.data.ground`) as a warped VRT at
    ``destination`` (a ``.web.vrt`` file in an existing folder). ``pixel_size`` may be a function of the extent's middle
    latitude (a model trained in degrees). ``no_finer_than_service``: a pixel finer than the service's finest level
    becomes that level's (``asked`` keeps the size asked). Nothing is fetched here but the service's description (WMTS
    capabilities, WCS coverage description)."""
    gdal, osr = require("osgeo.gdal"), require("osgeo.osr")
    network.apply_defaults()
    if not callable(pixel_size):
        _check_size(pixel_size, name)
    gdal.UseExceptions()
    url = service_url(description)
    if description.startswith("<WCS_GDAL>"):  # GDAL's WCS driver writes what it learns beside its description
        saved = Path(destination).with_name(Path(destination).name.replace(WINDOW_SUFFIX, "") + ".wcs.xml")
        saved.write_text(description, encoding="utf-8")
        description = str(saved)
    try:
        source = gdal.Open(description)
    except RuntimeError as exc:
        where = f" from its service {url}" if url else ""
        raise DataError(f"The {name} could not be opened as a web raster{where} ({exc})"
                        f"{network.remote_hint(description)}; check that the service is up and the layer's URL is "
                        f"right.") from exc
    source_crs = source.GetProjection()
    bands = source.RasterCount
    left, dx, _, top, _, dy = source.GetGeoTransform()
    right, bottom = left + dx * source.RasterXSize, top + dy * source.RasterYSize
    source = None
    target = osr.SpatialReference()
    target.SetFromUserInput(source_crs)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    bounds = _bounds_in(extent, extent_crs, target)
    xmin, ymin, xmax, ymax = bounds
    if xmin >= max(left, right) or xmax <= min(left, right) or ymin >= max(top, bottom) or ymax <= min(top, bottom):
        # read there, the service sends nothing and the window is blank: a model would segment nothing
        covers = (f"x {min(left, right):.6g}..{max(left, right):.6g}, y {min(top, bottom):.6g}.."
                  f"{max(top, bottom):.6g}")
        raise ConfigError(f"The extent {list(extent)} lies outside the map of the {name} (it covers {covers} in its "
                          f"CRS; web maps in EPSG:3857 end at latitude ±85.06°); draw the extent where the service "
                          f"has a map.")
    ground = pixel_size(middle_latitude(target, bounds)) if callable(pixel_size) else pixel_size
    _check_size(ground, name)
    asked, per_metre = float(ground), map_units_per_metre(target, bounds)
    pixel_size = ground * per_metre
    finest = min(abs(dx), abs(dy))  # the source's own grid: its finest level (a WMS's is finer than any read)
    if no_finer_than_service and not _renders_any_size(description) and pixel_size < finest * (1 - 1e-9):
        pixel_size, ground = finest, finest / per_metre  # finer would only enlarge the service's pixels
    width, height = round((xmax - xmin) / pixel_size), round((ymax - ymin) / pixel_size)
    if width < 1 or height < 1:
        raise ConfigError(f"The extent for the {name} is smaller than one pixel of {ground} m; draw a "
                          f"larger extent or give a smaller pixel size.")
    if width * height > 2 ** 31:
        raise ConfigError(f"The extent for the {name} at {ground} m per pixel is {width} x {height} "
                          f"pixels; draw a smaller extent or give a larger pixel size.")
    path = Path(destination)
    description = _on_grid(description, xmin, ymax, width, height, pixel_size)
    options = gdal.WarpOptions(format="VRT", outputBounds=(xmin, ymax - height * pixel_size,
                                                          xmin + width * pixel_size, ymax),
                               xRes=pixel_size, yRes=pixel_size, dstSRS=source_crs, resampleAlg="bilinear",
                               multithread=False)
    warped = path.with_name(path.name.replace(WINDOW_SUFFIX, "") + ".warp.vrt")
    result = gdal.Warp(str(warped), description, options=options)  # raises, as gdal.UseExceptions() above asks
    alpha = result.GetRasterBand(bands).GetColorInterpretation() == gdal.GCI_AlphaBand and bands > 1
    result = None
    # the alpha band (where tiles are missing or transparent) becomes the window's mask: nodata to the engine,
    # never black pixels the model would segment
    colour = list(range(1, bands)) if alpha else list(range(1, bands + 1))
    final = gdal.Translate(str(path), str(warped), options=gdal.TranslateOptions(
        format="VRT", bandList=colour, maskBand=bands if alpha else None))
    final.SetMetadataItem(SERVICE_TAG, f"{name}|{url}")
    final = None
    return WebWindow(str(path), len(colour), width, height, float(ground), float(pixel_size),
                     asked if ground > asked else None)


def _check_size(size: float | None, name: str) -> None:
    if not size or size <= 0 or size != size:
        raise ConfigError(f"The pixel size for the {name} must be a positive number of metres (got {size}).")


def _on_grid(description: str, left: float, top: float, width: int, height: int, pixel: float) -> str:
    """A WMS or ArcGIS REST description with the window's grid as its data window, so the service is asked for exactly
    the window's pixels: read through its next finer zoom level instead, every picture would be resampled twice, softer
    than what the server renders. Tile services (XYZ, WMTS) have fixed levels and WCS asks for the grid itself: left as
    they are."""
    text = _description_text(description)
    if not _renders_any_size(text) or "<DataWindow>" not in text:
        return description
    window = (f"<DataWindow><UpperLeftX>{left!r}</UpperLeftX><UpperLeftY>{top!r}</UpperLeftY>"
              f"<LowerRightX>{left + width * pixel!r}</LowerRightX><LowerRightY>{top - height * pixel!r}</LowerRightY>"
              f"<SizeX>{width}</SizeX><SizeY>{height}</SizeY></DataWindow>")
    return re.sub(r"<DataWindow>.*?</DataWindow>", window, text, count=1, flags=re.S)


def _description_text(description: str) -> str:
    """A web description's text (itself, or the text of the ``.xml`` file it names)."""
    if not description.lstrip().startswith("<") and description.lower().endswith(".xml") and \
            os.path.isfile(description):
        return Path(description).read_text(encoding="utf-8", errors="replace")
    return description


def _renders_any_size(description: str) -> bool:
    """Whether the service renders any box at any size (a WMS or ArcGIS REST description)."""
    text = _description_text(description)
    return text.lstrip().startswith("<GDAL_WMS") and bool(re.search(r"<Service\s+name=\"(WMS|AGS)\"", text))


def service_kind(description: str) -> str:
    """What a web description serves, in QGIS's words: XYZ, WMS, WMTS, WCS, ArcGIS MapServer or ArcGIS ImageServer
    ("web" when none of these)."""
    text = _description_text(description).lstrip()
    if text.startswith(("WMTS:", "<GDAL_WMTS")):
        return "WMTS"
    if text.startswith(("WCS:", "<WCS_GDAL")):
        return "WCS"
    service = re.search(r"<Service\s+name=\"(\w+)\"", text)
    kind = service.group(1) if service else ""
    if kind == "AGS":
        return "ArcGIS ImageServer" if service_url(text).rstrip("/").endswith("/ImageServer") else "ArcGIS MapServer"
    return {"TMS": "XYZ", "WMS": "WMS"}.get(kind, "web")


def service_url(description: str) -> str:
    """The service's URL in a web description (its server, capabilities or service URL), or ''."""
    description = _description_text(description).lstrip()
    if description.startswith("WMTS:"):
        return description[len("WMTS:"):].split(",", 1)[0]
    found = re.search(r"<(ServerUrl|ServerURL|ServiceURL|GetCapabilitiesUrl)>(.*?)</\1>", description)
    return unescape(found.group(2)).rstrip("?&") if found else ""


def _bounds_in(extent: list[float], extent_crs: str | None, target: object) -> tuple[float, float, float, float]:
    """``extent`` reprojected into ``target`` (the bounding box of its reprojected edges)."""
    osr = require("osgeo.osr")
    xmin, ymin, xmax, ymax = (float(v) for v in extent)
    if not extent_crs:
        return xmin, ymin, xmax, ymax
    given = osr.SpatialReference()
    try:
        given.SetFromUserInput(str(extent_crs))
    except RuntimeError as exc:
        raise ConfigError(f"The extent's CRS '{extent_crs}' is unknown to GDAL ({exc}).") from exc
    given.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    what = f"The extent {list(extent)} ({mention('segment.extent_crs')} {extent_crs})"
    if given.IsGeographic() and not (-90 <= ymin and ymax <= 90):
        raise ConfigError(f"{what} reaches latitude {ymin:g}..{ymax:g}; latitudes lie within -90..90. Give the "
                          f"extent as west south east north, in degrees.")
    if given.IsSame(target):  # type: ignore[arg-type]
        return xmin, ymin, xmax, ymax
    cause = ""
    try:
        bounds = tuple(osr.CoordinateTransformation(given, target).TransformBounds(xmin, ymin, xmax, ymax, 21))
    except RuntimeError as exc:
        bounds, cause = (), f" (PROJ: {' '.join(str(exc).split())})"
    if len(bounds) != 4 or not all(math.isfinite(v) for v in bounds):
        raise ConfigError(f"{what} cannot be brought into the web service's CRS{cause}; check its CRS and its "
                          f"coordinates.")
    return bounds  # type: ignore[return-value]
