"""Web services as GDAL sources without QGIS: the command line reads a saved GDAL description of a WMS or ArcGIS
REST service (``--image layer.xml``) served by tests/ogc_server.py on 127.0.0.1, and the descriptions refuse what
they cannot stand for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.data.synthetic import make_scene
from engine.errors import ConfigError, DataError
from engine.imagery.web import (
    WINDOW_SUFFIX,
    arcgis_description,
    wcs_description,
    web_window,
    wms_description,
)
from tests.helpers import make_bundle
from tests.ogc_server import OgcServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(an 8-bit RGB 256 x 256 GeoTIFF at 1 m, a 3-band model for it)."""
    root = tmp_path_factory.mktemp("served")
    scene = make_scene(root, "train", size=(256, 256), seed=1, field_seed=1, label_from="both", aux_channels=0)
    rgb = root / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                    scene["image"], str(rgb)], check=True)
    return str(rgb), make_bundle(root / "m3.dsmodel", vision_bands=3, seed=0, vision_high=255.0, gsd=1.0)


def _cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "engine", *args, "--device", "cpu", "--json"], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"),
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("service", ["WMS", "ArcGIS MapServer"])
def test_the_cli_segments_a_saved_service_description(served, service, tmp_path):
    """The GDAL description the plugin builds for a layer, saved as ``layer.xml``, is an ``--image`` read over
    ``--extent`` at ``--pixel-size``: the classes agree with those of the GeoTIFF the server renders from."""
    rgb, model = served
    with rasterio.open(rgb) as src:
        b, crs = src.bounds, src.crs.to_string()
    with OgcServer(rgb) as server:
        if service == "WMS":
            description = wms_description(f"{server.url}/wms", "scene", crs)
        else:
            description = arcgis_description(f"{server.url}/arcgis/rest/services/scene/MapServer", crs, "show:0")
        layer = tmp_path / "layer.xml"
        layer.write_text(description, encoding="utf-8")
        web = _cli("segment", "--image", str(layer), "--extent", str(b.left), str(b.bottom), str(b.right),
                   str(b.top), "--extent-crs", crs, "--pixel-size", "1", "--model", model, "--out",
                   str(tmp_path / "web.tif"))
        assert server.requests("GetMap" if service == "WMS" else "export") > 0
    local = _cli("segment", "--image", rgb, "--model", model, "--out", str(tmp_path / "local.tif"))
    with rasterio.open(web["output"]) as a, rasterio.open(local["output"]) as b:
        web_classes, local_classes = a.read(1), b.read(1)
        assert a.transform == b.transform and a.crs == b.crs
    agreement = float((web_classes == local_classes).mean())
    print(f"{service} description via the CLI: agreement {agreement:.4f}", file=sys.stderr)
    assert 0.05 < float((local_classes == 1).mean()) < 0.95
    assert agreement >= 0.99  # the service is asked for the grid's own pixels: nothing resampled


def test_a_failed_fetch_names_the_service_and_the_status(served, tmp_path):
    rgb, model = served
    with rasterio.open(rgb) as src:
        b, crs = src.bounds, src.crs.to_string()
    with OgcServer(rgb, fail={"/wms": 500}) as server:
        layer = tmp_path / "layer.xml"
        layer.write_text(wms_description(f"{server.url}/wms", "scene", crs), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "engine", "segment", "--image", str(layer), "--extent",
                               str(b.left), str(b.bottom), str(b.right), str(b.top), "--extent-crs", crs,
                               "--pixel-size", "1", "--model", model, "--device", "cpu", "--out",
                               str(tmp_path / "web.tif")], capture_output=True, text=True, cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=600)
    assert done.returncode != 0
    assert f"its service {server.url}/wms answered HTTP 500" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "web.tif").exists()


def test_a_wcs_that_fails_names_the_service_and_the_status(served, tmp_path, monkeypatch):
    """GDAL's WCS driver asks for a small coverage as it opens (QGIS's provider too: the layer is then invalid):
    the window is refused there, naming the service and the status."""
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")  # a 500 is not worth waiting for here
    rgb, _ = served
    with rasterio.open(rgb) as src:
        b, crs = src.bounds, src.crs.to_string()
    with OgcServer(rgb, fail={"/wcs": 500}, fail_requests={"GetCoverage"}) as server:
        with pytest.raises(DataError, match="500") as error:
            web_window(wcs_description(f"{server.url}/wcs", "scene"), [b.left, b.bottom, b.right, b.top], crs, 1.0,
                       tmp_path / f"wcs{WINDOW_SUFFIX}", name="WCS layer")
    assert f"The WCS layer could not be opened as a web raster from its service {server.url}/wcs" in str(error.value)


def test_arcgis_descriptions_name_a_service_and_an_epsg_crs():
    assert "exportImage?" in arcgis_description("https://h/arcgis/rest/services/x/ImageServer", "EPSG:3857")
    assert "exportImage" not in arcgis_description("https://h/arcgis/rest/services/x/MapServer", "EPSG:3857")
    with pytest.raises(ConfigError, match="names no MapServer or ImageServer"):
        arcgis_description("https://h/arcgis/rest/services/x/FeatureServer", "EPSG:3857")
    with pytest.raises(ConfigError, match="no EPSG code"):
        arcgis_description("https://h/arcgis/rest/services/x/MapServer", "ESRI:54009")
    # a service in web mercator says wkid 102100, which QGIS calls ESRI:102100
    assert "<SRS>EPSG:3857</SRS>" in arcgis_description("https://h/arcgis/rest/services/x/MapServer", "ESRI:102100")


def test_a_model_trained_in_degrees_reads_a_web_service_at_its_pixel_size_in_metres(served, tmp_path):
    """A model trained on an EPSG:4326 scene (pixel size in degrees) read a web layer of it at "9.1e-05 m per
    pixel" and was refused. Its pixel size is now metres on the ground at the extent's latitude: the service is
    read on the file's own grid, and the classes agree with those of the file."""
    rgb, _ = served
    geographic = tmp_path / "rgb4326.tif"
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:4326", "-r", "near", rgb, str(geographic)], check=True)
    with rasterio.open(geographic) as src:
        b, degrees, transform = src.bounds, src.res[0], src.transform
    model = make_bundle(tmp_path / "m4326.dsmodel", vision_bands=3, seed=0, vision_high=255.0, gsd=degrees,
                        crs="EPSG:4326")
    latitude = (b.bottom + b.top) / 2
    expected = degrees * 111_320.0 * np.cos(np.radians(latitude))
    with OgcServer(str(geographic)) as server:
        layer = tmp_path / "layer.xml"
        layer.write_text(wms_description(f"{server.url}/wms", "scene", "EPSG:4326"), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "engine", "segment", "--image", str(layer), "--extent",
                               str(b.left), str(b.bottom), str(b.right), str(b.top), "--extent-crs", "EPSG:4326",
                               "--model", model, "--device", "cpu", "--out", str(tmp_path / "web.tif")],
                              capture_output=True, text=True, cwd=REPO, timeout=600,
                              env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    said = " ".join(done.stderr.split())
    found = re.search(r"not given: the web service .*? is read at ([0-9.]+) m per pixel, the model's training", said)
    assert found, said[-2000:]
    chosen = float(found.group(1))
    assert abs(chosen - expected) < 0.01 * expected and 0.3 < chosen < 3  # about a metre, not 1e-05
    local = _cli("segment", "--image", str(geographic), "--model", model, "--out", str(tmp_path / "local.tif"))
    with rasterio.open(tmp_path / "web.tif") as a, rasterio.open(local["output"]) as c:
        assert a.crs.to_epsg() == 4326 and a.shape == c.shape
        assert np.allclose(tuple(a.transform)[:6], tuple(transform)[:6], rtol=0, atol=degrees * 1e-3)
        agreement = float((a.read(1) == c.read(1)).mean())
    print(f"EPSG:4326 model on a WMS of its scene: {chosen:.4g} m per pixel ({degrees:.4g} deg at latitude "
          f"{latitude:.2f}), agreement with the file {agreement:.4f}", file=sys.stderr)
    assert agreement >= 0.99


@pytest.mark.parametrize("extent, said", [([-71.1, 42.3, -71.0, 95.0], "latitudes lie within -90..90"),
                                          ([-71.1, 86.0, -71.0, 86.5], "lies outside the map of the web layer"),
                                          ([-71.1, 89.9, -71.0, 90.0], "lies outside the map of the web layer")])
def test_an_extent_no_web_map_holds_is_refused_before_any_tile(tmp_path, extent, said):
    from engine.errors import ConfigError
    from engine.imagery.web import web_window, xyz_description

    description = xyz_description("http://127.0.0.1:9/{z}/{x}/{y}.png")  # nothing listens: no tile may be asked
    with pytest.raises(ConfigError, match=said):
        web_window(description, extent, "EPSG:4326", 1.0, tmp_path / "w.web.vrt")


def _read_at(description: str, pixel: float, folder, **options) -> tuple[str, list[str]]:
    """The window of ``description`` over 200 x 150 m of web mercator at 45°N read at ``pixel`` metres through the
    image door, and what was said (nothing is fetched: the window is a virtual raster, kept in ``folder``)."""
    from engine.callbacks import Callback
    from engine.imagery.door import open_image
    from engine.imagery.request import ImageRequest

    said: list[str] = []

    class Said(Callback):
        def info(self, message: str) -> None:
            said.append(message)

    extent = [1_000_000.0, 5_620_000.0, 1_000_200.0, 5_620_150.0]
    request = ImageRequest(f"{description}|layername=tiles", extent, "EPSG:3857", pixel,
                           finest=options.get("no_finer_than_service", False))
    opened = open_image(request, Said(), folder=folder)
    opened.close()
    return opened.path, said


def test_the_labelling_window_is_read_no_finer_than_the_tiles_finest_level(tmp_path):
    """Zoomed in past the tiles' finest level, the labelling panel read the window at the canvas's pixel (0.084 m
    where the tiles end at 0.25 m): only time, and pixels enlarged for Segment Anything. Asked to, the engine reads
    it at the finest level instead and says so; a coarser pixel, a service that renders any size (WMS) and
    Segment's own reading (a model's pixel size) are left as asked."""
    from engine.imagery.web import MERCATOR, xyz_description

    tiles = xyz_description("http://127.0.0.1:9/{z}/{x}/{y}.png", zmax=16)  # nothing listens: nothing is fetched
    level = 2 * MERCATOR / (256 * 2 ** 16)  # zoom 16's pixel, in web mercator's units
    path, said = _read_at(tiles, 0.1, tmp_path / "a", no_finer_than_service=True)
    with rasterio.open(path) as window:
        assert window.res[0] == pytest.approx(level) and window.width == round(200 / level)
    latitude = np.degrees(2 * np.arctan(np.exp(5_620_075.0 / 6378137.0)) - np.pi / 2)  # the extent's middle
    finest = level * np.cos(np.radians(latitude))  # metres on the ground there, about 1.69
    assert any(line.startswith(f"The XYZ layer 'tiles' has nothing finer than {finest:.3g} m per pixel here")
               and "not at the 0.1 m asked" in line for line in said), said
    read = float(re.search(r"read over the extent at ([\d.]+) m per pixel", " ".join(said)).group(1))
    assert read == pytest.approx(finest, rel=1e-4), said
    for description, pixel, options in ((tiles, 0.1, {}), (tiles, 5.0, {"no_finer_than_service": True}),
                                        (wms_description("http://127.0.0.1:9/wms", "scene", "EPSG:3857"), 0.1,
                                         {"no_finer_than_service": True})):
        path, said = _read_at(description, pixel, tmp_path / f"{pixel}-{len(options)}", **options)
        assert not any("has nothing finer" in line for line in said), said
        assert any(f"read over the extent at {pixel:g} m per pixel" in line for line in said), said
