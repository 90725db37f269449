"""Labels: raster value mapping and nodata, vector polygons in other CRSs, fields, extents and AOIs."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr, osr

from engine.data import synthetic
from engine.data.scene import SceneReader
from engine.errors import ConfigError, DataError
from tests.helpers import RecordingCallback

gdal.UseExceptions()


@pytest.fixture(scope="module")
def raster_truth(synthetic_scene) -> np.ndarray:
    with rasterio.open(synthetic_scene["label"]) as src:
        raw = src.read(1)
    assert set(np.unique(raw).tolist()) == {0, 90}
    return (raw == 90).astype(np.uint8)


def read_label(image, label, **kwargs) -> np.ndarray:
    with SceneReader(image, label=label, **kwargs) as reader:
        return reader.read(0, 0, reader.grid.width, reader.grid.height).label


def test_raster_label_mapping_and_default_class(synthetic_scene, raster_truth):
    mapped = read_label(synthetic_scene["image"], synthetic_scene["label"], label_mapping={"90": 1})
    np.testing.assert_array_equal(mapped, raster_truth)
    other = read_label(synthetic_scene["image"], synthetic_scene["label"], label_mapping={"90": 2, "0": 0},
                       label_default_class=1)
    np.testing.assert_array_equal(other, raster_truth * 2)
    identity = read_label(synthetic_scene["image"], synthetic_scene["label"], label_mapping=None)
    np.testing.assert_array_equal(identity, raster_truth * 90)
    everything_default = read_label(synthetic_scene["image"], synthetic_scene["label"], label_mapping={"7": 1},
                                    label_default_class=0)
    assert everything_default.max() == 0


def test_raster_label_nodata_and_image_nodata_become_ignore(tmp_path):
    paths = synthetic.make_scene(tmp_path, "nd", size=(64, 64), seed=4, aux_channels=0)
    with rasterio.open(paths["label"]) as src:
        profile, raw = src.profile, src.read()
    raw[0, :10, :] = 7  # a strip of label nodata
    profile["nodata"] = 7
    with rasterio.open(tmp_path / "label_nd.tif", "w", **profile) as dst:
        dst.write(raw)
    with rasterio.open(paths["image"]) as src:
        profile, img = src.profile, src.read()
    img[:, :, 50:] = 0  # image nodata columns
    profile["nodata"] = 0
    with rasterio.open(tmp_path / "image_nd.tif", "w", **profile) as dst:
        dst.write(img)
    label = read_label(str(tmp_path / "image_nd.tif"), str(tmp_path / "label_nd.tif"), label_mapping={"90": 1},
                       ignore_index=250)
    assert np.all(label[:10] == 250)
    assert np.all(label[:, 50:] == 250)
    assert set(np.unique(label[10:, :50]).tolist()) <= {0, 1} and label[10:, :50].size > 0


def test_unmapped_raw_values_without_mapping_are_an_error(tmp_path, synthetic_scene):
    with rasterio.open(synthetic_scene["label"]) as src:
        profile, raw = src.profile, src.read().astype(np.uint16)
    profile["dtype"] = "uint16"
    raw[raw == 90] = 900
    with rasterio.open(tmp_path / "big.tif", "w", **profile) as dst:
        dst.write(raw)
    with pytest.raises(DataError, match="big.tif"):
        read_label(synthetic_scene["image"], str(tmp_path / "big.tif"), label_mapping=None)


def test_vector_labels_same_crs_match_the_raster(synthetic_scene, raster_truth):
    label = read_label(synthetic_scene["image"], synthetic_scene["label_vector"])
    np.testing.assert_array_equal(label, raster_truth)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857"])
def test_vector_labels_in_another_crs_are_reprojected(tmp_path, synthetic_scene, raster_truth, crs):
    other = str(tmp_path / "labels_other.gpkg")
    gdal.VectorTranslate(other, synthetic_scene["label_vector"], format="GPKG", dstSRS=crs, reproject=True)
    ds = ogr.Open(other)
    srs = ds.GetLayer(0).GetSpatialRef()
    assert srs.GetAuthorityCode(None) == crs.split(":")[1]
    ds = None
    label = read_label(synthetic_scene["image"], other)
    assert (label == raster_truth).mean() > 0.999
    # without reprojection (coordinates taken as if in the image CRS) nothing would be burnt
    assert label.sum() > 100


def test_vector_reprojection_is_not_a_no_op(tmp_path, synthetic_scene, raster_truth):
    """A 4326 layer whose CRS tag is dropped is read as image coordinates, so it no longer matches."""
    other = str(tmp_path / "no_crs.shp")
    gdal.VectorTranslate(other, synthetic_scene["label_vector"], format="ESRI Shapefile", dstSRS="EPSG:4326",
                         reproject=True)
    (tmp_path / "no_crs.prj").unlink()  # drop the CRS: coordinates are degrees but say nothing
    callback = RecordingCallback()
    with pytest.raises(DataError, match="no_crs.shp"):  # degrees read as metres: far from the image
        read_label(synthetic_scene["image"], other, callback=callback)
    assert any("no CRS" in w and "no_crs.shp" in w for w in callback.messages("warning"))


def test_vector_label_field_and_mapping(tmp_path, synthetic_scene, raster_truth):
    label = read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="class",
                       label_mapping={"90": 1})
    np.testing.assert_array_equal(label, raster_truth)
    label = read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="kind",
                       label_mapping={"foreground": 2})
    np.testing.assert_array_equal(label, raster_truth * 2)
    with pytest.raises(DataError) as info:
        read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="missing")
    assert "missing" in str(info.value) and "kind" in str(info.value)


def test_vector_values_missing_from_the_mapping_are_named(synthetic_scene, raster_truth):
    """A mapping that misses a field value (a typo) warns with the value, instead of silently relabelling."""
    callback = RecordingCallback()
    label = read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="kind",
                       label_mapping={"foregrund": 2}, callback=callback)
    np.testing.assert_array_equal(label, np.zeros_like(raster_truth))  # the default class, as documented
    warnings = [w for w in callback.messages("warning") if "label_mapping" in w]
    assert len(warnings) == 1 and "foreground" in warnings[0] and "'kind'" in warnings[0], callback.messages("warning")
    assert "('foreground'); they become class 0. Add those values to it if that is wrong (=255: unlabelled)" \
        in warnings[0], warnings[0]
    callback = RecordingCallback()
    read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="kind",
               label_mapping={"foreground": 2}, callback=callback)
    assert not [w for w in callback.messages("warning") if "label_mapping" in w]


def test_extent_restricts_labels(synthetic_scene, raster_truth):
    with rasterio.open(synthetic_scene["image"]) as src:
        left, bottom, right, top = src.bounds
    extent = [left, bottom, left + 64, top]  # the western half
    label = read_label(synthetic_scene["image"], synthetic_scene["label"], label_mapping={"90": 1}, extent=extent)
    assert np.all(label[:, 64:] == 255)
    np.testing.assert_array_equal(label[:, :64], raster_truth[:, :64])


def test_extent_in_another_crs(synthetic_scene, raster_truth):
    from rasterio.warp import transform_bounds

    with rasterio.open(synthetic_scene["image"]) as src:
        left, bottom, right, top = src.bounds
        extent = list(transform_bounds(src.crs, "EPSG:4326", left + 32, bottom + 32, right - 32, top - 32))
    with SceneReader(synthetic_scene["image"], label=synthetic_scene["label"], label_mapping={"90": 1},
                     extent=extent, extent_crs="EPSG:4326") as reader:
        label = reader.read(0, 0, 128, 128).label
        col, row, w, h = reader.region_window()
    assert np.all(label[:30] == 255) and np.all(label[-30:] == 255)
    np.testing.assert_array_equal(label[34:94, 34:94], raster_truth[34:94, 34:94])
    assert 28 <= col <= 33 and 60 <= w <= 72 and 28 <= row <= 33 and 60 <= h <= 72


def test_aoi_polygon_restricts_labels(tmp_path, synthetic_scene, raster_truth):
    with rasterio.open(synthetic_scene["image"]) as src:
        left, bottom, right, top = src.bounds
        wkt = src.crs.to_wkt()
    path = str(tmp_path / "aoi.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("aoi", srs=osr.SpatialReference(wkt=wkt), geom_type=ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    # a triangle: upper-left half of the image
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({left} {top},{right} {top},{left} {bottom},{left} {top}))"))
    layer.CreateFeature(feature)
    ds = None
    label = read_label(synthetic_scene["image"], synthetic_scene["label_vector"], aoi=path)
    rows, cols = np.mgrid[0:128, 0:128]
    inside = rows + cols < 127
    outside = rows + cols > 128
    assert np.all(label[outside] == 255)
    np.testing.assert_array_equal(label[inside], raster_truth[inside])


def test_label_value_counts(synthetic_scene, raster_truth):
    with SceneReader(synthetic_scene["image"], label=synthetic_scene["label"]) as reader:
        counts = reader.label_value_counts(block=50)
    assert counts == {"0": int((raster_truth == 0).sum()), "90": int(raster_truth.sum())}


def test_missing_or_broken_label_files(tmp_path, synthetic_scene):
    with pytest.raises(DataError, match="nothing.gpkg"):
        SceneReader(synthetic_scene["image"], label=str(tmp_path / "nothing.gpkg"))
    broken = tmp_path / "broken.geojson"
    broken.write_text("{ this is not json")
    with pytest.raises(DataError, match="broken.geojson"):
        SceneReader(synthetic_scene["image"], label=str(broken))


def test_label_mapping_to_more_classes_than_names_says_how_many_names():
    from engine.config import DataConfig, fill_class_colors
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match=r"class\(es\) \[2, 5\] outside 0\.\.1 .*give one name per class, 6 in all"):
        DataConfig(label_mapping={"1": 1, "2": 2, "9": 5})
    DataConfig(label_mapping={"1": 1, "2": 2, "9": 5}, class_names=list("abcdef"),  # six names: accepted
               class_colors=fill_class_colors([], 6))


def test_polygon_classes_past_255_are_read_as_uint16_not_wrapped(synthetic_scene, raster_truth):
    """Polygons mapped to class 315 for a model of 1000 classes burn 315 (uint8 would write 59); without the
    classes the value is refused, naming the range, rather than wrapped."""
    label = read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="kind",
                       label_mapping={"foreground": 315}, label_classes=1000)
    assert label.dtype == np.uint16
    np.testing.assert_array_equal(label, raster_truth.astype(np.uint16) * 315)
    with pytest.raises(DataError, match=r"0\.\.255"):
        read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="kind",
                   label_mapping={"foreground": 315})


def test_a_labelled_area_over_scenes_in_distant_utm_zones_reads_each_scenes_part(tmp_path, synthetic_scene,
                                                                                 raster_truth):
    """One labelled-area layer for scenes in UTM zones far apart (suggest and train take several scenes): the
    polygons of the other scene cannot be reprojected into this scene's CRS; they are left out, said in the log,
    not an error. Only when no polygon can be is it refused."""
    from rasterio.warp import transform_bounds

    with rasterio.open(synthetic_scene["image"]) as src:
        left, bottom, right, top = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    path = str(tmp_path / "area.gpkg")
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("area", srs=wgs84, geom_type=ogr.wkbPolygon)
    for wkt in (f"POLYGON(({left} {top},{right} {top},{right} {bottom},{left} {bottom},{left} {top}))",
                "POLYGON((-60 -3,-59.9 -3,-59.9 -3.1,-60 -3.1,-60 -3))"):  # a scene in the Amazon, far away
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(feature)
    ds = None
    callback = RecordingCallback()
    label = read_label(synthetic_scene["image"], synthetic_scene["label_vector"], aoi=path, callback=callback)
    np.testing.assert_array_equal(label[2:-2, 2:-2], raster_truth[2:-2, 2:-2])
    warnings = callback.messages("warning")
    assert any("1 polygon(s)" in w and "too far" in w for w in warnings), warnings


@pytest.mark.parametrize("colors, names", [
    (["zz", "#000000"], ["background"]),  # a bad colour first, more colours than classes
    (["#ff0000", "nope", "#00ff00", "#0000ff"], ["a", "b"]),
    ([], ["a", "b"]),
])
def test_a_bundle_s_bad_class_colours_are_replaced_by_distinct_palette_colours(colors, names):
    from engine.config import repaired_class_colors
    from engine.config.values import invalid_colors
    fixed, message = repaired_class_colors(colors, names, "m.dsmodel")
    assert len(fixed) == len(names) and not invalid_colors(fixed) and len(set(fixed)) == len(names)
    assert [c for c, given in zip(fixed, colors) if not invalid_colors([given])] == \
        [given for given in colors[:len(names)] if not invalid_colors([given])]  # good colours kept in place
    assert "m.dsmodel" in message


def test_class_names_in_a_text_field_are_the_classes_after_the_background(synthetic_scene, raster_truth, capsys,
                                                                          tmp_path):
    """Polygons whose class field holds names ('foreground'): training refused them ("give a --label-map"), though
    a user's land-cover layer holds names (forest, grassland). Each name is now a class after the background, said;
    its pixels learn that class, and the bundle names it."""
    from engine.bundle.store import read_metadata
    from engine.cli.main import main

    out = tmp_path / "m.dsmodel"
    code = main(["train", "--image", synthetic_scene["image"], "--label", synthetic_scene["label_vector"],
                 "--label-field", "kind", "--model", "unet", "--preset", "tiny", "--epochs", "1", "--tile-size", "64",
                 "--tiles-per-epoch", "4", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    said = captured.out + captured.err
    assert "--label-map foreground=1, chosen: the polygon labels' class field 'kind' holds names" in said, said
    data = read_metadata(out).data
    assert data.class_names == ["background", "foreground"] and data.label_mapping == {"foreground": 1}
    mapped = read_label(synthetic_scene["image"], synthetic_scene["label_vector"], label_field="kind",
                        label_mapping=data.label_mapping)
    inner = (slice(2, -2), slice(2, -2))  # rasterised polygon edges may differ by a pixel
    assert (mapped[inner] == 1).sum() > 0 and np.array_equal(mapped[inner], raster_truth[inner])


def test_text_classes_take_their_place_in_the_class_names_given_and_a_name_left_out_is_refused(synthetic_scene,
                                                                                              tmp_path):
    from engine.config import DataConfig, SceneSpec, TrainConfig
    from engine.models import AutoModelConfig
    from engine.training.auto import choose_settings

    scene = SceneSpec(image=synthetic_scene["image"], label=synthetic_scene["label_vector"], label_field="kind")
    unet = AutoModelConfig.config_class("unet")()
    given = ("data.class_names", "data.class_colors")
    data = DataConfig(train_scenes=[scene], class_names=["background", "water", "foreground"],
                      class_colors=["#000000", "#0000ff", "#ff0000"])
    chosen = choose_settings(unet, data, TrainConfig(), given, device="cpu")
    assert chosen.data.label_mapping == {"foreground": 2} and chosen.data.class_names == data.class_names
    assert "at its place in the class names given" in "\n".join(chosen.lines())
    data = DataConfig(train_scenes=[scene], class_names=["background", "water"], class_colors=["#000000", "#0000ff"])
    with pytest.raises(ConfigError, match=r"holds foreground, and .*does not name foreground: name every value"):
        choose_settings(unet, data, TrainConfig(), given, device="cpu")
    mapped = choose_settings(unet, DataConfig(train_scenes=[scene], label_mapping={"foreground": 1}), TrainConfig(),
                             ("data.label_mapping",), device="cpu")
    assert not any("holds names" in line for line in mapped.lines())  # a mapping given is the user's


def test_a_label_map_of_class_names_trains_from_a_text_class_field(synthetic_scene, capsys, tmp_path):
    """--label-map foreground=1 was refused ("'foreground=1' is not VALUE=CLASS") though a config file's mapping of
    text values worked: polygons with class names could not be trained from the command line or QGIS."""
    from engine.cli.main import main
    from engine.config import parse_label_pairs

    assert parse_label_pairs("90=1, artificial surface=3; 2.0:1") == {"90": 1, "artificial surface": 3, "2": 1}
    with pytest.raises(ConfigError, match=r"'=1' is not VALUE=CLASS.*or forest=1"):
        parse_label_pairs("=1")
    out = tmp_path / "m.dsmodel"
    code = main(["train", "--image", synthetic_scene["image"], "--label", synthetic_scene["label_vector"],
                 "--label-field", "kind", "--label-map", "foreground=1", "--class-names", "background", "foreground",
                 "--model", "unet", "--preset", "tiny", "--epochs", "1", "--tile-size", "64", "--tiles-per-epoch", "4",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert out.is_file()
