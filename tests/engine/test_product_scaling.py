"""Values brought to a model's units as the product says (issue 42, the paths the first tests left out):
Sentinel-2 L2A's processing-baseline offset as GDAL's SENTINEL2 driver exposes it (and a ``gdal_translate`` copy
keeps it), and an input whose overviews hold other values than its full-resolution bands.

The model is a per-pixel linear classifier made elsewhere (tests/engine/foreign_onnx.py) taking blue, green, red,
nir as reflectance 0-1, so the right class of every pixel is known: a missed offset or a wrong scale changes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from engine.api import SegmentConfig, segment
from engine.cli.main import main
from tests.engine.foreign_onnx import expected_classes, linear_model
from tests.helpers import LogLines

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

MEAN, STD = [0.1, 0.12, 0.14, 0.3], [0.05, 0.06, 0.07, 0.1]
# GDAL's SENTINEL2 driver: description "B4, central wavelength 665 nm", metadata BANDNAME and BOA_ADD_OFFSET
S2 = [("B1", 443), ("B2", 490), ("B3", 560), ("B4", 665), ("B5", 705), ("B8", 842)]  # model bands: 2, 3, 4, 6
PICK = [1, 2, 3, 5]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("scaling")
    rng = np.random.default_rng(11)
    weights, bias = rng.normal(size=(3, 4)) * 3, rng.normal(size=3)
    onnx = linear_model(folder / "clouds.onnx", weights, bias, head="none")
    bundle = folder / "clouds.dsmodel"
    assert main(["import", str(onnx), "-o", str(bundle), "--classes", "clear,cloud,shadow", "--mean",
                 ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)), "--output-kind", "logits",
                 "--band-names", "blue,green,red,nir", "--value-range", "0,1"]) == 0
    # reflectance on the 1e-4 grid the product stores, so DN and reflectance are the same numbers
    reflectance = (rng.uniform(0.0, 0.5, size=(6, 60, 80)) * 10000).round() / 10000
    return {"bundle": bundle, "weights": weights, "bias": bias, "reflectance": reflectance.astype(np.float32)}


def classes_of(model: dict, reflectance: np.ndarray) -> np.ndarray:
    return expected_classes(reflectance[PICK], model["weights"], model["bias"], MEAN, STD, 1.0)


def s2_product(path: Path, dn: np.ndarray, baseline: str, offset: int | None) -> Path:
    """A GeoTIFF carrying what the SENTINEL2 driver says of an L2A product (as ``gdal_translate`` copies it)."""
    with rasterio.open(path, "w", driver="GTiff", width=dn.shape[2], height=dn.shape[1], count=dn.shape[0],
                       dtype="uint16", crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(dn)
        ds.update_tags(PROCESSING_BASELINE=baseline, BOA_QUANTIFICATION_VALUE="10000",
                       BOA_QUANTIFICATION_VALUE_UNIT="none", SPECIAL_VALUE_NODATA="0", PRODUCT_TYPE="S2MSI2A")
        for band, (name, wavelength) in enumerate(S2, 1):
            ds.set_band_description(band, f"{name}, central wavelength {wavelength} nm")
            ds.update_tags(band, BANDNAME=name, WAVELENGTH=str(wavelength), WAVELENGTH_UNIT="nm",
                           **({"BOA_ADD_OFFSET": str(offset)} if offset is not None else {}))
    return path


def run(model: dict, image: Path, out: Path) -> tuple[np.ndarray, str, list[str]]:
    log = LogLines()
    result = segment(SegmentConfig(image=str(image), models=[str(model["bundle"])], output=str(out)), log)
    with rasterio.open(out) as ds:
        return ds.read(1), "\n".join(log.lines), result.warnings


def test_sentinel2_baseline_offset_is_applied_as_the_product_says(model, tmp_path):
    reflectance = model["reflectance"]
    expected = classes_of(model, reflectance)
    # what a forgotten offset would give: reflectance 0.1 too high, over 5 % of the classes wrong (so this can fail)
    assert (classes_of(model, reflectance + 0.1) != expected).mean() > 0.05
    dn = np.rint(reflectance * 10000 + 1000).astype(np.uint16)  # baseline 04.00: DN = 10000 * reflectance + 1000
    dn[:, :, :7] = 0  # the product's nodata (SPECIAL_VALUE_NODATA 0), which its bands do not declare
    image = s2_product(tmp_path / "l2a_0400.tif", dn, "04.00", -1000)
    before = image.read_bytes()
    got, said, warnings = run(model, image, tmp_path / "new.tif")
    with rasterio.open(tmp_path / "new.tif") as ds:
        assert ds.nodata is not None and (got[:, :7] == ds.nodata).all()  # no class where there is no data
    assert "Digital number 0 is nodata where a band declares none, as the product's SPECIAL_VALUE_NODATA" in said
    got, expected = got[:, 7:], expected[:, 7:]
    assert "Bands picked by name (Sentinel-2 band names): blue <- band 2 'B2, central wavelength 490 nm'" in said
    assert "nir <- band 6 'B8, central wavelength 842 nm'" in said
    assert ("Values rescaled to the model's units by Sentinel-2 L2A reflectance = (DN - 1000) / 10000 "
            "(processing baseline 04.00)") in said, said
    assert (got == expected).mean() >= 0.999
    assert not warnings and image.read_bytes() == before  # nothing to warn about; the input never written to


def test_sentinel2_before_baseline_0400_has_no_offset(model, tmp_path):
    reflectance = model["reflectance"]
    dn = np.rint(reflectance * 10000).astype(np.uint16)  # before 04.00: DN = 10000 * reflectance
    got, said, warnings = run(model, s2_product(tmp_path / "l2a_0301.tif", dn, "03.01", None), tmp_path / "old.tif")
    assert "Sentinel-2 L2A reflectance = (DN + 0) / 10000 (processing baseline 03.01)" in said, said
    assert (got == classes_of(model, reflectance)).mean() >= 0.999 and not warnings


def misleading_overviews(path: Path, full: np.ndarray, overviews: np.ndarray, scale: float | None) -> Path:
    """A tiled GeoTIFF whose overviews were built from ``overviews`` and whose bands then got ``full``: GDAL
    does not rebuild overviews when the bands are written (a stale ``.ovr`` does the same)."""
    with rasterio.open(path, "w", driver="GTiff", width=full.shape[2], height=full.shape[1], count=full.shape[0],
                       dtype="float32", crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10),
                       tiled=True, blockxsize=64, blockysize=64) as ds:
        ds.write(overviews.astype(np.float32))
        ds.build_overviews([2, 4, 8], Resampling.average)
        for band, (name, _) in enumerate(S2, 1):
            ds.set_band_description(band, name.replace("B", "B0"))  # B01: Sentinel-2's spelling
        if scale is not None:
            ds.scales, ds.offsets = [scale] * full.shape[0], [0.0] * full.shape[0]
    with rasterio.open(path, "r+") as ds:
        ds.write(full.astype(np.float32))
    with rasterio.open(path) as ds:  # the premise: the overviews do hold the other values
        coarse = ds.read(2, out_shape=(full.shape[1] // 8, full.shape[2] // 8))
        assert abs(float(np.median(coarse)) - float(np.median(overviews[1]))) < abs(
            float(np.median(overviews[1]) - np.median(full[1]))) / 10
    return path


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch):
    """Inputs above 100 x 100 px count as large (sampled through their overviews), so a small file takes that path;
    the coarse read at 32 px reads the 8x overview."""
    import engine.imagery.resolve as inputs

    monkeypatch.setattr(inputs, "OVERVIEW_ABOVE", 100 * 100)
    monkeypatch.setattr(inputs, "OVERVIEW_SIDE", 32)
    monkeypatch.setattr(inputs, "FULL_SIDE", 48)


def _tiled(reflectance: np.ndarray) -> np.ndarray:
    return np.tile(reflectance, (1, 4, 4))  # 240 x 320 px


def test_full_resolution_in_range_is_not_judged_by_overviews_in_digital_numbers(model, tmp_path, large):
    reflectance = _tiled(model["reflectance"])
    image = misleading_overviews(tmp_path / "ovr_dn.tif", reflectance, reflectance * 10000, scale=None)
    got, said, warnings = run(model, image, tmp_path / "a.tif")
    assert not any("does not look like" in w for w in warnings), warnings
    assert "rescaled" not in said
    assert f"The overviews of '{image}' hold other values" in said and "judged at full resolution" in said
    assert (got == classes_of(model, reflectance)).mean() >= 0.999


def test_full_resolution_digital_numbers_are_rescaled_though_the_overviews_look_in_range(model, tmp_path, large):
    reflectance = _tiled(model["reflectance"])
    image = misleading_overviews(tmp_path / "ovr_refl.tif", reflectance * 10000, reflectance, scale=0.0001)
    got, said, warnings = run(model, image, tmp_path / "b.tif")
    assert "rescaled to the model's units by the bands' GDAL scale/offset (x 0.0001 + 0)" in said, said
    assert (got == classes_of(model, reflectance)).mean() >= 0.999 and not warnings


def test_a_stac_item_with_the_baseline_offset_in_raster_bands_is_rescaled_by_it(model, tmp_path):
    """Earth Search's Sentinel-2 items from baseline 04.00 say the offset in ``raster:bands``: scale 0.0001,
    offset -0.1."""
    import json

    reflectance = model["reflectance"]
    dn = np.rint(reflectance * 10000 + 1000).astype(np.uint16)
    assets = {}
    for i, (name, common) in enumerate(zip([n for n, _ in S2], ["coastal", "blue", "green", "red", "rededge1",
                                                                "nir"])):
        with rasterio.open(tmp_path / f"{name}.tif", "w", driver="GTiff", width=dn.shape[2], height=dn.shape[1],
                           count=1, dtype="uint16", crs="EPSG:32633",
                           transform=from_origin(500000, 6000000, 10, 10)) as ds:
            ds.write(dn[i:i + 1])
        assets[common] = {"href": f"{name}.tif", "type": "image/tiff; application=geotiff", "roles": ["data"],
                          "eo:bands": [{"name": name, "common_name": common}],
                          "raster:bands": [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]}
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "S2B_T33_L2A", "properties": {"s2:processing_baseline":
                                                                                      "05.10"}, "assets": assets}))
    log = LogLines()
    result = segment(SegmentConfig(stac_item=str(item), models=[str(model["bundle"])], output=str(tmp_path / "c.tif")),
                     log)
    said = "\n".join(log.lines)
    assert "STAC item's raster:bands scale/offset (x 0.0001 - 0.1)" in said, said
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert (ds.read(1) == classes_of(model, reflectance)).mean() >= 0.999
    assert not result.warnings


def test_a_large_integer_image_with_nodata_is_judged_without_filling_integers_with_nan(model, tmp_path, large):
    """Issue 53 item 1: an integer image above the overview threshold with a nodata value crashed in the coarse
    sample ("Cannot convert fill_value nan to dtype uint16"). Here the full-resolution windows see only nodata, so
    the coarse sample decides, and its nodata (0) must not count as a value."""
    reflectance = _tiled(model["reflectance"]) + 0.02  # 0.02..0.52: DN 200..5200, never the nodata 0
    dn = np.rint(reflectance * 10000).astype(np.uint16)
    dn[:, 40:, :] = 0  # every full-resolution window lies in the nodata part
    path = tmp_path / "big_dn.tif"
    with rasterio.open(path, "w", driver="GTiff", width=dn.shape[2], height=dn.shape[1], count=dn.shape[0],
                       dtype="uint16", nodata=0, crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10),
                       tiled=True, blockxsize=64, blockysize=64) as ds:
        ds.write(dn)
        ds.scales, ds.offsets = [0.0001] * dn.shape[0], [0.0] * dn.shape[0]
        for band, (name, _) in enumerate(S2, 1):
            ds.set_band_description(band, name.replace("B", "B0"))  # B02: Sentinel-2's spelling
    got, said, warnings = run(model, path, tmp_path / "d.tif")
    assert "rescaled to the model's units by the bands' GDAL scale/offset (x 0.0001 + 0)" in said, said
    low = float(said.split("(band 2): ")[1].split("..")[0])
    assert low >= 200, said  # the nodata zeros were left out of the judged values
    with rasterio.open(tmp_path / "d.tif") as ds:
        assert (got[40:] == ds.nodata).all()
    assert (got[:40] == classes_of(model, reflectance)[:40]).mean() >= 0.999 and not warnings


def test_an_alpha_band_masks_the_coarse_sample_of_a_large_byte_image(tmp_path, large):
    """A web window (RGBA bytes, the alpha band as the mask) above the threshold: sampled without a NaN fill, and
    the pixels the alpha band hides are left out."""
    from engine.imagery.resolve import _sample

    rgb = np.full((3, 240, 320), 255, np.uint8)  # white where the service has no tiles
    rgb[:, :30] = 100
    alpha = np.zeros((240, 320), np.uint8)
    alpha[:30] = 255
    path = tmp_path / "web.tif"
    with rasterio.open(path, "w", driver="GTiff", width=320, height=240, count=4, dtype="uint8",
                       photometric="RGB", alpha="YES", crs="EPSG:3857",
                       transform=from_origin(0, 0, 10, 10)) as ds:
        ds.write(np.concatenate([rgb, alpha[None]]))
    values, _, _ = _sample(str(path), [1, 2, 3])
    assert values.shape[1] >= 16 and (values == 100).all()


@pytest.mark.parametrize("rows", [100, 101])  # at the threshold (sampled whole) and one row above (windows + coarse)
def test_integer_nodata_is_left_out_of_the_sample_on_both_sides_of_the_overview_threshold(tmp_path, large, rows):
    from engine.imagery.resolve import OVERVIEW_ABOVE, _sample

    dn = np.random.default_rng(rows).integers(200, 5000, size=(2, rows, 100)).astype(np.uint16)
    dn[:, 10:] = 0  # nodata but in the first 10 rows: too little in the full-resolution windows, so coarse decides
    path = tmp_path / "dn.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=rows, count=2, dtype="uint16", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(dn)
    assert (rows * 100 > OVERVIEW_ABOVE) == (rows == 101)
    values, _, _ = _sample(str(path), [1, 2])
    assert values.shape[1] >= 16 and values.min() >= 200


def test_a_large_file_without_overviews_is_judged_by_its_windows_and_called_no_names(tmp_path, large):
    """No overviews: the windows decide and nothing is said about overviews the file does not have (the coarse read
    of the whole scene, which decoded every block, once called a bright border "overviews with other values")."""
    from engine.imagery.resolve import _full_windows, _sample

    values = np.full((2, 240, 320), 30000, np.uint16)  # bright outside the full-resolution windows
    for col, row, width, height in _full_windows(320, 240):
        values[:, row:row + height, col:col + width] = np.arange(width, dtype=np.uint16) + 100
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=320, height=240, count=2, dtype="uint16", tiled=True,
                       blockxsize=64, blockysize=64, crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)
                       ) as ds:
        ds.write(values)
    with rasterio.open(path) as ds:
        assert not ds.overviews(1)  # the premise
    got, note, _ = _sample(str(path), [1, 2])
    assert note is None and got.max() < 30000 and got.shape[1] >= 1024
