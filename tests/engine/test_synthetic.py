"""Synthetic scenes: realistic, deterministic, and with the class where the field says it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import ogr
from rasterio.warp import transform_bounds

from engine.data import synthetic
from engine.errors import ConfigError


def _read(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile


def test_scene_is_realistic(synthetic_scene):
    image, profile = _read(synthetic_scene["image"])
    assert image.shape == (4, 128, 128) and image.dtype == np.uint16
    assert profile["crs"].to_epsg() == 32652 and profile["transform"].a == 1.0
    assert 500 < np.median(image) < 5000  # digital numbers in the thousands
    aux, aux_profile = _read(synthetic_scene["aux"][0])
    assert aux.shape[0] == 48 and aux.dtype == np.float32
    assert aux_profile["crs"].to_epsg() == 4326
    # aux covers the image footprint with a margin, at roughly 8x the image pixel size
    with rasterio.open(synthetic_scene["aux"][0]) as src:
        left, bottom, right, top = transform_bounds(profile["crs"], src.crs, *rasterio.open(
            synthetic_scene["image"]).bounds)
        assert src.bounds.left < left and src.bounds.right > right
        assert src.bounds.bottom < bottom and src.bounds.top > top
        metres_per_pixel = src.res[1] * 111_320
        assert 6 < metres_per_pixel < 10
    label, _ = _read(synthetic_scene["label"])
    assert set(np.unique(label).tolist()) == {0, 90}
    assert 0.15 < (label == 90).mean() < 0.75


def test_label_is_the_field_threshold(synthetic_scene):
    label, profile = _read(synthetic_scene["label"])
    t = profile["transform"]
    cols, rows = np.meshgrid(np.arange(128) + 0.5, np.arange(128) + 0.5)
    expected = synthetic.class_at(t.c + cols * t.a, t.f + rows * t.e, seed=0)
    np.testing.assert_array_equal(label[0] == 90, expected.astype(bool))


def test_deterministic_for_a_seed(tmp_path):
    a = synthetic.make_scene(tmp_path / "a", "s", size=(64, 64), seed=11, aux_channels=6)
    b = synthetic.make_scene(tmp_path / "b", "s", size=(64, 64), seed=11, aux_channels=6)
    c = synthetic.make_scene(tmp_path / "c", "s", size=(64, 64), seed=12, aux_channels=6)
    for key in ("image", "label"):
        np.testing.assert_array_equal(_read(a[key])[0], _read(b[key])[0])
    np.testing.assert_array_equal(_read(a["aux"][0])[0], _read(b["aux"][0])[0])
    assert not np.array_equal(_read(a["image"])[0], _read(c["image"])[0])


@pytest.mark.parametrize("label_from,vision_shows,aux_shows", [("aux", False, True), ("vision", True, False),
                                                               ("both", True, True)])
def test_label_from_controls_which_stream_shows_the_class(tmp_path, label_from, vision_shows, aux_shows):
    paths = synthetic.make_scene(tmp_path, "s", size=(128, 128), seed=5, aux_channels=4, label_from=label_from)
    image, _ = _read(paths["image"])
    label = _read(paths["label"])[0][0] == 90
    nir_gap = image[3][label].mean() - image[3][~label].mean()
    assert (nir_gap > 1000) == vision_shows
    with rasterio.open(paths["aux"][0]) as src:
        aux = src.read(1)
        t = src.transform
    cols, rows = np.meshgrid(np.arange(aux.shape[1]) + 0.5, np.arange(aux.shape[0]) + 0.5)
    from rasterio.warp import transform as tr

    xs, ys = tr(src.crs, "EPSG:32652", (t.c + cols * t.a).ravel().tolist(), (t.f + rows * t.e).ravel().tolist())
    cls = synthetic.class_at(np.array(xs), np.array(ys), seed=5).reshape(aux.shape).astype(bool)
    _, scale, sign, _ = synthetic._channel_params(4, 5)
    gap = sign[0] * (aux[cls].mean() - aux[~cls].mean()) / scale[0]
    assert (gap > 0.5) == aux_shows


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32"])
def test_other_dtypes(tmp_path, dtype):
    paths = synthetic.make_scene(tmp_path, "s", size=(32, 32), seed=1, aux_channels=0, dtype=dtype)
    image, _ = _read(paths["image"])
    assert image.dtype == np.dtype(dtype) and image.std() > 0
    assert paths["aux"] == []


def test_vector_label_layer(synthetic_scene):
    ds = ogr.Open(synthetic_scene["label_vector"])
    layer = ds.GetLayer(0)
    assert layer.GetFeatureCount() >= 1
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32652"
    values = {f.GetField("class") for f in layer}
    assert values == {90}


def test_vector_in_another_crs(tmp_path):
    paths = synthetic.make_scene(tmp_path, "s", size=(64, 64), seed=1, aux_channels=0, vector_crs="EPSG:4326")
    ds = ogr.Open(paths["label_vector"])
    assert ds.GetLayer(0).GetSpatialRef().GetAuthorityCode(None) == "4326"
    assert not Path(paths["label_vector"]).with_name("s_label_tmp.gpkg").exists()


def test_reference_dataset_layout(reference_dataset):
    root = Path(reference_dataset)
    for split, (img, lbl, ap, gems) in synthetic.REFERENCE_FOLDERS.items():
        names = sorted(p.stem for p in (root / img).glob("*.tif"))
        assert len(names) == (3 if split == "train" else 2)
        for name in names:
            assert (root / lbl / f"{name}.tif").exists()
            assert (root / gems / f"GEMS_{name}.tif").exists()
            for gas in ("CO", "NO2", "SO2"):
                aux, profile = _read(root / ap / f"AIR_Pollution_{gas}_{name}.tif")
                assert aux.shape[0] == 12 and profile["crs"].to_epsg() == 4326
            assert (root / f"{lbl}_gpkg" / f"{name}.gpkg").exists()
    labels = [_read(p)[0] for p in sorted((root / "tl_sn").glob("*.tif"))]
    assert all(set(np.unique(x).tolist()) <= {0, 90} for x in labels)
    assert 0.1 < np.mean([(x == 90).mean() for x in labels]) < 0.8
    # scenes lie at different places (train and validation cover different ground)
    origins = {_read(p)[1]["transform"].c for p in root.glob("*s_sn/*.tif")}
    assert len(origins) == 5


def test_bad_options(tmp_path):
    with pytest.raises(ConfigError):
        synthetic.make_scene(tmp_path, "s", size=(32, 32), label_from="label")
    with pytest.raises(ConfigError):
        synthetic.make_scene(tmp_path, "s", size=(32, 32), dtype="int64")
