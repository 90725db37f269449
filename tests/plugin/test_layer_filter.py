"""A layer's filter (Query Builder, ``|subset=``) in QGIS: applied to the labels, and one OGR cannot read stops the
run naming the layer and the filter (QGIS takes any filter and shows no features for a bad one, silently)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

pytestmark = pytest.mark.qgis


@pytest.fixture
def classes_and_labels(tmp_path):
    """A 20 x 10 class raster, class 1 on its left half; a layer of two squares (class 1 left, 1 right)."""
    from osgeo import ogr, osr

    raster = tmp_path / "classes.tif"
    values = np.zeros((10, 20), np.uint8)
    values[:, :10] = 1
    with rasterio.open(raster, "w", driver="GTiff", width=20, height=10, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(0, 10, 1, 1)) as ds:
        ds.write(values[None])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    path = tmp_path / "labels.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("roofs", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("side", ogr.OFTString))
    for side, x in (("left", 0), ("right", 10)):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("side", side)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON(({x} 0,{x + 10} 0,{x + 10} 10,{x} 10,{x} 0))"))
        layer.CreateFeature(feature)
    source = None
    return str(raster), f"{path}|layername=roofs"


def test_evaluate_scores_only_the_filtered_features_and_refuses_a_bad_filter(plugin, classes_and_labels, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    raster, labels = classes_and_labels
    params = {"INPUT": raster, "OUTPUT": str(tmp_path / "m.json")}
    everything = processing.run("dualstream:evaluate", {**params, "LABELS": labels})
    left = processing.run("dualstream:evaluate", {**params, "LABELS": f"{labels}|subset=\"side\" = 'left'",
                                                  "OUTPUT": str(tmp_path / "l.json")})
    assert everything["PIXEL_ACCURACY"] == pytest.approx(0.5)  # the right square is labelled, not predicted
    assert left["PIXEL_ACCURACY"] == pytest.approx(1.0)  # only the left square: every pixel right
    for subset, said in (('"sid" = 1', "no field 'sid'"), ("side = = 1", "cannot be filtered")):
        with pytest.raises(QgsProcessingException, match=said) as error:
            processing.run("dualstream:evaluate", {**params, "LABELS": f"{labels}|subset={subset}",
                                                   "OUTPUT": str(tmp_path / "x.json")})
        assert f"'{subset}'" in str(error.value) and "LABELS" in str(error.value)
