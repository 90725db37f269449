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
