"""Polygons worth keeping: squared buildings, smoothed natural classes that never overlap, per-class rules,
attributes, the ``polygons`` job on any class raster (UInt16 too) and a palette of exactly the model's classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr
from rasterio.transform import from_origin

from engine.config import PolygonsConfig, SegmentConfig
from engine.config.polygons import class_rules, default_transparent, transparent_classes
from engine.errors import ConfigError, DataError
from engine.io import outlines
from engine.io.polygons import ClassRule, polygonize
from engine.io.writers import set_palette
from engine.segment.vectorize import polygonize_raster

gdal.UseExceptions()


def _raster(path, array, dtype="uint8", nodata=255, names=None, pixel=0.5):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=dtype, crs="EPSG:32616", transform=from_origin(700000, 3700000, pixel, pixel),
                       nodata=nodata) as dst:
        dst.write(array.astype(dtype)[None])
    if names:
        ds = gdal.Open(str(path))
        ds.GetRasterBand(1).SetCategoryNames(names)
        ds = None
    return path


def _features(path):
    source = ogr.Open(str(path))
    layer = source.GetLayer(0)
    rows = [(f.GetField("class_name"), f.GetField("treatment"), f.GetGeometryRef().Clone(), f.items())
            for f in layer]
    return rows


def _rotated_rectangle(size=120, angle=20.0, half=(30, 16)):
    """A rotated rectangle with a 4x4 notch on a long side, rasterised (a building as a mask draws it)."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u, v = (x - size / 2) * c + (y - size / 2) * s, -(x - size / 2) * s + (y - size / 2) * c
    inside = (np.abs(u) <= half[0]) & (np.abs(v) <= half[1])
    inside &= ~((np.abs(u) < 2) & (v > half[1] - 2))  # a small notch
    return inside.astype(np.uint8)


def _corner_angles(ring):
    before, after = ring - np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0) - ring
    return np.degrees(np.abs(np.arctan2(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0],
                                        (before * after).sum(axis=1))))


def test_regularise_squares_a_rotated_building_and_drops_the_notch(tmp_path):
    raster = _raster(tmp_path / "b.tif", _rotated_rectangle(), names=["background", "building"])
    for treatment in ("as_is", "regularise"):
        polygonize(raster, tmp_path / f"{treatment}.gpkg", ["background", "building"], classes=[1],
                   rules={1: ClassRule(treatment)})
    (_, _, raw, _), = _features(tmp_path / "as_is.gpkg")
    (_, how, square, items), = _features(tmp_path / "regularise.gpkg")
    ring = np.array(square.GetGeometryRef(0).GetGeometryRef(0).GetPoints())[:-1]
    assert how == "regularise" and len(ring) == 4  # a rectangle: the notch (2 px deep) is gone
    assert np.allclose(_corner_angles(ring), 90.0, atol=0.5)
    assert raw.GetGeometryRef(0).GetGeometryRef(0).GetPointCount() > 40  # the staircase it came from
    # the orientation is the building's, not the pixel grid's
    edge = ring[1] - ring[0]
    assert min(abs(math.degrees(math.atan2(edge[1], edge[0])) % 90 - a) for a in (20, 70)) < 2
    overlap = raw.Intersection(square).GetArea()
    assert overlap / (raw.GetArea() + square.GetArea() - overlap) > 0.95
    assert items["area_m2"] == pytest.approx(square.GetArea(), rel=1e-6)  # metres: EPSG:32616


def test_smoothing_moves_boundaries_under_a_pixel_without_overlaps_or_gaps(tmp_path):
    rng = np.random.default_rng(0)
    array = (rng.random((12, 12)) * 3).astype(np.uint8).repeat(5, 0).repeat(5, 1)  # 3 classes, many junctions
    raster = _raster(tmp_path / "n.tif", array, pixel=1.0)
    names = ["forest", "water", "grass"]
    polygonize(raster, tmp_path / "raw.gpkg", names, rules={i: ClassRule("as_is") for i in range(3)})
    polygonize(raster, tmp_path / "smooth.gpkg", names, rules={i: ClassRule("smooth") for i in range(3)})
    raw = [g for _, _, g, _ in _features(tmp_path / "raw.gpkg")]
    smooth = [g for _, _, g, _ in _features(tmp_path / "smooth.gpkg")]
    assert len(raw) == len(smooth) > 10
    overlaps = sum(a.Intersection(b).GetArea() for i, a in enumerate(smooth) for b in smooth[i + 1:])
    assert overlaps < 1e-6  # neighbours never overlap ...
    assert sum(g.GetArea() for g in smooth) == pytest.approx(60 * 60, abs=1e-6)  # ... nor leave gaps
    moved = sum(a.SymDifference(b).GetArea() for a, b in zip(raw, smooth))
    length = sum(a.Boundary().Length() for a in raw)
    assert 0 < moved / length < 1.0  # boundaries moved by under a pixel (1 m) on average
    assert all(g.IsValid() for g in smooth)


def test_region_mask_finds_a_polygons_pixels_with_holes_and_in_strips():
    array = np.zeros((20, 30), bool)
    array[2:18, 3:27] = True
    array[6:10, 8:12] = False  # a hole
    exterior = np.array([[3, 2], [27, 2], [27, 18], [3, 18]], float)
    hole = np.array([[8, 6], [12, 6], [12, 10], [8, 10]], float)
    assert (outlines.region_mask([exterior, hole], (20, 30)) == array).all()
    strips = np.vstack([outlines.region_mask([exterior, hole], (7, 30), top) for top in (0, 7, 14)])[:20]
    assert (strips == array).all()


def test_min_area_and_hole_filling_per_class(tmp_path):
    array = np.zeros((40, 40), np.uint8)
    array[5:35, 5:35] = 1  # a field with a 2x2 hole of class 2 (1 m2 at 0.5 m)
    array[10:12, 10:12] = 2
    array[30:32, 1:3] = 2  # a 1 m2 speck of class 2 outside
    raster = _raster(tmp_path / "c.tif", array)
    names = ["background", "field", "pond"]
    cfg = SegmentConfig(image="i.tif", models=["m"], output="o.tif", class_fill_holes="field=2",
                        class_min_area="pond=0.5", polygon_treatment="pond=as_is")
    rules = class_rules(cfg, names)
    assert rules[1] == ClassRule("smooth", 0.0, 2.0) and rules[2] == ClassRule("as_is", 0.5, 0.0)
    polygonize(raster, tmp_path / "p.gpkg", names, classes=[1, 2], rules=rules)
    found = _features(tmp_path / "p.gpkg")
    fields = [g for name, _, g, _ in found if name == "field"]
    assert len(fields) == 1 and fields[0].GetGeometryRef(0).GetGeometryCount() == 1  # the hole is filled
    assert [name for name, _, _, _ in found].count("pond") == 1  # the pond in the hole went with it
    rules = class_rules(SegmentConfig(image="i.tif", models=["m"], output="o.tif", class_min_area="pond=2"), names)
    polygonize(raster, tmp_path / "q.gpkg", names, classes=[2], rules=rules)
    assert _features(tmp_path / "q.gpkg") == []  # both 1 m2 ponds are under the minimum


def test_treatment_defaults_and_bad_settings():
    cfg = SegmentConfig(image="i.tif", models=["m"], output="o.tif")
    names = ["background", "Building", "forest", "clear", "cloud"]
    assert [r.treatment for r in class_rules(cfg, names).values()] == ["as_is", "regularise", "smooth", "as_is",
                                                                       "smooth"]
    # a model's declaration over the name; the user's setting over both
    assert class_rules(cfg, names, {"forest": "as_is"})[2].treatment == "as_is"
    cfg = SegmentConfig(image="i.tif", models=["m"], output="o.tif", polygon_treatment="2=regularise")
    assert class_rules(cfg, names, {"forest": "as_is"})[2].treatment == "regularise"
    assert default_transparent(names) == [0, 3] and transparent_classes("none", names, "x") == []
    assert transparent_classes("cloud", names, "x") == [4]
    with pytest.raises(ConfigError, match="not a treatment"):
        SegmentConfig(image="i.tif", models=["m"], output="o.tif", polygon_treatment="forest=wiggle")
    with pytest.raises(ConfigError, match="no class 'roads'"):
        class_rules(SegmentConfig(image="i.tif", models=["m"], output="o.tif", class_min_area="roads=3"), names)


def test_polygons_job_on_a_uint16_raster_with_category_names(tmp_path):
    array = np.zeros((30, 30), np.uint16)
    array[3:13, 3:13] = 300  # a class number only a UInt16 raster holds
    names = [f"class {i}" for i in range(300)] + ["building"]
    raster = _raster(tmp_path / "u.tif", array, dtype="uint16", nodata=65535, names=names)
    confidence = tmp_path / "conf.tif"
    _raster(confidence, np.full((30, 30), 0.8, np.float32), dtype="float32", nodata=-1)
    result = polygonize_raster(PolygonsConfig(raster=str(raster), output=str(tmp_path / "u.gpkg"),
                                              confidence=str(confidence), polygon_classes=[300]))
    assert result.polygons == 1 and result.treatments == {"building": "regularise"}
    (name, how, geometry, items), = _features(tmp_path / "u.gpkg")
    assert name == "building" and items["scene"] == "u" and items["area_m2"] == pytest.approx(25.0)
    assert items["perimeter_m"] == pytest.approx(20.0) and items["conf_mean"] == pytest.approx(0.8)
    with pytest.raises(DataError, match="class 300"):
        polygonize_raster(PolygonsConfig(raster=str(raster), output=str(tmp_path / "v.gpkg"),
                                         class_names=["a", "b"]))
    with pytest.raises(ConfigError, match="same file"):
        polygonize_raster(PolygonsConfig(raster=str(raster), output=str(raster)))


def test_palette_holds_exactly_the_classes_some_transparent(tmp_path):
    raster = _raster(tmp_path / "p.tif", np.zeros((20, 20), np.uint8))
    dataset = gdal.Open(str(raster))  # read-only, as segment's writer gives it: the palette goes to the side file
    set_palette(dataset.GetRasterBand(1), ["clear", "cloud", "shadow"], ["#000000", "#ffffff", "#808080"], [0])
    dataset = None
    dataset = gdal.Open(str(raster))  # kept referenced while its band is used
    band = dataset.GetRasterBand(1)
    assert band.GetColorTable().GetCount() == 3
    assert band.GetColorTable().GetColorEntry(0)[3] == 0 and band.GetColorTable().GetColorEntry(1)[3] == 255
    assert band.GetCategoryNames() == ["clear", "cloud", "shadow"]


def test_fill_holes_never_swallows_things_lying_in_the_background(tmp_path):
    array = np.zeros((60, 60), np.uint8)
    array[10:30, 10:38] = 1  # a 140 m2 building (0.5 m pixels) alone in the background
    array[40:58, 40:58] = 2  # a field with a 1 m2 hole of class 1 inside: a hole of a polygon
    array[48:50, 48:50] = 1
    raster = _raster(tmp_path / "b.tif", array)
    names = ["background", "building", "field"]
    for classes in ([1, 2], [0, 1, 2]):  # the background left out, and drawn too
        out = tmp_path / f"b{len(classes)}.gpkg"
        result = polygonize_raster(PolygonsConfig(raster=str(raster), output=str(out), class_names=names,
                                                  fill_holes=200.0, polygon_classes=classes,
                                                  polygon_treatment="field=as_is"))
        found = [(name, items["area_m2"]) for name, _, _, items in _features(out)]
        assert ("building", pytest.approx(140.0)) in found  # smaller than the filling, still there
        assert ("field", pytest.approx(81.0)) in found  # its hole filled, what lay in it gone with it
        assert [name for name, _ in found].count("building") == 1 and result.polygons == len(found)
    # the background's own value still fills its holes when asked for by name
    rules = class_rules(PolygonsConfig(raster="r.tif", output="o.gpkg", fill_holes=200.0,
                                       class_fill_holes="background=200"), names)
    assert rules[0].fill_holes == 200.0 and rules[1].fill_holes == 200.0
    assert class_rules(PolygonsConfig(raster="r.tif", output="o.gpkg", fill_holes=200.0), names)[0].fill_holes == 0


def test_polygon_classes_and_class_values_are_checked_before_any_tracing(tmp_path):
    from tests.helpers import RecordingCallback

    array = np.zeros((20, 20), np.int32)
    array[2:8, 2:8] = 1
    raster = _raster(tmp_path / "k.tif", array, dtype="int32", nodata=None)
    out = str(tmp_path / "k.gpkg")
    with pytest.raises(ConfigError, match="class numbers are 0 or more"):
        PolygonsConfig(raster=str(raster), output=out, polygon_classes=[-1])
    with pytest.raises(ConfigError, match="there is no class 7; the classes are 0, 1"):
        polygonize_raster(PolygonsConfig(raster=str(raster), output=out, polygon_classes=[7]))
    callback = RecordingCallback()
    result = polygonize_raster(PolygonsConfig(raster=str(raster), output=out, polygon_classes=[2],
                                              class_names=["bg", "roof", "tree"]), callback)
    assert result.polygons == 0 and any("no pixel of class 2 (tree)" in m for m in callback.messages("warning"))
    array[10:12, 10:12] = -5  # no class: said, and left out
    array[15:17, 15:17] = 2_000_000_000  # an id or a fill, no class: refused before a list of 2e9 names is made
    _raster(tmp_path / "k.tif", array, dtype="int32", nodata=None)
    with pytest.raises(DataError, match="holds the value 2000000000; class numbers go up to 65535"):
        polygonize_raster(PolygonsConfig(raster=str(raster), output=out))
    array[15:17, 15:17] = 0
    _raster(tmp_path / "k.tif", array, dtype="int32", nodata=None)
    callback = RecordingCallback()
    assert polygonize_raster(PolygonsConfig(raster=str(raster), output=out, class_names=["bg", "roof"]),
                             callback).polygons == 1
    assert any("below 0 (down to -5) in 4 pixel(s)" in m for m in callback.messages("warning"))
    with pytest.raises(DataError, match="cannot be created"):  # OGR's None for a file it cannot make
        polygonize(raster, tmp_path / "missing" / "p.gpkg", ["bg", "roof"])


def test_segment_refuses_a_polygon_class_its_model_has_not_before_reading_tiles(tmp_path):
    from engine.segment.plan import plan_segmentation
    from tests.helpers import make_bundle

    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=4, num_classes=2, class_names=["bg", "roof"])
    with rasterio.open(tmp_path / "i.tif", "w", driver="GTiff", width=64, height=64, count=4, dtype="uint16",
                       crs="EPSG:32616", transform=from_origin(700000, 3700000, 1, 1)) as dst:
        dst.write(np.full((4, 64, 64), 1000, np.uint16))
    cfg = SegmentConfig(image=str(tmp_path / "i.tif"), models=[model], output=str(tmp_path / "o.tif"),
                        polygons=str(tmp_path / "o.gpkg"), polygon_classes=[7])
    with pytest.raises(ConfigError, match="no class 7; the classes are 0 bg, 1 roof"):
        plan_segmentation(cfg)


def test_the_polygon_options_are_declared_once_for_both_commands():
    """config/inference.py and config/polygons.py each declared the seven polygon settings; the plugin kept its
    own list of five. One group, inherited by both, and the dialogs' subset from its declarations."""
    import dataclasses

    import engine.api as api
    from engine.config import PolygonsConfig, SegmentConfig
    from engine.config.polygons import PolygonOptions

    group = [f.name for f in dataclasses.fields(PolygonOptions)]
    assert len(group) == 7
    for cls in (SegmentConfig, PolygonsConfig):
        assert issubclass(cls, PolygonOptions) and not set(group) & set(vars(cls).get("__annotations__", {}))
    assert set(api.POLYGON_DIALOG_OPTIONS) < set(group) and "simplify_tolerance" not in api.POLYGON_DIALOG_OPTIONS


def test_a_collection_made_valid_keeps_only_its_areas():
    """MakeValid of a squared outline that touches itself can give polygons and a line: the line has no area and no
    boundary (its perimeter could not be measured), so only the polygons are kept."""
    from osgeo import ogr

    from engine.io.polygons import areal

    mixed = ogr.CreateGeometryFromWkt("GEOMETRYCOLLECTION (POLYGON ((0 0, 2 0, 2 2, 0 2, 0 0)), "
                                      "LINESTRING (2 2, 3 3), MULTIPOLYGON (((5 5, 6 5, 6 6, 5 5))))")
    kept = areal(mixed, ogr)
    assert kept.GetGeometryName() == "MULTIPOLYGON" and kept.GetGeometryCount() == 2
    assert kept.GetArea() == 4.5 and kept.Boundary() is not None
    square = ogr.CreateGeometryFromWkt("POLYGON ((0 0, 1 0, 1 1, 0 0))")
    assert areal(square, ogr).GetGeometryName() == "MULTIPOLYGON"


def test_the_scratch_file_is_made_inside_the_block_that_holds_ctrl_c_and_sigterm(tmp_path, monkeypatch):
    """Ctrl+C or SIGTERM landing before the held block must find no scratch GeoPackage made yet: GDAL calls back
    into Python while it makes one, and an interrupt raised there left an SQLite error on stderr ("attempt to write
    a readonly database", seen once in a SIGTERM test run)."""
    from engine.io import polygons

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(polygons, "uninterrupted", interrupted)
    array = np.zeros((40, 40), np.uint8)
    array[10:30, 10:30] = 1
    raster = _raster(tmp_path / "classes.tif", array)
    with pytest.raises(KeyboardInterrupt):
        polygons.write_polygons(raster, tmp_path / "out.gpkg", ["ground", "building"],
                                scratch=tmp_path / "scratch.gpkg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif"]
