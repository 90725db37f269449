"""Where the labelling panel's Accept writes the class value in a user's own polygon layer (a real GeoPackage read by
QGIS's ``ogr`` provider): an integer class field before a text one, the number written into a text class field only
where that field holds class numbers already (and said), a text field of class names refused naming the field and
the layer, and never the GeoPackage's feature id. Before, the field named ``class`` was taken whatever its type (a
String field got the text '7' beside names such as 'building') and a layer without one got the class in ``fid``."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.qgis]

CLASS = 7


@pytest.fixture(autouse=True)
def clean_project():
    yield
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


def _geopackage(path, fields: dict[str, int], values: list[dict] = ()):
    """A GeoPackage polygon layer 'labels' in EPSG:32633 with ``fields`` (name: OGR type) and features of
    ``values``, opened by QGIS."""
    from osgeo import ogr, osr
    from qgis.core import QgsVectorLayer

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("labels", srs, ogr.wkbMultiPolygon)
    for name, kind in fields.items():
        layer.CreateField(ogr.FieldDefn(name, kind))
    for row in values:
        feature = ogr.Feature(layer.GetLayerDefn())
        for name, value in row.items():
            feature.SetField(name, value)
        feature.SetGeometry(ogr.CreateGeometryFromWkt("MULTIPOLYGON (((0 0,1 0,1 1,0 0)))"))
        layer.CreateFeature(feature)
    source = None
    opened = QgsVectorLayer(str(path), "labels", "ogr")
    assert opened.isValid()
    return opened


def _accept(layer):
    """One square mask (EPSG:32633) accepted into ``layer`` with the class value; the features added."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsGeometry

    from dualstream_qgis.labeling.targets import Accepted

    before = {f.id() for f in layer.getFeatures()}
    square = QgsGeometry.fromWkt("POLYGON ((10 10, 20 10, 20 20, 10 20, 10 10))")
    added, _ = Accepted().add(layer, [square], QgsCoordinateReferenceSystem("EPSG:32633"), CLASS, 0.9)
    layer.reload()
    return added, [f for f in layer.getFeatures() if f.id() not in before]


def test_an_integer_class_field_is_taken_before_a_text_one(qgis_app, tmp_path):
    from osgeo import ogr

    from dualstream_qgis.labeling.targets import class_target

    layer = _geopackage(tmp_path / "both.gpkg", {"class": ogr.OFTString, "class_id": ogr.OFTInteger})
    target = class_target(layer)
    assert (target.field, target.text) == ("class_id", False)
    added, features = _accept(layer)
    assert added == 1 and features[0]["class_id"] == CLASS and isinstance(features[0]["class_id"], int)
    assert not features[0]["class"]  # the text field is left empty, not given '7'


def test_a_text_class_field_of_numbers_gets_the_number_as_text_and_says_so(qgis_app, tmp_path):
    from osgeo import ogr

    from dualstream_qgis.labeling.targets import class_target

    layer = _geopackage(tmp_path / "numbers.gpkg", {"class": ogr.OFTString}, [{"class": "2"}, {}, {"class": " "}])
    target = class_target(layer)  # no value or a blank one is no class name
    assert (target.field, target.text) == ("class", True)
    assert target.said(CLASS) == f"the field 'class' of 'labels' is a text field: the class is written as the text " \
                                 f"'{CLASS}'"
    added, features = _accept(layer)
    assert added == 1 and features[0]["class"] == str(CLASS)


def test_a_text_class_field_of_names_is_refused_naming_the_field_and_the_layer(qgis_app, tmp_path):
    from osgeo import ogr

    layer = _geopackage(tmp_path / "names.gpkg", {"class": ogr.OFTString}, [{"class": "building"}])
    with pytest.raises(ValueError) as refused:
        _accept(layer)
    said = str(refused.value)
    assert "'labels' keeps its classes as text in the field 'class' ('building')" in said, said
    assert "add an integer field" in said and "scratch layer" in said
    layer.reload()
    assert layer.featureCount() == 1  # nothing was added


def test_the_feature_id_is_never_taken_for_the_class(qgis_app, tmp_path):
    """A GeoPackage's ``fid`` is an integer field to QGIS: the class went there (a second accept of the same class
    then failed on the unique id)."""
    from osgeo import ogr

    layer = _geopackage(tmp_path / "plain.gpkg", {"name": ogr.OFTString})
    with pytest.raises(ValueError, match="'labels' has no class field"):
        _accept(layer)
    layer.reload()
    assert layer.featureCount() == 0


def test_a_new_scratch_layer_draws_each_class_as_an_outline_over_a_light_fill(qgis_app):
    """Before, the scratch layer got QGIS's random opaque fill, which hid the image under every accepted label.
    Now each class is drawn in the engine's default colour of that class (what a model trained on the labels
    shows): the colour as the outline, a light see-through fill of it."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsExpressionContext,
        QgsExpressionContextUtils,
        QgsFeature,
        QgsProject,
    )

    from dualstream_qgis.compat import SYMBOL_FILL_COLOR, SYMBOL_STROKE_COLOR
    from dualstream_qgis.labeling.targets import new_scratch_layer
    from engine.api import fill_class_colors

    layer = new_scratch_layer(QgsCoordinateReferenceSystem("EPSG:32633"))
    try:
        fill = layer.renderer().symbol().symbolLayer(0)
        colours = {}
        for value in (0, 1, 2, 3):
            feature = QgsFeature(layer.fields())
            feature.setAttribute("class", value)
            context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
            context.setFeature(feature)
            colours[value] = [fill.dataDefinedProperties().property(key).valueAsColor(context)[0]  # (colour, ok)
                              for key in (SYMBOL_STROKE_COLOR, SYMBOL_FILL_COLOR)]
        expected = fill_class_colors([], 4)
        for value, (stroke, area) in colours.items():
            assert stroke.name() == expected[value] and stroke.alpha() == 255
            assert area.name() == expected[value] and 0 < area.alpha() <= 80  # light: the image shows through
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
