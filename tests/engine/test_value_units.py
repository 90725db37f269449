"""The units of an image's values (issue 53 items 5 and 15): nonsense scaling metadata (a GDAL scale of 0 or NaN, an
offset of inf, a STAC ``raster:bands`` scale that is text or a list, Sentinel-2 metadata that is no number) stops
the run naming the file, the band and the value; the user can state the units (value scale and offset), which
replace the file's; a result that is one class, or no class, everywhere from values in other units fails and
writes nothing unless the user accepts it.

The model is a per-pixel linear classifier made elsewhere (tests/engine/foreign_onnx.py) taking blue, green, red,
nir as reflectance 0-1, so the right classes of every pixel are known."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.api import DataError, SegmentConfig, segment
from engine.cli.main import main
from engine.errors import ConfigError, render
from tests.engine.foreign_onnx import expected_classes, linear_model
from tests.helpers import LogLines, make_bundle

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

BANDS = ["blue", "green", "red", "nir"]
MEAN, STD = [0.1, 0.12, 0.14, 0.3], [0.05, 0.06, 0.07, 0.1]


def _import(folder: Path, name: str, weights: np.ndarray, bias: np.ndarray) -> Path:
    onnx = linear_model(folder / f"{name}.onnx", weights, bias, head="none")
    bundle = folder / f"{name}.dsmodel"
    assert main(["import", str(onnx), "-o", str(bundle), "--classes", "clear,cloud,shadow", "--mean",
                 ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)), "--output-kind", "logits",
                 "--band-names", ",".join(BANDS), "--value-range", "0,1"]) == 0
    return bundle


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The linear model, reflectance on the 1e-4 grid (so DN x 0.0001 is exactly it), and a second model that
    gives class 0 everywhere to digital numbers (its class 0 grows with every band) but mixed classes to
    reflectance; a model trained here recording the same band names."""
    folder = tmp_path_factory.mktemp("units")
    rng = np.random.default_rng(5)
    weights, bias = rng.normal(size=(3, 4)) * 3, rng.normal(size=3)
    reflectance = ((rng.uniform(0.0, 0.5, size=(4, 50, 60)) * 10000).round() / 10000).astype(np.float32)
    uniform_w = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [-1.0, -1.0, -1.0, -1.0]])
    uniform_b = np.array([0.0, 2.0, 0.0])
    own = make_bundle(folder / "own.dsmodel", band_names=BANDS, num_classes=2, class_names=["a", "b"],
                      vision_high=1.0)
    return {"bundle": _import(folder, "clouds", weights, bias), "weights": weights, "bias": bias,
            "uniform": _import(folder, "uniform", uniform_w, uniform_b), "uniform_w": uniform_w,
            "uniform_b": uniform_b, "reflectance": reflectance, "own": own}


def write(path: Path, raw: np.ndarray, scales: list | None = None, offsets: list | None = None,
          tags: dict | None = None, band_tags: dict | None = None, names: list[str] = BANDS) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=raw.shape[0],
                       dtype=raw.dtype.name, crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(raw)
        for i, name in enumerate(names, 1):
            ds.set_band_description(i, name)
            if band_tags:
                ds.update_tags(i, **band_tags)
        if scales is not None:
            ds.scales = scales
        if offsets is not None:
            ds.offsets = offsets
        if tags:
            ds.update_tags(**tags)
    return path


def dn(model: dict, offset: int = 0) -> np.ndarray:
    return np.rint(model["reflectance"] * 10000 + offset).astype(np.uint16)


def classes(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


NAN = float("nan")


@pytest.mark.parametrize(("scales", "offsets", "said"), [
    ([0.0] * 4, None, "GDAL scale of 0 for blue (band 1): every value times 0 is the same"),
    ([0.0001, NAN, 0.0001, 0.0001], None, "GDAL scale of nan for green (band 2): that is not a finite number"),
    ([0.0001] * 4, [0.0, 0.0, float("inf"), 0.0], "GDAL offset of inf for red (band 3)"),
])
@pytest.mark.parametrize("which", ["bundle", "own"])
def test_a_nonsense_gdal_scale_or_offset_stops_naming_the_file_band_and_value(model, tmp_path, scales, offsets,
                                                                             said, which):
    """Before: a scale of 0 gave class 0 everywhere with exit 0; NaN gave all nodata blamed on the image."""
    image = write(tmp_path / "odd.tif", dn(model), scales, offsets)
    out = tmp_path / "c.tif"
    with pytest.raises(DataError) as caught:
        segment(SegmentConfig(image=str(image), models=[str(model[which])], output=str(out)))
    message = str(caught.value)
    assert f"The image '{image}' declares a {said}" in message, message
    assert "gdal_edit -scale 0.0001 -offset 0" in message and "value_scale" in message
    assert not out.exists()


def test_the_stated_units_replace_nonsense_metadata_and_give_the_right_classes(model, tmp_path):
    image = write(tmp_path / "zero.tif", dn(model, 1000), [0.0] * 4)
    out, log = tmp_path / "c.tif", LogLines()
    result = segment(SegmentConfig(image=str(image), models=[str(model["bundle"])], output=str(out),
                                   value_scale=0.0001, value_offset=-0.1), log)
    said = render("\n".join(log.lines))
    assert "Values brought to the model's units by the units you gave (value_scale 0.0001, value_offset -0.1)" in said
    expected = expected_classes(model["reflectance"], model["weights"], model["bias"], MEAN, STD, 1.0)
    assert len(np.unique(expected)) > 1 and (classes(out) == expected).mean() >= 0.999
    assert not result.warnings


@pytest.mark.parametrize(("bad", "shown"), [("abc", "'abc'"), ([1, 2], "[1, 2]")])
def test_a_stac_raster_bands_scale_that_is_no_number_stops_naming_the_item_and_asset(model, tmp_path, bad, shown):
    """Before: a ValueError / TypeError traceback from float()."""
    assets = {}
    for i, name in enumerate(BANDS):
        write(tmp_path / f"{name}.tif", dn(model)[i:i + 1], names=[name])
        assets[name] = {"href": f"{name}.tif", "type": "image/tiff; application=geotiff", "roles": ["data"],
                        "eo:bands": [{"name": name, "common_name": name}],
                        "raster:bands": [{"scale": bad if name == "red" else 0.0001, "offset": 0}]}
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "ODD", "properties": {}, "assets": assets}))
    with pytest.raises(DataError, match=rf"The STAC item 'ODD' .*declares a STAC raster:bands scale of "
                                        rf"{re.escape(shown)} for asset 'red'"):
        segment(SegmentConfig(stac_item=str(item), models=[str(model["bundle"])], output=str(tmp_path / "c.tif")))
    # stated units replace the item's: the same item segments right
    segment(SegmentConfig(stac_item=str(item), models=[str(model["bundle"])], output=str(tmp_path / "s.tif"),
                          value_scale=0.0001))
    expected = expected_classes(model["reflectance"], model["weights"], model["bias"], MEAN, STD, 1.0)
    assert (classes(tmp_path / "s.tif") == expected).mean() >= 0.999


@pytest.mark.parametrize(("tags", "band_tags", "said"), [
    ({"BOA_QUANTIFICATION_VALUE": "0"}, {}, "says its BOA_QUANTIFICATION_VALUE is '0'"),
    ({"BOA_QUANTIFICATION_VALUE": "nan"}, {}, "says its BOA_QUANTIFICATION_VALUE is 'nan'"),
    ({"BOA_QUANTIFICATION_VALUE": "10000"}, {"BOA_ADD_OFFSET": "abc"}, "the BOA_ADD_OFFSET of blue (band 1)"),
    ({"BOA_QUANTIFICATION_VALUE": "10000", "PROCESSING_BASELINE": "N/A"}, {}, "its PROCESSING_BASELINE is 'N/A'"),
])
def test_sentinel2_metadata_that_is_no_number_stops_naming_it(model, tmp_path, tags, band_tags, said):
    """Before: a quantification value of 0 or text was replaced by 10000 silently, NaN made every value NaN, a
    baseline that is no number meant no offset (reflectance 0.1 too high from baseline 04.00)."""
    image = write(tmp_path / "l2a.tif", dn(model, 1000), tags={"PROCESSING_BASELINE": "04.00", **tags},
                  band_tags=band_tags)
    with pytest.raises(DataError, match="no usable number") as caught:
        segment(SegmentConfig(image=str(image), models=[str(model["bundle"])], output=str(tmp_path / "c.tif")))
    assert said in str(caught.value) and str(image) in str(caught.value)


def test_one_class_everywhere_from_values_in_other_units_fails_unless_accepted(model, tmp_path):
    """Before: a warning, the class raster written, exit 0 (the issue's 'successful' empty layer)."""
    image = write(tmp_path / "dn.tif", dn(model))  # digital numbers, nothing says how to convert them
    reflectance = expected_classes(model["reflectance"], model["uniform_w"], model["uniform_b"], MEAN, STD, 1.0)
    as_dn = expected_classes(dn(model), model["uniform_w"], model["uniform_b"], MEAN, STD, 1.0)
    assert len(np.unique(reflectance)) > 1 and set(np.unique(as_dn)) == {0}  # the premise
    out = tmp_path / "c.tif"
    with pytest.raises(DataError) as caught:
        segment(SegmentConfig(image=str(image), models=[str(model["uniform"])], output=str(out)))
    message = str(caught.value)
    assert f"Every pixel of '{out}' is class 0 (clear)" in message and "Nothing was written" in message
    assert "value_scale" in message and "accept_one_class" in message
    assert not out.exists() and not list(tmp_path.glob("c.*")) and not list(tmp_path.glob(".c*"))
    result = segment(SegmentConfig(image=str(image), models=[str(model["uniform"])], output=str(out),
                                   accept_one_class=True))
    assert (classes(out) == 0).all() and any("Kept as accept_one_class asks" in render(w)
                                                  for w in result.warnings)
    segment(SegmentConfig(image=str(image), models=[str(model["uniform"])], output=str(tmp_path / "s.tif"),
                          value_scale=0.0001))
    assert (classes(tmp_path / "s.tif") == reflectance).mean() >= 0.999


def test_the_cli_states_units_and_fails_with_exit_2_on_a_one_class_result(model, tmp_path, capsys):
    image = write(tmp_path / "dn.tif", dn(model))
    out = tmp_path / "c.tif"
    assert main(["segment", "--model", str(model["uniform"]), "--image", str(image), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--value-scale" in err and "--accept-one-class keeps such a result" in err and not out.exists()
    assert main(["segment", "--model", str(model["bundle"]), "--image", str(image), "--out", str(out),
                 "--value-scale", "0.0001"]) == 0
    expected = expected_classes(model["reflectance"], model["weights"], model["bias"], MEAN, STD, 1.0)
    assert (classes(out) == expected).mean() >= 0.999
    assert "--value-scale 0.0001" in capsys.readouterr().err


@pytest.mark.parametrize(("key", "value"), [("value_scale", 0.0), ("value_scale", NAN), ("value_offset", NAN)])
def test_stated_units_must_be_finite_numbers(key, value):
    with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
        SegmentConfig(image="x.tif", models=["m.dsmodel"], output="o.tif", **{key: value})


def test_the_seen_range_of_a_whole_scene_is_read_from_a_sample_that_agrees_with_every_value():
    from engine.data.units import RANGE_SAMPLE, seen_range

    rng = np.random.default_rng(5)
    values = np.stack([rng.gamma(2.0, 300.0, 512 * 512), rng.normal(0.2, 0.05, 512 * 512)])  # a 512² scene
    assert values.shape[1] > RANGE_SAMPLE  # the premise: sampled
    low, high = seen_range(values)
    exact_low, exact_high = np.percentile(values, [2, 98], axis=1)
    width = exact_high - exact_low
    assert np.all(np.abs(low - exact_low) < 0.01 * width) and np.all(np.abs(high - exact_high) < 0.01 * width)
