"""A small OGC and ArcGIS REST server on 127.0.0.1 that serves one GeoTIFF, for the web-layer tests.

``with OgcServer("scene.tif") as server:`` serves the file (8-bit RGB) as

- WMS 1.3.0 at ``server.url + "/wms"``: GetCapabilities, GetMap (PNG with alpha) in EPSG:3857, EPSG:4326 and the
  file's CRS;
- WMTS 1.0.0 (KVP) at ``/wmts``: GetCapabilities with the GoogleMapsCompatible tile matrix set, GetTile;
- WCS 1.0.0 at ``/wcs``: GetCapabilities, DescribeCoverage, GetCoverage (GeoTIFF);
- ArcGIS REST at ``/arcgis/rest/services/scene/MapServer`` (``?f=json``/``pjson``, ``/0?f=json``, ``/legend``,
  ``/export?...&f=image``) and ``/arcgis/rest/services/scene/ImageServer`` (``?f=json``, ``/exportImage``).

Every picture is rendered from the file by GDAL (a bilinear warp of the asked box, size and CRS). The layer is
named ``scene``. ``fail={"/wms": 500}`` answers that status for every request to a path (the capabilities
included unless ``fail_requests`` names only some requests, e.g. ``{"GetMap", "export"}``). ``web_mercator=True``:
the ArcGIS services are in web mercator as ArcGIS Online's are (``wkid`` 102100, extents in EPSG:3857).

Like :class:`bench.http_files.FileServer` the server runs in a process of its own (a reader in the test process
may hold the GIL inside GDAL while it waits for the answer); the counters come back from :data:`STATS_PATH`.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script in the child process too
    sys.path.insert(0, str(REPO))

from bench.http_files import ChildServer  # noqa: E402 - needs the repository root on sys.path first

STATS_PATH = "/.ogc-server-stats"
MERCATOR = 20037508.342789244
REST = "/arcgis/rest/services/scene"
#: WMTS GoogleMapsCompatible: zoom levels served
ZOOMS = range(0, 20)


class OgcServer(ChildServer):
    """Context manager serving ``image`` (see the module's docstring); ``url``, ``requests`` and ``log``."""

    SCRIPT = __file__
    STATS = STATS_PATH
    NAME = "OGC server"

    def __init__(self, image: str | Path, fail: dict[str, int] | None = None, fail_requests: set[str] | None = None,
                 web_mercator: bool = False):
        super().__init__({"image": str(Path(image).resolve()), "fail": dict(fail or {}),
                          "fail_requests": sorted(fail_requests or []), "web_mercator": web_mercator})

    @property
    def log(self) -> list[tuple[str, str, int]]:
        """(path, request or ``f`` value, status) of every request answered, in order."""
        return [tuple(entry) for entry in self._stats()]

    def requests(self, kind: str) -> int:
        """How many requests of ``kind`` (``GetMap``, ``GetTile``, ``GetCoverage``, ``export``, ``exportImage``)
        were answered 200."""
        return sum(1 for _, request, status in self.log if request == kind and status == 200)


class _Scene:
    """The served file: its CRS, bounds and the pictures of any box of it."""

    def __init__(self, path: str):
        from osgeo import gdal, osr

        gdal.UseExceptions()
        self.path = path
        ds = gdal.Open(path)
        self.width, self.height = ds.RasterXSize, ds.RasterYSize
        x0, dx, _, y0, _, dy = ds.GetGeoTransform()
        self.bounds = (x0, y0 + dy * self.height, x0 + dx * self.width, y0)
        self.resolution = dx
        srs = osr.SpatialReference(wkt=ds.GetProjection())
        self.epsg = int(srs.GetAuthorityCode(None))
        self.crs = f"EPSG:{self.epsg}"
        self.lonlat = self.bounds_in("EPSG:4326")
        self.mercator = self.bounds_in("EPSG:3857")

    def bounds_in(self, crs: str) -> tuple[float, float, float, float]:
        """The file's bounds in ``crs`` (x/y, lon/lat order)."""
        from osgeo import osr

        source, target = osr.SpatialReference(), osr.SpatialReference()
        source.ImportFromEPSG(self.epsg)
        target.SetFromUserInput(crs)
        for srs in (source, target):
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        return tuple(osr.CoordinateTransformation(source, target).TransformBounds(*self.bounds, 21))

    def render(self, bbox: tuple[float, ...], width: int, height: int, crs: str, image_format: str) -> bytes:
        """The box ``bbox`` (x/y order) in ``crs`` at ``width`` x ``height`` as PNG (alpha outside the file) or
        GeoTIFF."""
        from osgeo import gdal

        png = "png" in image_format.lower()
        warped = gdal.Warp("", self.path, options=gdal.WarpOptions(
            format="MEM", outputBounds=bbox, width=width, height=height, dstSRS=crs, resampleAlg="bilinear",
            dstAlpha=png))
        name = f"/vsimem/{uuid.uuid4().hex}.{'png' if png else 'tif'}"
        gdal.Translate(name, warped, options=gdal.TranslateOptions(format="PNG" if png else "GTiff"))
        try:
            handle = gdal.VSIFOpenL(name, "rb")
            gdal.VSIFSeekL(handle, 0, 2)
            size = gdal.VSIFTellL(handle)
            gdal.VSIFSeekL(handle, 0, 0)
            data = gdal.VSIFReadL(1, size, handle)
            gdal.VSIFCloseL(handle)
        finally:
            gdal.Unlink(name)
        return bytes(data)


def _wms_capabilities(scene: _Scene, url: str) -> str:
    w, s, e, n = scene.lonlat
    boxes = "".join(f'<BoundingBox CRS="{crs}" minx="{b[0]}" miny="{b[1]}" maxx="{b[2]}" maxy="{b[3]}"/>'
                    for crs, b in ((scene.crs, scene.bounds), ("EPSG:3857", scene.mercator),
                                   ("EPSG:4326", (s, w, n, e))))
    get = f'<DCPType><HTTP><Get><OnlineResource xlink:type="simple" xlink:href="{url}/wms?"/></Get></HTTP></DCPType>'
    return (f'<?xml version="1.0"?><WMS_Capabilities version="1.3.0" xmlns="http://www.opengis.net/wms" '
            f'xmlns:xlink="http://www.w3.org/1999/xlink"><Service><Name>WMS</Name><Title>scene</Title></Service>'
            f'<Capability><Request><GetCapabilities><Format>text/xml</Format>{get}</GetCapabilities>'
            f'<GetMap><Format>image/png</Format>{get}</GetMap></Request><Exception><Format>XML</Format></Exception>'
            f'<Layer><Title>scene</Title><CRS>{scene.crs}</CRS><CRS>EPSG:3857</CRS><CRS>EPSG:4326</CRS>'
            f'<EX_GeographicBoundingBox><westBoundLongitude>{w}</westBoundLongitude><eastBoundLongitude>{e}'
            f'</eastBoundLongitude><southBoundLatitude>{s}</southBoundLatitude><northBoundLatitude>{n}'
            f'</northBoundLatitude></EX_GeographicBoundingBox>{boxes}<Layer queryable="0"><Name>scene</Name>'
            f'<Title>scene</Title></Layer></Layer></Capability></WMS_Capabilities>')


def _wmts_capabilities(scene: _Scene, url: str) -> str:
    w, s, e, n = scene.lonlat
    matrices = "".join(
        f"<TileMatrix><ows:Identifier>{z}</ows:Identifier><ScaleDenominator>"
        f"{2 * MERCATOR / 256 / 2 ** z / 0.00028}</ScaleDenominator><TopLeftCorner>{-MERCATOR} {MERCATOR}"
        f"</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight><MatrixWidth>{2 ** z}</MatrixWidth>"
        f"<MatrixHeight>{2 ** z}</MatrixHeight></TileMatrix>" for z in ZOOMS)
    kvp = (f'<ows:DCP><ows:HTTP><ows:Get xlink:href="{url}/wmts?"><ows:Constraint name="GetEncoding">'
           f'<ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get>'
           f'</ows:HTTP></ows:DCP>')
    return (f'<?xml version="1.0"?><Capabilities version="1.0.0" xmlns="http://www.opengis.net/wmts/1.0" '
            f'xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">'
            f'<ows:OperationsMetadata><ows:Operation name="GetCapabilities">{kvp}</ows:Operation>'
            f'<ows:Operation name="GetTile">{kvp}</ows:Operation></ows:OperationsMetadata><Contents><Layer>'
            f'<ows:Title>scene</ows:Title><ows:WGS84BoundingBox><ows:LowerCorner>{w} {s}</ows:LowerCorner>'
            f'<ows:UpperCorner>{e} {n}</ows:UpperCorner></ows:WGS84BoundingBox><ows:Identifier>scene'
            f'</ows:Identifier><Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>'
            f'<Format>image/png</Format><TileMatrixSetLink><TileMatrixSet>GoogleMapsCompatible</TileMatrixSet>'
            f'</TileMatrixSetLink></Layer><TileMatrixSet><ows:Identifier>GoogleMapsCompatible</ows:Identifier>'
            f'<ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>{matrices}</TileMatrixSet>'
            f'</Contents></Capabilities>')


def _wcs_capabilities(scene: _Scene, url: str) -> str:
    w, s, e, n = scene.lonlat
    online = f'<DCPType><HTTP><Get><OnlineResource xlink:href="{url}/wcs?"/></Get></HTTP></DCPType>'
    return (f'<?xml version="1.0"?><WCS_Capabilities version="1.0.0" xmlns="http://www.opengis.net/wcs" '
            f'xmlns:gml="http://www.opengis.net/gml" xmlns:xlink="http://www.w3.org/1999/xlink"><Service>'
            f'<name>WCS</name><label>scene</label></Service><Capability><Request><GetCapabilities>{online}'
            f'</GetCapabilities><DescribeCoverage>{online}</DescribeCoverage><GetCoverage>{online}</GetCoverage>'
            f'</Request><Exception><Format>application/vnd.ogc.se_xml</Format></Exception></Capability>'
            f'<ContentMetadata><CoverageOfferingBrief><name>scene</name><label>scene</label>'
            f'<lonLatEnvelope srsName="urn:ogc:def:crs:OGC:1.3:CRS84"><gml:pos>{w} {s}</gml:pos><gml:pos>{e} {n}'
            f'</gml:pos></lonLatEnvelope></CoverageOfferingBrief></ContentMetadata></WCS_Capabilities>')


def _wcs_description(scene: _Scene) -> str:
    w, s, e, n = scene.lonlat
    x0, y0, x1, y1 = scene.bounds
    r = scene.resolution
    return (f'<?xml version="1.0"?><CoverageDescription version="1.0.0" xmlns="http://www.opengis.net/wcs" '
            f'xmlns:gml="http://www.opengis.net/gml"><CoverageOffering><name>scene</name><label>scene</label>'
            f'<lonLatEnvelope srsName="urn:ogc:def:crs:OGC:1.3:CRS84"><gml:pos>{w} {s}</gml:pos><gml:pos>{e} {n}'
            f'</gml:pos></lonLatEnvelope><domainSet><spatialDomain><gml:Envelope srsName="{scene.crs}">'
            f'<gml:pos>{x0} {y0}</gml:pos><gml:pos>{x1} {y1}</gml:pos></gml:Envelope>'
            f'<gml:RectifiedGrid dimension="2" srsName="{scene.crs}"><gml:limits><gml:GridEnvelope>'
            f'<gml:low>0 0</gml:low><gml:high>{scene.width - 1} {scene.height - 1}</gml:high></gml:GridEnvelope>'
            f'</gml:limits><gml:axisName>x</gml:axisName><gml:axisName>y</gml:axisName><gml:origin><gml:pos>'
            f'{x0 + r / 2} {y1 - r / 2}</gml:pos></gml:origin><gml:offsetVector>{r} 0</gml:offsetVector>'
            f'<gml:offsetVector>0 {-r}</gml:offsetVector></gml:RectifiedGrid></spatialDomain></domainSet>'
            f'<rangeSet><RangeSet><name>bands</name><label>bands</label><axisDescription><AxisDescription>'
            f'<name>Band</name><label>Band</label><values><interval><min>1</min><max>3</max></interval></values>'
            f'</AxisDescription></axisDescription></RangeSet></rangeSet><supportedCRSs><requestResponseCRSs>'
            f'{scene.crs}</requestResponseCRSs><nativeCRSs>{scene.crs}</nativeCRSs></supportedCRSs>'
            f'<supportedFormats nativeFormat="GeoTIFF"><formats>GeoTIFF</formats></supportedFormats>'
            f'<supportedInterpolations default="nearest neighbor"><interpolationMethod>nearest neighbor'
            f'</interpolationMethod><interpolationMethod>bilinear</interpolationMethod></supportedInterpolations>'
            f'</CoverageOffering></CoverageDescription>')


def _rest_extent(scene: _Scene, wkid: int) -> dict:
    x0, y0, x1, y1 = scene.mercator if wkid == 102100 else scene.bounds
    return {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "spatialReference": {"wkid": wkid}}


def _rest_description(scene: _Scene, image_server: bool, wkid: int) -> dict:
    extent = _rest_extent(scene, wkid)
    common = {"currentVersion": 10.81, "spatialReference": {"wkid": wkid}, "initialExtent": extent,
              "fullExtent": extent, "extent": extent, "maxImageWidth": 4096,
              "maxImageHeight": 4096, "capabilities": "Image,Map" if not image_server else "Image"}
    if image_server:
        return dict(common, name="scene", serviceDataType="esriImageServiceDataTypeRGB", bandCount=3,
                    pixelType="U8", pixelSizeX=scene.resolution, pixelSizeY=scene.resolution)
    return dict(common, mapName="scene", singleFusedMapCache=False, supportedImageFormatTypes="PNG,PNG32,TIFF",
                layers=[{"id": 0, "name": "scene", "parentLayerId": -1, "subLayerIds": None}])


class _Server:
    """The server itself, run by :func:`main` in the child process."""

    def __init__(self, image: str, fail: dict[str, int], fail_requests: list[str], web_mercator: bool = False):
        self.scene = _Scene(image)
        self.wkid = 102100 if web_mercator else self.scene.epsg
        self.fail, self.fail_requests = fail, set(fail_requests)
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(handler.path)
        if parsed.path == STATS_PATH:
            with self._lock:
                self._send(handler, 200, json.dumps(self.log).encode(), "application/json")
            return
        query = {k.lower(): v for k, v in parse_qsl(parsed.query, keep_blank_values=True)}
        path = parsed.path.rstrip("/")
        request = query.get("request") or (path.rsplit("/", 1)[-1] if path.startswith(REST) and
                                           path.endswith(("/export", "/exportImage")) else query.get("f", ""))
        url = f"http://{handler.headers.get('Host')}"
        status = self.fail.get(path)
        if status and (not self.fail_requests or request in self.fail_requests):
            self._send(handler, status, b"server failure for the test", "text/plain", path, request)
            return
        try:
            status, body, kind = self._route(path, request, query, url)
        except Exception as exc:  # noqa: BLE001 - any failure is the client's answer, as a real server's
            status, body, kind = 400, f"bad request: {exc}".encode(), "text/plain"
        self._send(handler, status, body, kind, path, request)

    def _route(self, path: str, request: str, query: dict[str, str], url: str) -> tuple[int, bytes, str]:
        scene = self.scene
        xml = "text/xml"
        if path == "/wms" and request == "GetCapabilities":
            return 200, _wms_capabilities(scene, url).encode(), xml
        if path == "/wms" and request == "GetMap":
            crs = query.get("crs") or query["srs"]
            box = [float(v) for v in query["bbox"].split(",")]
            if crs.upper() == "EPSG:4326" and query.get("version", "1.3.0") == "1.3.0":
                box = [box[1], box[0], box[3], box[2]]  # WMS 1.3.0: EPSG:4326 is lat/lon
            return 200, scene.render(box, int(query["width"]), int(query["height"]), crs, "png"), "image/png"
        if path == "/wmts" and request == "GetCapabilities":
            return 200, _wmts_capabilities(scene, url).encode(), xml
        if path == "/wmts" and request == "GetTile":
            z, row, col = int(query["tilematrix"]), int(query["tilerow"]), int(query["tilecol"])
            size = 2 * MERCATOR / 2 ** z
            box = (-MERCATOR + col * size, MERCATOR - (row + 1) * size, -MERCATOR + (col + 1) * size,
                   MERCATOR - row * size)
            return 200, scene.render(box, 256, 256, "EPSG:3857", "png"), "image/png"
        if path == "/wcs" and request == "GetCapabilities":
            return 200, _wcs_capabilities(scene, url).encode(), xml
        if path == "/wcs" and request == "DescribeCoverage":
            return 200, _wcs_description(scene).encode(), xml
        if path == "/wcs" and request == "GetCoverage":
            box = [float(v) for v in query["bbox"].split(",")]
            if "width" in query:
                width, height = int(query["width"]), int(query["height"])
            else:
                width = max(1, round((box[2] - box[0]) / float(query["resx"])))
                height = max(1, round((box[3] - box[1]) / float(query["resy"])))
            crs = query.get("response_crs") or query["crs"]
            return 200, scene.render(box, width, height, crs, "tiff"), "image/tiff"
        for service, export in (("MapServer", "export"), ("ImageServer", "exportImage")):
            base = f"{REST}/{service}"
            if path == base and request in ("json", "pjson"):
                description = _rest_description(scene, service == "ImageServer", self.wkid)
                return 200, json.dumps(description).encode(), "application/json"
            if path == f"{base}/0" and service == "MapServer":
                return 200, json.dumps({"id": 0, "name": "scene", "type": "Raster Layer",
                                        "extent": _rest_extent(scene, self.wkid)}).encode(), "application/json"
            if path == f"{base}/legend":
                return 200, b'{"layers": []}', "application/json"
            if path == f"{base}/{export}":
                box = [float(v) for v in query["bbox"].split(",")]
                width, height = (int(v) for v in query["size"].split(","))
                wkid = query.get("imagesr") or query.get("bboxsr") or str(self.wkid)
                wkid = "3857" if wkid == "102100" else wkid
                if "png" not in query.get("format", "png").lower():
                    return 400, json.dumps({"error": {"code": 400, "message": "png only"}}).encode(), "application/json"
                return 200, scene.render(box, width, height, f"EPSG:{wkid}", "png"), "image/png"
        return 404, b"not found", "text/plain"

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: bytes, kind: str, path: str = "",
              request: str = "") -> None:
        if path:
            with self._lock:
                self.log.append((path, request, status))
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def main(options: str) -> None:
    """Serve with the JSON ``options`` of :class:`OgcServer`; print the port, then serve until terminated."""
    given = json.loads(options)
    server = _Server(given["image"], given["fail"], given["fail_requests"], given["web_mercator"])
    print(server.server.server_address[1], flush=True)
    server.server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
