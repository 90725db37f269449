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


#: Each case: the label layer (geometry, its text/integer class field, its values) and the rule's own sentence, which
#: both front ends say (None: the layer takes the class).
ONE_RULE = {
    "names": ("MultiPolygon", "OFTString", ["building"], "keeps its classes as text in the field 'class' "
              "('building'), and the class is a number (beside names it would be a class of its own in training):"),
    "numbers": ("MultiPolygon", "OFTString", ["2", None, " "], None),
    "digits of another script": ("MultiPolygon", "OFTString", ["\u0663"], "keeps its classes as text in the field "
                                 "'class' ('\u0663')"),
    "points": ("Point", "OFTInteger", [2], "is a layer of points, and labels are polygons:"),
}


def _one_layer(path, geometry: str, kind: str, values: list) -> str:
    """A GeoPackage layer 'labels' (EPSG:32633) of ``geometry`` with a field 'class' of ``kind`` holding ``values``."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    data = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = data.CreateLayer("labels", srs, getattr(ogr, f"wkb{geometry}"))
    layer.CreateField(ogr.FieldDefn("class", getattr(ogr, kind)))
    shape = "POINT (1 1)" if geometry == "Point" else "MULTIPOLYGON (((0 0,1 0,1 1,0 0)))"
    for value in values:
        feature = ogr.Feature(layer.GetLayerDefn())
        if value is not None:
            feature.SetField("class", value)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(shape))
        layer.CreateFeature(feature)
    data = None
    return str(path)


def _accept_from_the_engine(tmp_path, labels: str) -> tuple[list, str]:
    """``accept`` (the CLI's and Processing's job) of one proposal of class CLASS into ``labels``: the class
    values the layer holds afterwards, or the refusal."""
    from osgeo import ogr

    from engine.api import AcceptConfig, DataError, accept
    from tests.reliability.labelling_inputs import _box, _layer

    crs = "EPSG:32633"
    windows = _layer(tmp_path / "windows.gpkg", "windows", "Polygon", [("rank", "OFTInteger"), ("scene", "OFTString"),
                     ("size_px", "OFTInteger")], [(_box(0, 0, 40, 40), [1, "scene.tif", 40])], crs)
    proposals = _layer(tmp_path / "proposals.gpkg", "proposals", "MultiPolygon", [("window", "OFTInteger"),
                       ("class_id", "OFTInteger")], [(_box(10, 10, 20, 20), [1, CLASS])], crs)
    try:
        accept(AcceptConfig(proposals=proposals, windows=windows, labels=labels, label_field="class",
                            labelled_area=str(tmp_path / "area.gpkg")))
    except DataError as exc:
        return [], str(exc)
    data = ogr.Open(labels)
    return [f.GetField("class") for f in data.GetLayer(0)], ""


@pytest.mark.parametrize("case", list(ONE_RULE))
def test_the_panel_and_accept_take_or_refuse_a_layer_by_one_rule(qgis_app, tmp_path, case):
    """Whether a label layer takes the class, and how, is one rule of the engine's, which the panel asks: both
    front ends give the same verdict and the same words. Before, the panel kept a copy of the rule, worded its own
    way (and the two disagreed on digits of other scripts: accept took the field for one of numbers)."""
    from qgis.core import QgsVectorLayer

    geometry, kind, values, sentence = ONE_RULE[case]
    (tmp_path / "cli").mkdir()
    rows, refused = _accept_from_the_engine(tmp_path / "cli", _one_layer(tmp_path / "cli" / "labels.gpkg",
                                                                        geometry, kind, values))
    layer = QgsVectorLayer(_one_layer(tmp_path / "panel.gpkg", geometry, kind, values), "labels", "ogr")
    assert layer.isValid()
    try:
        _accept(layer)
        said = ""
    except ValueError as exc:
        said = str(exc)
    if sentence is None:
        assert not refused and not said, (refused, said)
        layer.reload()
        assert str(CLASS) in rows and str(CLASS) in [f["class"] for f in layer.getFeatures()]
    else:
        assert sentence in refused and sentence in said, (refused, said)
        assert said.startswith("'labels' ") and "scratch layer" in said  # the panel's own advice
        assert "polygon layer (or a new file)" in refused if geometry == "Point" else "label_field" in refused
