"""A prompts layer as users make them (engine.prompted.labels.read_prompts, and ``dualstream label`` on it): a
``label`` field of text, points grouped or not by a ``prompt`` field, and a GeoPackage layer of srs_id 0 ("Undefined
geographic SRS", what a layer saved without a CRS gets) whose coordinates are metres. Issue 79: item 8 and the
last hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import DataError
from engine.prompted.labels import read_prompts
from tests.engine.prompted_models import save_tiny, scene_point, write_scene

ogr = pytest.importorskip("osgeo.ogr")
osr = pytest.importorskip("osgeo.osr")


def _layer(path: Path, points: list[tuple[float, float, object, object]], label_type: int = ogr.OFTString,
           epsg: int | None = 32633, grouped: bool = False) -> Path:
    """A GeoPackage of points (x, y, label, prompt); ``epsg`` None: saved without a CRS (srs_id 0)."""
    data = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    ref = None
    if epsg is not None:
        ref = osr.SpatialReference()
        ref.ImportFromEPSG(epsg)
    layer = data.CreateLayer("prompts", ref, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("label", label_type))
    if grouped:
        layer.CreateField(ogr.FieldDefn("prompt", ogr.OFTInteger))
    for x, y, label, group in points:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("label", label)
        if grouped:
            feature.SetField("prompt", group)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        layer.CreateFeature(feature)
    data = None
    return path


def test_a_text_label_of_ungrouped_points_names_its_type_values_and_the_prompt_field(tmp_path):
    """Before: "has only points labelled 0 (not the object)", as if 'no' were not read: the field's type and values,
    how they are read and why a point labelled 'no' stands alone are said."""
    path = _layer(tmp_path / "p.gpkg", [(500070, 4099955, "yes", None), (500090, 4099960, "no", None)])
    with pytest.raises(DataError) as caught:
        read_prompts(str(path))
    said = str(caught.value)
    assert f"1 prompt(s) of '{path}' (number 2) have only points labelled 0" in said
    assert "(field label, of type String, taking 'yes', 'no')" in said
    assert "0 for 0/no/false/n/background" in said and "the layer has no field prompt" in said


def test_text_labels_grouped_by_prompt_are_read_and_a_group_without_yes_is_named(tmp_path):
    good = _layer(tmp_path / "good.gpkg", [(500070, 4099955, "Yes", 1), (500090, 4099960, "no", 1),
                                           (500010, 4099990, "true", 2)], grouped=True)
    prompts = read_prompts(str(good))
    assert [p.labels for p in prompts] == [[1, 0], [1]]
    assert prompts[0].points == [(500070, 4099955), (500090, 4099960)]

    bad = _layer(tmp_path / "bad.gpkg", [(500070, 4099955, "yes", 1), (500090, 4099960, "no", 7)], grouped=True)
    with pytest.raises(DataError, match=r"give the points of prompt = 7 a point labelled 1 too, or leave them out"):
        read_prompts(str(bad))


def test_a_label_word_not_known_names_the_fields_type_and_values(tmp_path):
    path = _layer(tmp_path / "p.gpkg", [(500070, 4099955, "maybe", None), (500090, 4099960, "yes", None)])
    with pytest.raises(DataError) as caught:
        read_prompts(str(path))
    assert "has the label 'maybe' on a point (field label, of type String, taking 'maybe', 'yes'); give 1" in str(
        caught.value)


def test_an_integer_label_field_is_said_as_such(tmp_path):
    path = _layer(tmp_path / "p.gpkg", [(500070, 4099955, 0, None)], label_type=ogr.OFTInteger)
    with pytest.raises(DataError, match=r"\(field label, of type Integer, taking 0\)"):
        read_prompts(str(path))


def test_label_refuses_a_srs_id_0_layer_in_metres_naming_the_fix(tmp_path, capsys):
    """Before: ``RuntimeError: Invalid coordinate`` from PROJ, a traceback. Now one error naming the file, its CRS
    and a point, and how to set the CRS; nothing written."""
    pytest.importorskip("torch")
    from engine.cli.main import main

    image = write_scene(tmp_path / "scene.tif")
    model = save_tiny("sam", tmp_path / "sam")
    x, y = scene_point(140, 90)
    prompts = _layer(tmp_path / "clicks.gpkg", [(x, y, "yes", None)], epsg=None)
    assert ogr.Open(str(prompts)).GetLayer(0).GetSpatialRef().GetName() == "Undefined geographic SRS"  # GDAL's
    out = tmp_path / "labels.gpkg"
    code = main(["label", "--image", str(image), "--prompts", str(prompts), "--model", str(model), "--out", str(out),
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not out.exists(), err
    assert (f"The prompts layer '{prompts}' is in Undefined geographic SRS (a GeoPackage layer of srs_id 0: no CRS "
            f"was set), whose coordinates are degrees, but it has a point at {x:.10g}, {y:.10g}") in err
    assert "ogr2ogr -a_srs EPSG:XXXX" in err


def test_points_proj_cannot_carry_are_a_data_error():
    """The fallback under every prompt's reprojection: PROJ's RuntimeError becomes one DataError naming both CRSs."""
    from engine.imagery.picture import transform_points

    undefined = ('GEOGCS["Undefined geographic SRS",DATUM["unknown",SPHEROID["unknown",6378137,298.257223563]],'
                 'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]')
    with pytest.raises(DataError, match=r"Points in Undefined geographic SRS could not be carried into the image's "
                                        r"CRS WGS 84 / UTM zone 33N \(PROJ: .*\); check"):
        transform_points([500070.0], [4099955.0], undefined, "EPSG:32633")
