"""The Toolbox algorithm "Polygons from a class raster" (dualstream:polygons) run through Processing, its layer
loaded with the classes outlined."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

pytestmark = pytest.mark.qgis


def test_any_class_raster_into_attributed_polygons(plugin, tmp_path):
    import processing
    from qgis.core import QgsProject

    array = np.zeros((60, 60), np.uint8)
    array[5:25, 8:30] = 1
    array[35:55, 10:50] = 2
    raster = tmp_path / "landcover.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=60, height=60, count=1, dtype="uint8",
                       crs="EPSG:32616", transform=from_origin(700000, 3700000, 0.5, 0.5), nodata=255) as dst:
        dst.write(array[None])
    out = tmp_path / "landcover.gpkg"
    results = processing.runAndLoadResults("dualstream:polygons", {
        "INPUT": str(raster), "OUTPUT": str(out), "CLASS_NAMES": "background,building,forest",
        "CLASS_MIN_AREA": "forest=1000"})
    # the building; not the background (a no-data-like class), nor the 200 m2 forest (under its minimum)
    assert results["POLYGONS"] == 1
    layer, = QgsProject.instance().mapLayersByName("landcover polygons")
    rows = {f["class_name"]: (f["treatment"], f["area_m2"], f["scene"]) for f in layer.getFeatures()}
    assert rows["building"] == ("regularise", pytest.approx(110.0), "landcover")
    assert set(rows) == {"building"}
    assert layer.renderer().type() == "categorizedSymbol"
    QgsProject.instance().removeAllMapLayers()


def test_qgis_process_runs_it_headless(qgis_process, deploy_plugin, venv_site_packages, tmp_path):
    import json

    from osgeo import ogr

    array = np.zeros((40, 40), np.uint8)
    array[4:20, 6:30] = 1
    raster = tmp_path / "roofs.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=40, height=40, count=1, dtype="uint8",
                       crs="EPSG:32616", transform=from_origin(700000, 3700000, 1.0, 1.0), nodata=255) as dst:
        dst.write(array[None])
    root = tmp_path / "profile"
    deploy_plugin(root, venv_site_packages)
    out = tmp_path / "roofs.gpkg"
    env = {"DUALSTREAM_SITE_PACKAGES": None, "PYTHONPATH": None, "PYTHONHOME": None}
    done = qgis_process.run_json(root, "run", "dualstream:polygons", "--", f"INPUT={raster}",
                                 "CLASS_NAMES=background,building", f"OUTPUT={out}", env=env)
    assert done["results"]["POLYGONS"] == 1, json.dumps(done)
    source = ogr.Open(str(out))
    feature = source.GetLayer(0).GetNextFeature()
    assert feature.GetField("class_name") == "building" and feature.GetField("area_m2") == pytest.approx(384.0)
