"""One vocabulary of band names for the input matcher and the report's preview (issue 53, item 8): band names any
reader understands are matched, a name is refused only where it is truly ambiguous or absent.

The end-to-end cases run a per-pixel linear model made elsewhere (tests/engine/foreign_onnx.py), so the right
classes of every pixel are known: a band fed to the wrong model input changes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.api import DataError
from engine.cli.main import main
from engine.data.band_match import match_bands, pick_bands
from engine.data.band_names import pick_rgb, read_names
from tests.engine.foreign_onnx import expected_classes, linear_model

pytest.importorskip("onnxruntime")

READY = ["blue", "green", "red", "nir", "swir16", "swir22"]
LETTERS = ["B", "G", "R", "NIR", "SWIR1", "SWIR2"]
MEAN, STD = [0.1, 0.12, 0.14, 0.3], [0.05, 0.06, 0.07, 0.1]


@pytest.mark.parametrize("names, meanings", [
    (LETTERS, READY),
    (["r", "g", "b", "i"], ["red", "green", "blue", "nir"]),  # aerial RGBI
    (["Red edge 1", "RE2", "red-edge 3", "NIR narrow", "Coastal aerosol", "water vapour", "SWIR 1", "SWIR-2"],
     ["rededge1", "rededge2", "rededge3", "nir08", "coastal", "nir09", "swir16", "swir22"]),
    (["B04 (red)", "Near Infrared (NIR)", "Red edge", "thermal 1", "Panchromatic", "Cirrus"],
     ["red", "nir", "rededge", "lwir11", "pan", "cirrus"]),
    (["B02", "B03", "B04", "B08", "B8A", "B12"], ["blue", "green", "red", "nir", "nir08", "swir22"]),  # Sentinel-2
    (["B2", "B3", "B4", "B8", "B8A", "B11"], ["blue", "green", "red", "nir", "nir08", "swir16"]),  # S2 unpadded
    (["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7"],  # Landsat 8/9
     ["coastal", "blue", "green", "red", "nir08", "swir16", "swir22"]),
    (["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7"], ["blue", "green", "red", "nir08", "swir16", "swir22"]),
    (["B4, central wavelength 665 nm", "B8, central wavelength 842 nm"], ["red", "nir"]),  # GDAL's SENTINEL2 driver
])
def test_names_are_read_as_the_bands_they_mean(names, meanings):
    assert [set(r.meanings) for r in read_names(names)] == [{m} for m in meanings]


@pytest.mark.parametrize("names", [["A", "B", "C"], ["Band 1", "Band 2"], ["red/nir ratio", "x"], ["", None]])
def test_names_that_say_no_band_are_read_as_nothing(names):
    assert all(not r.meanings for r in read_names(names))  # "B" among labels A, B, C is no colour


def test_a_sensor_number_that_several_sensors_fit_keeps_every_meaning():
    assert [set(r.meanings) for r in read_names(["B1", "B2", "B3"])] == [{"coastal", "blue"}, {"blue", "green"},
                                                                         {"green", "red"}]


def test_the_models_zero_padded_sentinel2_names_find_an_input_named_by_words():
    model = ["B02", "B03", "B04", "B08"]
    found = match_bands(model, ["nir", "red", "green", "blue"], "words.tif")
    assert found.bands == (4, 3, 2, 1) and "B02 <- band 4 'blue'" in found.said
    assert match_bands(model, ["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7"], "l8.tif").bands \
        == (2, 3, 4, 5)  # Landsat 8's B5 is nir08, the stand-in for Sentinel-2's B08 (nir)


def test_the_ready_models_names_find_letters_and_swir_numbers():
    assert match_bands(READY, LETTERS, "scene.tif").bands == (1, 2, 3, 4, 5, 6)
    shuffled = ["SWIR2", "NIR", "R", "G", "B", "SWIR1"]
    assert match_bands(READY, shuffled, "scene.tif").bands == (5, 4, 3, 2, 6, 1)
    assert pick_bands(["B", "G", "R", "NIR", "SWIR1", "SWIR2"], READY, 6, shuffled, "s.tif").bands == (5, 4, 3, 2, 6, 1)


def test_only_truly_ambiguous_or_absent_names_are_refused():
    with pytest.raises(DataError, match=r"has no band named like the model's 'blue'.*1 'A', 2 'B', 3 'C'"):
        match_bands(["blue", "green", "red"], ["A", "B", "C"], "abc.tif")
    with pytest.raises(DataError, match=r"no band named like the model's 'swir22'"):
        match_bands(READY, LETTERS[:5] + ["thermal"], "x.tif")
    # B1..B7 fit Sentinel-2 and both Landsats, where B2 is blue or green
    with pytest.raises(DataError, match=r"'blue' is ambiguous.*1 'B1' \(blue or coastal\)"):
        match_bands(["blue", "green", "red", "nir"], [f"B{i}" for i in range(1, 8)], "b.tif")
    # a model's unpadded B2 (Sentinel-2 / Landsat 8 blue, Landsat 5 green) given bands named by words
    with pytest.raises(DataError, match=r"'B2' is ambiguous .*\(the model's 'B2' may be blue or green\)"):
        match_bands(["B2", "B3", "B4"], ["blue", "green", "red"], "w.tif")
    with pytest.raises(DataError, match="more than one band named like 'swir'"):
        pick_bands(["swir"], None, 1, ["SWIR1", "SWIR2"], "s.tif")


def test_bands_given_by_sensor_number_name_the_inputs_own_bands():
    landsat5 = ["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7"]
    assert pick_bands(["B3", "B2", "B1"], None, 3, landsat5, "l5.tif").bands == (3, 2, 1)


def test_the_preview_reads_the_same_names():
    assert pick_rgb(LETTERS).positions == (2, 1, 0) and "by band letters" in pick_rgb(LETTERS).how
    named = pick_rgb(["Red edge", "Red", "Green", "Blue (B2)"])
    assert named.positions == (1, 2, 3) and "by band description" in named.how
    assert pick_rgb(["B2", "B3", "B4", "B8"]).positions == (2, 1, 0)  # S2 and Landsat 8/9 agree, Landsat 5 lacks red
    assert pick_rgb(["A", "B", "C"]).positions == (0, 1, 2)


def _write(path: Path, raw: np.ndarray, names: list[str]) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=raw.shape[0],
                       dtype=raw.dtype.name, crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(raw)
        for band, name in enumerate(names, 1):
            ds.set_band_description(band, name)
    return path


@pytest.fixture(scope="module")
def s2_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A linear model of 4 reflectance bands recorded as Sentinel-2's B02, B03, B04, B08, and reflectance in
    the model's order."""
    folder = tmp_path_factory.mktemp("s2names")
    rng = np.random.default_rng(11)
    weights, bias = rng.normal(size=(3, 4)) * 3, rng.normal(size=3)
    onnx = linear_model(folder / "m.onnx", weights, bias, head="none")
    bundle = folder / "m.dsmodel"
    assert main(["import", str(onnx), "-o", str(bundle), "--classes", "clear,cloud,shadow", "--mean",
                 ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)), "--output-kind", "logits",
                 "--band-names", "B02,B03,B04,B08", "--value-range", "0,1"]) == 0
    raw = rng.uniform(0.0, 0.5, size=(4, 30, 40)).astype(np.float32)
    return {"bundle": bundle, "raw": raw, "folder": folder,
            "expected": expected_classes(raw, weights, bias, MEAN, STD, 1.0)}


def _classes(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_a_file_named_by_words_is_segmented_by_a_model_of_sentinel2_names(s2_model, tmp_path, capsys):
    order = [3, 0, 2, 1]  # the file holds nir, blue, red, green
    image = _write(tmp_path / "words.tif", s2_model["raw"][order], [["blue", "green", "red", "nir"][i] for i in order])
    out = tmp_path / "out.tif"
    assert main(["segment", "--model", str(s2_model["bundle"]), "--image", str(image), "--out", str(out)]) == 0
    assert "B02 <- band 2 'blue', B03 <- band 4 'green', B04 <- band 3 'red', B08 <- band 1 'nir'" in \
        capsys.readouterr().err
    assert np.array_equal(_classes(out), s2_model["expected"]) and len(np.unique(s2_model["expected"])) > 1


def test_a_stac_item_of_common_names_is_segmented_by_a_model_of_sentinel2_names(s2_model, tmp_path, capsys):
    assets = {}
    for i, common in enumerate(["blue", "green", "red", "nir"]):
        _write(tmp_path / f"{common}.tif", s2_model["raw"][i:i + 1], [common])
        assets[common] = {"href": f"{common}.tif", "type": "image/tiff", "roles": ["data"],
                          "eo:bands": [{"name": common, "common_name": common}]}
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "WORDS", "properties": {}, "assets": dict(
        reversed(list(assets.items())))}), encoding="utf-8")
    out = tmp_path / "stac.tif"
    assert main(["segment", "--model", str(s2_model["bundle"]), "--stac-item", str(item), "--out", str(out)]) == 0
    assert "B02 <- asset 'blue'" in capsys.readouterr().err
    assert np.array_equal(_classes(out), s2_model["expected"])
