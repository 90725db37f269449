"""QGIS's layer filter (``file.gpkg|layername=NAME|subset=SQL``): applied wherever a vector layer is read, or
refused with the layer and the filter named; never dropped."""

from __future__ import annotations

import pytest
from osgeo import ogr, osr
from rasterio.transform import from_origin

from engine.data.labels import RegionMask, read_polygons
from engine.data.raster import RasterGrid
from engine.errors import DataError
from engine.io import locations
from tests.helpers import RecordingCallback


@pytest.fixture
def layer(tmp_path):
    """Two 10 m squares in one layer (class 1 and 2) beside another layer of the same file."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    path = tmp_path / "areas.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    for name in ("aoi", "other"):
        created = source.CreateLayer(name, srs=srs, geom_type=ogr.wkbPolygon)
        created.CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
        for value, x in ((1, 0), (2, 20)):
            feature = ogr.Feature(created.GetLayerDefn())
            feature.SetField("class", value)
            feature.SetGeometry(ogr.CreateGeometryFromWkt(
                f"POLYGON(({x} 0,{x + 10} 0,{x + 10} 10,{x} 10,{x} 0))"))
            created.CreateFeature(feature)
    source = None
    return str(path)


def test_the_filter_is_read_from_qgis_source_text():
    text = '/d/a.gpkg|layername=aoi|subset="class" = 1 AND "name" = \'a|b\''
    assert locations.split_layer(text) == ("/d/a.gpkg", "aoi")
    assert locations.layer_subset(text) == '"class" = 1 AND "name" = \'a|b\''
    assert locations.layer_subset("/d/a.gpkg|layername=aoi") is None
    assert locations.layer_subset("/d/a.gpkg|subset=") is None
    assert locations.split_layer("/d/a.gpkg|subset=x = '|layername=z'") == ("/d/a.gpkg", None)


def test_read_polygons_keeps_only_what_the_filter_selects(layer):
    callback = RecordingCallback()
    shapes, _ = read_polygons(f'{layer}|layername=aoi|subset="class" = 2', None, "class", callback=callback)
    assert [s.value for s in shapes] == [2]
    assert any("1 polygon(s) pass its filter" in m for m in callback.messages("info"))
    shapes, _ = read_polygons(f"{layer}|layername=aoi|subset=fid = 1", None, "class")
    assert [s.value for s in shapes] == [1]
    assert len(read_polygons(f"{layer}|layername=aoi", None, "class")[0]) == 2


@pytest.mark.parametrize("subset, said", [('"klass" = 1', "no field 'klass'"), ("class = = 1", "syntax error"),
                                          ("SELECT * FROM aoi", "whole SELECT statement")])
def test_a_bad_filter_names_the_layer_and_the_filter(layer, subset, said):
    with pytest.raises(DataError, match="layer 'aoi'") as error:
        read_polygons(f"{layer}|layername=aoi|subset={subset}", None, "class", role="label layer")
    assert said in str(error.value) and f"'{subset}'" in str(error.value)


def test_an_area_of_interest_is_only_its_filtered_polygons(layer):
    grid = RasterGrid("EPSG:32633", from_origin(0, 10, 1, 1), 30, 10)
    mask = RegionMask("EPSG:32633", aoi=f'{layer}|layername=aoi|subset="class" = 1').mask(grid)
    assert mask[:, :10].all() and not mask[:, 10:].any()
