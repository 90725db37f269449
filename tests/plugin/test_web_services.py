"""Web services as Segment's input, each against a real server on 127.0.0.1 (tests/ogc_server.py) serving one
8-bit RGB GeoTIFF: OGC WMS (in the file's CRS and in EPSG:3857), WMTS, WCS, ArcGIS REST MapServer and ImageServer.

Each layer is a real QgsRasterLayer of QGIS's own provider (``wms``, ``wcs``, ``arcgismapserver``), segmented by
the real processing.run over the file's extent at its pixel size; the class raster must agree with segmenting the
GeoTIFF itself warped onto the same grid. WMS, WCS and ArcGIS services are asked for exactly the grid's pixels
(measured: the same classes on every pixel); WMTS tiles come at fixed zoom levels, resampled onto the grid
(measured: 0.964, docs/inputs.md). A server that fails (HTTP 500) stops the run with the URL and status.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio

from tests.helpers import make_bundle
from tests.ogc_server import OgcServer

REST = "/arcgis/rest/services/scene"
#: name -> (QGIS data source, provider, the request that fetches pixels); {u}: server URL, {crs}: the file's CRS
SERVICES = {
    "WMS": ("crs={crs}&format=image/png&layers=scene&styles=&url={u}/wms", "wms", "GetMap"),
    "WMS in EPSG:3857": ("crs=EPSG:3857&format=image/png&layers=scene&styles=&url={u}/wms", "wms", "GetMap"),
    "WMTS": ("crs=EPSG:3857&format=image/png&layers=scene&styles=default&tileMatrixSet=GoogleMapsCompatible"
             "&url={u}/wmts?SERVICE%3DWMTS%26REQUEST%3DGetCapabilities", "wms", "GetTile"),
    "WCS": ("url={u}/wcs&identifier=scene&version=1.0.0&crs={crs}&format=GeoTIFF", "wcs", "GetCoverage"),
    "ArcGIS MapServer": (f"crs='{{crs}}' format='PNG32' layer='0' url='{{u}}{REST}/MapServer'", "arcgismapserver",
                         "export"),
    "ArcGIS ImageServer": (f"crs='{{crs}}' format='PNG32' url='{{u}}{REST}/ImageServer'", "arcgismapserver",
                           "exportImage"),
    # as ArcGIS Online's basemaps: wkid 102100, which QGIS calls ESRI:102100
    "ArcGIS MapServer in web mercator": (f"crs='EPSG:3857' format='PNG32' layer='0' url='{{u}}{REST}/MapServer'",
                                         "arcgismapserver", "export"),
}
#: the lowest agreement accepted (measured: see the module's docstring)
AGREEMENT = {"WMTS": 0.93}
ON_THE_GRID = 0.99


@pytest.fixture(autouse=True)
def clean_project():
    yield
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


@pytest.fixture(scope="module")
def served(scenes, tmp_path_factory):
    """(the served 8-bit RGB GeoTIFF, a 3-band model for it, the file's extent for Segment)."""
    root = tmp_path_factory.mktemp("served")
    rgb = root / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                    scenes["train"]["image"], str(rgb)], check=True)
    model = make_bundle(root / "m3.dsmodel", vision_bands=3, seed=0, vision_high=255.0, gsd=1.0)
    with rasterio.open(rgb) as src:
        b = src.bounds
        extent = f"{b.left},{b.right},{b.bottom},{b.top} [{src.crs.to_string()}]"
    return str(rgb), model, extent


def _layer(name: str, url: str, crs: str):
    from qgis.core import QgsProject, QgsRasterLayer

    source, provider, _ = SERVICES[name]
    layer = QgsRasterLayer(source.format(u=url, crs=crs), name, provider)
    assert layer.isValid(), layer.error().summary()
    QgsProject.instance().addMapLayer(layer)
    return layer


def _segment_file_on_grid(rgb: str, grid: str, model: str, folder) -> np.ndarray:
    """The classes of ``rgb`` warped (bilinear) onto ``grid``'s pixels, segmented as a file."""
    import processing
    from osgeo import gdal

    with rasterio.open(grid) as out:
        b = out.bounds
        options = gdal.WarpOptions(outputBounds=(b.left, b.bottom, b.right, b.top), width=out.width,
                                   height=out.height, dstSRS=out.crs.to_wkt(), resampleAlg="bilinear")
    warped = str(folder / "reference_input.tif")
    gdal.Warp(warped, rgb, options=options)
    result = processing.run("dualstream:segment", {"INPUT": warped, "MODEL": model,
                                                   "OUTPUT": str(folder / "reference.tif")})
    with rasterio.open(result["OUTPUT"]) as ref:
        return ref.read(1, masked=True)


@pytest.mark.parametrize("name", list(SERVICES))
def test_a_web_service_segments_as_the_file_it_serves(plugin, served, name, tmp_path):
    import processing

    rgb, model, extent = served
    with rasterio.open(rgb) as src:
        crs = src.crs.to_string()
    with OgcServer(rgb, web_mercator="web mercator" in name) as server:
        layer = _layer(name, server.url, crs)
        assert "web mercator" not in name or layer.crs().authid() == "ESRI:102100"
        result = processing.run("dualstream:segment", {"INPUT": layer.id(), "MODEL": model, "EXTENT": extent,
                                                       "PIXEL_SIZE": 1.0, "OUTPUT": str(tmp_path / "web.tif")})
        fetched = server.requests(SERVICES[name][2])
    assert fetched > 0
    with rasterio.open(result["OUTPUT"]) as out:
        web = out.read(1, masked=True)
    reference = _segment_file_on_grid(rgb, result["OUTPUT"], model, tmp_path)
    both = ~(np.ma.getmaskarray(web) | np.ma.getmaskarray(reference))
    agreement = float((web.data == reference.data)[both].mean())
    share = float((reference.data[both] == 1).mean())
    print(f"{name}: {web.shape[1]} x {web.shape[0]} px, {both.mean():.3f} valid, class 1 on {share:.3f} of the "
          f"file's pixels, agreement {agreement:.4f}, {fetched} pixel requests", file=sys.stderr)
    assert 0.05 < share < 0.95  # the model does not answer one class everywhere: agreement means something
    assert both.mean() > 0.9  # in EPSG:3857 the corners of the reprojected extent lie outside the file
    assert agreement >= AGREEMENT.get(name, ON_THE_GRID)


def test_bulk_segments_a_web_service_as_segment_does(plugin, served, tmp_path):
    """Segment in bulk windowed its web layers itself (``api.web_windows``) before the engine saw them. It hands each
    over as Segment does and the engine's image door reads it over the Extent at the pixel size: the same class
    raster as Segment's, named after the layer, beside a file scene segmented whole, no window left behind."""
    import processing

    rgb, model, extent = served
    with rasterio.open(rgb) as src:
        crs, whole = src.crs.to_string(), (src.width, src.height)
    with OgcServer(rgb) as server:
        layer = _layer("WMS", server.url, crs)
        run = {"MODEL": model, "EXTENT": extent, "PIXEL_SIZE": 1.0}
        bulk = processing.run("dualstream:segmentbulk", dict(run, INPUT=[layer.id(), rgb],
                                                              OUTPUT=str(tmp_path / "out")))
        fetched = server.requests("GetMap")
        alone = processing.run("dualstream:segment", dict(run, INPUT=layer.id(), OUTPUT=str(tmp_path / "web.tif")))
    assert fetched > 0 and bulk["DONE"] == 2 and bulk["FAILED"] == 0
    with rasterio.open(tmp_path / "out" / "WMS.tif") as web, rasterio.open(alone["OUTPUT"]) as reference:
        assert web.transform == reference.transform and web.shape == reference.shape
        assert (web.read(1) == reference.read(1)).all()
    with rasterio.open(tmp_path / "out" / "rgb.tif") as file:
        assert (file.width, file.height) == whole  # the file is segmented whole, at its own pixels
    assert not list((tmp_path / "out").rglob("*.web.vrt"))


@pytest.mark.parametrize("name,path,request_name,service", [
    ("WMS", "/wms", "GetMap", "/wms"),
    ("WMTS", "/wmts", "GetTile", "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities"),  # the layer's URL
    ("ArcGIS MapServer", f"{REST}/MapServer/export", "export", f"{REST}/MapServer")])
def test_a_failing_server_stops_the_run_with_the_url_and_status(plugin, served, name, path, request_name, service,
                                                                 tmp_path):
    """The server answers its capabilities but HTTP 500 to every picture: the run stops, naming both, and no
    class raster is left looking finished."""
    import processing
    from qgis.core import QgsProcessingException

    rgb, model, extent = served
    with rasterio.open(rgb) as src:
        crs = src.crs.to_string()
    output = tmp_path / "failed.tif"
    with OgcServer(rgb, fail={path: 500}, fail_requests={request_name}) as server:
        layer = _layer(name, server.url, crs)
        with pytest.raises(QgsProcessingException) as error:
            processing.run("dualstream:segment", {"INPUT": layer.id(), "MODEL": model, "EXTENT": extent,
                                                  "PIXEL_SIZE": 1.0, "OUTPUT": str(output)})
        assert any(status == 500 for _, _, status in server.log)
    message = str(error.value)
    print(message, file=sys.stderr)
    assert f"its service {server.url}{service} answered HTTP 500" in message
    assert not output.exists()
