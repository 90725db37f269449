"""Real products as they ship (issue 42): bands picked by name or by ``--bands``, values brought to the model's
units when the product says how (else a warning naming the range, an error with ``--strict-inputs``), and a STAC
item of single-band COGs read from a local HTTP server that answers range requests.

The model is a per-pixel linear classifier made elsewhere (tests/engine/foreign_onnx.py) that takes blue, green,
red, nir as reflectance 0-1, so the right classes of every pixel are known: a wrong band or scale changes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bench.http_files import FileServer
from engine.api import DataError, SegmentConfig, segment
from engine.cli.main import main
from engine.data.band_match import match_bands, pick_bands
from tests.engine.foreign_onnx import expected_classes, linear_model
from tests.helpers import LogLines

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

BANDS = ["blue", "green", "red", "nir"]
MEAN, STD = [0.1, 0.12, 0.14, 0.3], [0.05, 0.06, 0.07, 0.1]
S2 = ["B01", "B02", "B03", "B04", "B08", "B11"]  # the model's bands are the file's 2, 3, 4 and 5


def write(path: Path, raw: np.ndarray, names: list[str] | None = None, scale: float | None = None,
          driver: str = "GTiff") -> Path:
    profile = {"driver": "GTiff", "width": raw.shape[2], "height": raw.shape[1], "count": raw.shape[0],
               "dtype": raw.dtype.name, "crs": "EPSG:32633", "transform": from_origin(500000, 6000000, 10, 10)}
    if driver == "COG":
        profile.update(tiled=True, blockxsize=32, blockysize=32)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(raw)
        for i in range(raw.shape[0]):
            if names:
                ds.set_band_description(i + 1, names[i])
        if scale is not None:
            ds.scales = [scale] * raw.shape[0]
            ds.offsets = [0.0] * raw.shape[0]
    return path


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A linear cloud model of 4 reflectance bands, a 6-band Sentinel-2-like scene in digital numbers and the
    4-band reflectance file made from it by hand, and the classes the model gives that file."""
    folder = tmp_path_factory.mktemp("product")
    rng = np.random.default_rng(7)
    weights, bias = rng.normal(size=(3, 4)) * 3, rng.normal(size=3)
    dn = (rng.uniform(0.0, 0.5, size=(6, 70, 90)) * 10000).astype(np.int16)
    reflectance = (dn[1:5].astype(np.float32) * np.float32(0.0001))
    onnx = linear_model(folder / "clouds.onnx", weights, bias, head="none")
    bundle = folder / "clouds.dsmodel"
    assert main(["import", str(onnx), "-o", str(bundle), "--classes", "clear,cloud,shadow", "--mean",
                 ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)), "--output-kind", "logits", "--band-names",
                 ",".join(BANDS), "--value-range", "0,1"]) == 0
    reference = write(folder / "reflectance4.tif", reflectance)
    expected = expected_classes(reflectance, weights, bias, MEAN, STD, 1.0)
    return {"bundle": bundle, "dn": dn, "reference": reference, "expected": expected, "folder": folder}


def classes(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_sensor_band_names_are_matched_and_ordered_for_the_model():
    s2 = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    model = ["blue", "green", "red", "nir", "swir16", "swir22"]
    assert match_bands(model, s2, "s2.tif").bands == (2, 3, 4, 8, 11, 12)
    landsat8 = ["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7"]
    assert match_bands(model, landsat8, "l8.tif").bands == (2, 3, 4, 5, 6, 7)
    landsat5 = ["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7"]
    assert match_bands(model, landsat5, "l5.tif").bands == (1, 2, 3, 4, 5, 6)
    said = match_bands(model[:4], ["nir", "red", "green", "blue"], "x.tif")
    assert said.bands == (4, 3, 2, 1) and "nir <- band 1 'nir'" in said.said
    assert match_bands(model, [None] * 6, "x.tif") is None  # no names: counts decide
    assert pick_bands(["B2", "B3", "B4", "B8", "B11", "B12"], model, 6, s2, "s2.tif").bands == (2, 3, 4, 8, 11, 12)


def test_missing_or_ambiguous_names_list_what_the_model_needs_and_what_the_file_has():
    model = ["blue", "green", "red", "nir"]
    with pytest.raises(DataError, match=r"no band named like the model's 'nir'.*blue, green, red, nir.*1 'red'"):
        match_bands(model, ["red", "green", "blue"], "rgb.tif")
    # B1..B7 fit Sentinel-2 and both Landsats, where B1/B2 mean different bands
    with pytest.raises(DataError, match=r"'blue' is ambiguous.*1 'B1' \(blue or coastal\)"):
        match_bands(model, [f"B{i}" for i in range(1, 8)], "b.tif")
    with pytest.raises(DataError, match="gives 3 band"):
        pick_bands(["1", "2", "3"], model, 4, [None] * 6, "x.tif")


def test_a_named_scaled_product_is_picked_and_rescaled_without_flags(product, tmp_path):
    named = write(tmp_path / "s2_dn_named.tif", product["dn"], names=S2, scale=0.0001)
    before = named.read_bytes()
    log = LogLines()
    result = segment(SegmentConfig(image=str(named), models=[str(product["bundle"])],
                                   output=str(tmp_path / "named.tif")), log)
    said = "\n".join(log.lines)
    assert "blue <- band 2 'B02'" in said and "nir <- band 5 'B08'" in said
    assert "rescaled to the model's units by the bands' GDAL scale/offset (x 0.0001 + 0)" in said
    assert not any(line.startswith("warning") for line in log.lines), said
    got = classes(tmp_path / "named.tif")
    assert (got == product["expected"]).mean() >= 0.999
    assert result.warnings == [] and named.read_bytes() == before  # the input is never written to
    assert len(np.unique(got)) > 1


def test_bands_flag_on_unnamed_digital_numbers_warns_with_the_range_and_strict_stops(product, tmp_path):
    plain = write(tmp_path / "s2_dn.tif", product["dn"])
    out = tmp_path / "plain.tif"
    with pytest.raises(DataError, match=r"has 6 band\(s\) but the model .* takes 4 \(blue, green, red, nir"):
        segment(SegmentConfig(image=str(plain), models=[str(product["bundle"])], output=str(out)))
    log = LogLines()
    result = segment(SegmentConfig(image=str(plain), models=[str(product["bundle"])], output=str(out),
                                   bands="2,3,4,5"), log)
    warning = next(w for w in result.warnings if "does not look like" in w)
    assert "range the model records (0..1)" in warning and "blue (band 2):" in warning
    assert "2,3,4,5: blue <- band 2," in "\n".join(log.lines)
    # with the values converted by hand, the same flag gives the reference's classes
    converted = write(tmp_path / "s2_refl.tif", (product["dn"].astype(np.float32) * np.float32(0.0001)))
    segment(SegmentConfig(image=str(converted), models=[str(product["bundle"])], output=str(tmp_path / "c.tif"),
                          bands="2,3,4,5"))
    assert (classes(tmp_path / "c.tif") == product["expected"]).mean() >= 0.999
    strict = tmp_path / "strict.tif"
    with pytest.raises(DataError, match="made this an error"):
        segment(SegmentConfig(image=str(plain), models=[str(product["bundle"])], output=str(strict),
                              bands="2,3,4,5", strict_inputs=True))
    assert not strict.exists()


def _item(folder: Path, base: str, dn: np.ndarray, scale: float | None) -> Path:
    assets = {}
    for i, (name, common) in enumerate(zip(S2, ["coastal", "blue", "green", "red", "nir", "swir16"])):
        write(folder / f"{name}.tif", dn[i:i + 1], driver="COG")
        band = {"name": name, "common_name": common}
        raster = {"data_type": "int16", **({"scale": scale, "offset": 0.0} if scale else {})}
        assets[common] = {"href": f"{base}/{name}.tif", "type": "image/tiff; application=geotiff; "
                          "profile=cloud-optimized", "roles": ["data"], "eo:bands": [band], "raster:bands": [raster]}
    assets["thumbnail"] = {"href": f"{base}/thumb.jpg", "type": "image/jpeg", "roles": ["thumbnail"]}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "S2_TEST_ITEM", "properties": {},
            "geometry": None, "assets": assets, "links": []}
    path = folder / "item.json"
    path.write_text(json.dumps(item), encoding="utf-8")
    return path


def test_a_stac_item_of_remote_cogs_is_segmented_in_one_command(product, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    root = tmp_path / "hub"
    root.mkdir()
    with FileServer(root) as server:
        _item(root, server.url, product["dn"], 0.0001)
        out = tmp_path / "stac.tif"
        assert main(["segment", "--model", str(product["bundle"]), "--stac-item", f"{server.url}/item.json",
                     "--out", str(out)]) == 0
        log = server.log
    ranged = [r for r in log if r[0] == "GET" and r[1].endswith(".tif")]
    err = capsys.readouterr().err
    assert "STAC item 'S2_TEST_ITEM', bands picked by name: blue <- asset 'blue' (B02)" in err
    assert "STAC item's raster:bands scale/offset" in err
    assert (classes(out) == product["expected"]).mean() >= 0.999
    assert ranged and all(rng is not None for _, _, rng in ranged)  # read by range requests, window by window
    assert not any(path.endswith("B1.tif") or path.endswith("B11.tif") for _, path, _ in log)


def test_import_takes_the_old_band_count_spelling_with_a_note(product, tmp_path, capsys):
    onnx = linear_model(tmp_path / "m.onnx", np.ones((2, 4)), np.zeros(2), head="none")
    assert main(["import", str(onnx), "-o", str(tmp_path / "m.dsmodel"), "--classes", "a,b", "--output-kind",
                 "logits", "--bands", "4"]) == 0
    assert "--band-count 4" in capsys.readouterr().err
    assert main(["import", str(onnx), "-o", str(tmp_path / "n.dsmodel"), "--classes", "a,b", "--output-kind",
                 "logits", "--band-count", "4"]) == 0


def test_bulk_segments_every_item_of_an_item_collection(product, tmp_path):
    folder = tmp_path / "items"
    folder.mkdir()
    first = json.loads(_item(folder, str(folder), product["dn"], 0.0001).read_text())
    # the second lists its assets in another order and says nothing of their scale: a warning in the summary
    unscaled = {k: {**a, "raster:bands": [{"data_type": "int16"}]} for k, a in reversed(list(first["assets"].items()))}
    second = {**first, "id": "SECOND", "assets": unscaled}
    collection = folder / "collection.json"
    collection.write_text(json.dumps({"type": "FeatureCollection", "features": [first, second]}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["segment", "--model", str(product["bundle"]), "--stac-items", str(collection), "--out-dir",
                 str(out)]) == 0
    assert (classes(out / "S2_TEST_ITEM.tif") == product["expected"]).mean() >= 0.999
    summary = {s["name"]: s for s in json.loads((out / "summary.json").read_text())["scenes"]}
    assert sorted(summary) == ["S2_TEST_ITEM", "SECOND"]
    assert not summary["S2_TEST_ITEM"]["warnings"]
    assert any("range the model records (0..1)" in w for w in summary["SECOND"]["warnings"])


def test_a_trained_model_records_its_band_names_and_finds_them_in_another_order(tmp_path):
    from engine.data.dataset import training_band_names, training_value_range
    from engine.data.normalize import BandStatistics
    from engine.data.scene import SceneReader
    from tests.helpers import make_bundle

    raw = np.random.default_rng(3).integers(0, 4000, size=(5, 64, 64)).astype(np.uint16)
    names = ["B02", "B03", "B04", "B08", "B11"]
    training = write(tmp_path / "training.tif", raw, names=names)
    with SceneReader(str(training), bands=[3, 2, 1, 4]) as reader:
        assert training_band_names(reader) == ["B04", "B03", "B02", "B08"]
    with SceneReader(str(write(tmp_path / "unnamed.tif", raw))) as reader:
        assert training_band_names(reader) is None  # a band without a name: none recorded
    assert training_value_range(BandStatistics("percentile", [10, 20], [900, 3000])) == [10.0, 3000.0]
    bundle = make_bundle(tmp_path / "m.dsmodel", band_names=["B04", "B03", "B02", "B08"])
    in_order = write(tmp_path / "in_order.tif", raw[[2, 1, 0, 3]])
    segment(SegmentConfig(image=str(in_order), models=[bundle], output=str(tmp_path / "a.tif")))
    log = LogLines()
    segment(SegmentConfig(image=str(training), models=[bundle], output=str(tmp_path / "b.tif")), log)
    assert "B04 <- band 3 'B04', B03 <- band 2 'B03', B02 <- band 1 'B02', B08 <- band 4 'B08'" in "\n".join(log.lines)
    assert np.array_equal(classes(tmp_path / "a.tif"), classes(tmp_path / "b.tif"))


def test_train_reads_a_stac_item_takes_bands_by_name_and_records_them(tmp_path):
    from engine.api import read_model_metadata

    rng = np.random.default_rng(5)
    raw = rng.integers(200, 3000, size=(4, 96, 96)).astype(np.int16)
    raw[2, 20:60, 30:80] += 4000  # a bright red patch is the class
    label = write(tmp_path / "label.tif", (raw[2:3] > 3500).astype(np.uint8))
    assets = {}
    for i, common in enumerate(["blue", "green", "red", "nir"]):
        write(tmp_path / f"{common}.tif", raw[i:i + 1])
        assets[common] = {"href": f"{common}.tif", "type": "image/tiff", "roles": ["data"],
                          "eo:bands": [{"name": f"B{i + 2}", "common_name": common}],
                          "raster:bands": [{"scale": 0.0001, "offset": 0}]}
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "T", "properties": {}, "assets": assets}))
    bundle = tmp_path / "m.dsmodel"
    assert main(["train", "--image", str(item), "--label", str(label), "--bands", "red,green,nir", "--out",
                 str(bundle), "--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "8", "--batch-size", "4",
                 "--epochs", "1", "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0", "--quiet"]) == 0
    data = read_model_metadata(str(bundle)).data
    assert data.band_names == ["red", "green", "nir"] and data.bands is None  # by name: names recorded, not numbers
    assert data.value_range is not None and data.value_range[1] < 1.0  # raster:bands scale made reflectance
    out = tmp_path / "classes.tif"
    assert main(["segment", "--model", str(bundle), "--stac-item", str(item), "--out", str(out)]) == 0
    assert classes(out).shape == (96, 96)
