"""A STAC item's assets as they go wrong (issue 53): each refusal names the asset's key and href, the true cause
and what to do, with no traceback; assets lying apart are refused, not stacked side by side; a common name two
assets share stops the run; a JPEG 2000 twin is said; ``file://`` hrefs are read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bench.http_files import FileServer
from engine.cli.main import main
from tests.engine.foreign_onnx import expected_classes, linear_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

BANDS, MEAN, STD = ["blue", "green", "red", "nir"], [0.1, 0.12, 0.14, 0.3], [0.05, 0.06, 0.07, 0.1]
ASSETS = [("coastal", "B01"), ("blue", "B02"), ("green", "B03"), ("red", "B04"), ("nir", "B08"), ("swir16", "B11")]


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> dict:
    """A per-pixel linear model made elsewhere taking blue, green, red, nir as reflectance 0-1 (so the right class
    of every pixel is known), and six bands of digital numbers (x 0.0001 = reflectance)."""
    folder = tmp_path_factory.mktemp("stac_assets")
    rng = np.random.default_rng(11)
    weights, bias = rng.normal(size=(3, 4)) * 3, rng.normal(size=3)
    dn = (rng.uniform(0.0, 0.5, size=(6, 40, 50)) * 10000).astype(np.int16)
    onnx = linear_model(folder / "m.onnx", weights, bias, head="none")
    bundle = folder / "m.dsmodel"
    assert main(["import", str(onnx), "-o", str(bundle), "--classes", "a,b,c", "--mean", ",".join(map(str, MEAN)),
                 "--std", ",".join(map(str, STD)), "--output-kind", "logits", "--band-names", ",".join(BANDS),
                 "--value-range", "0,1"]) == 0
    expected = expected_classes(dn[1:5].astype(np.float32) * np.float32(0.0001), weights, bias, MEAN, STD, 1.0)
    return {"bundle": bundle, "dn": dn, "expected": expected}


def _tif(path: Path, raw: np.ndarray, west: float = 500000) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=1, dtype="int16",
                       crs="EPSG:32633", transform=from_origin(west, 6000000, 10, 10)) as ds:
        ds.write(raw)


def _item(folder: Path, base: str, dn: np.ndarray) -> Path:
    """item.json in ``folder``: one single-band asset per band (hrefs under ``base``), scaled by raster:bands."""
    assets = {}
    for i, (common, name) in enumerate(ASSETS):
        _tif(folder / f"{name}.tif", dn[i:i + 1])
        assets[common] = {"href": f"{base}/{name}.tif", "type": "image/tiff; application=geotiff", "roles": ["data"],
                          "eo:bands": [{"name": name, "common_name": common}],
                          "raster:bands": [{"data_type": "int16", "scale": 0.0001, "offset": 0.0}]}
    path = folder / "item.json"
    path.write_text(json.dumps({"type": "Feature", "stac_version": "1.0.0", "id": "ITEM", "properties": {},
                                "geometry": None, "assets": assets, "links": []}))
    return path


def classes(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


@pytest.fixture
def item(product, tmp_path):
    """The test item of six local COGs beside it, as JSON to change, and a function writing a changed copy."""
    path = _item(tmp_path, ".", product["dn"])
    base = json.loads(path.read_text())

    def variant(change) -> Path:
        copy = json.loads(json.dumps(base))
        change(copy["assets"])
        out = tmp_path / f"variant{len(list(tmp_path.glob('variant*')))}.json"
        out.write_text(json.dumps(copy))
        return out

    return variant


def _segment(product, item_path, out, *extra) -> int:
    return main(["segment", "--model", str(product["bundle"]), "--stac-item", str(item_path), "--out", str(out),
                 *extra])


def test_a_missing_asset_is_named_with_its_href(product, item, tmp_path, capsys):
    path = item(lambda a: a["red"].update(href="./gone.tif"))
    assert _segment(product, path, tmp_path / "o.tif") == 2
    err = capsys.readouterr().err
    assert "asset 'red' (href './gone.tif'" in err and "does not exist" in err
    assert "Traceback" not in err and "RuntimeError" not in err and "share a CRS" not in err
    assert not (tmp_path / "o.tif").exists()


def test_an_href_outside_the_items_folder_is_named_so(product, item, tmp_path, capsys):
    path = item(lambda a: a["red"].update(href="../../../../../../../etc/passwd"))
    assert _segment(product, path, tmp_path / "o.tif") == 2
    err = capsys.readouterr().err
    assert "asset 'red'" in err and "outside the item's folder (in '/etc')" in err
    assert "is not a raster GDAL can read" in err and "Traceback" not in err


def test_a_missing_remote_asset_gives_its_http_status(product, tmp_path, capsys):
    root = tmp_path / "hub"
    root.mkdir()
    with FileServer(root, fail={"/B04.tif": 404}) as server:
        _item(root, server.url, product["dn"])
        assert _segment(product, f"{server.url}/item.json", tmp_path / "o.tif") == 2
    err = capsys.readouterr().err
    assert "asset 'red'" in err and "B04.tif" in err and "HTTP 404" in err and "Traceback" not in err


def test_a_remote_item_naming_a_local_file_is_refused(product, tmp_path, capsys):
    root = tmp_path / "hub"
    root.mkdir()
    path = _item(root, ".", product["dn"])
    data = json.loads(path.read_text())
    data["assets"]["red"]["href"] = f"file://{root / 'B04.tif'}"
    path.write_text(json.dumps(data))
    with FileServer(root) as server:
        assert _segment(product, f"{server.url}/item.json", tmp_path / "o.tif") == 2
    assert "read from a URL, names the local file" in capsys.readouterr().err


def test_file_urls_are_read_as_local_files(product, item, tmp_path):
    path = item(lambda a: [v.update(href=f"file://{tmp_path / v['href'][2:]}") for k, v in a.items()
                           if k != "thumbnail"])
    assert _segment(product, path, tmp_path / "o.tif") == 0
    assert (classes(tmp_path / "o.tif") == product["expected"]).mean() >= 0.999
    assert _segment(product, f"file://{item(lambda a: None)}", tmp_path / "p.tif") == 0  # the item as a URL too
    assert (classes(tmp_path / "p.tif") == product["expected"]).mean() >= 0.999


def test_assets_lying_apart_are_refused_with_their_extents(product, item, tmp_path, capsys):
    _tif(tmp_path / "far.tif", product["dn"][4:5], west=510000)
    path = item(lambda a: a["nir"].update(href="./far.tif"))
    assert _segment(product, path, tmp_path / "o.tif") == 2
    err = capsys.readouterr().err
    assert "do not cover common ground" in err and "'nir' x 510000..510500" in err and "'red' x 500000..500500" in err
    assert not (tmp_path / "o.tif").exists()


def test_a_shared_common_name_stops_the_run_and_asset_keys_choose(product, item, tmp_path, capsys):
    path = item(lambda a: a.update(red2={**a["red"], "href": "./B04.tif",
                                         "eo:bands": [{"name": "B04b", "common_name": "red"}]}))
    assert _segment(product, path, tmp_path / "o.tif") == 2
    err = capsys.readouterr().err
    assert "2 assets are named 'red': asset 'red'" in err and "and asset 'red2'" in err
    assert "7 red = asset 'red2'" in err  # the numbers --bands counts, each with its asset
    assert _segment(product, path, tmp_path / "o.tif", "--bands", "blue,green,red2,nir") == 0
    assert (classes(tmp_path / "o.tif") == product["expected"]).mean() >= 0.999


def test_a_twin_is_said_and_numbers_count_the_listed_bands(product, item, tmp_path, capsys):
    path = item(lambda a: a.update({"red-jp2": {**a["red"]}}))
    assert _segment(product, path, tmp_path / "o.tif", "--bands", "2,3,4,5") == 0
    err = capsys.readouterr().err
    assert "asset 'red-jp2' is the same band as asset 'red' (B04), read from 'red'" in err
    assert (classes(tmp_path / "o.tif") == product["expected"]).mean() >= 0.999
    assert _segment(product, path, tmp_path / "p.tif", "--bands", "2,3,4,9") == 2
    assert "6 swir16 = asset 'swir16'" in capsys.readouterr().err


def test_training_reads_an_item_with_the_same_checks(item, tmp_path):
    from engine.data.input_vrt import InputFiles
    from engine.errors import DataError
    from engine.imagery.stac_assets import stac_raster

    files = InputFiles()
    with pytest.raises(DataError, match=r"asset 'red' \(href './gone.tif'"):
        stac_raster(str(item(lambda a: a["red"].update(href="./gone.tif"))), files)
    with rasterio.open(stac_raster(str(item(lambda a: None)), files)) as ds:
        assert ds.count == 6 and ds.read(1).shape == (40, 50)
    files.close()


def test_training_says_what_checking_an_items_assets_found_each_time_it_is_asked(product, item, tmp_path):
    """Planning makes an item's VRT with no one to tell; the data's reading of the scene then says what the check of
    its assets found (before, training dropped it: assets covering part of each other's ground, read as empty
    where a band misses it)."""
    from engine.callbacks import Callback
    from engine.config import DataConfig, SceneSpec
    from engine.imagery.stac_assets import stac_scenes

    _tif(tmp_path / "B04_shifted.tif", product["dn"][3:4], west=500100)  # 100 m of 500 east: 80 % common ground
    path = item(lambda a: a["red"].update(href="./B04_shifted.tif"))

    class Heard(Callback):
        def __init__(self) -> None:
            self.warnings: list[str] = []

        def warning(self, message: str) -> None:
            self.warnings.append(message)

    scene = SceneSpec(image=str(path), label=str(path))
    named = stac_scenes(DataConfig(train_scenes=[scene]), keep_items=True)
    for _ in range(2):  # each reading of the scene says it, the VRT made once
        heard = Heard()
        read = stac_scenes(DataConfig(train_scenes=[scene]), heard).train_scenes[0]
        assert read.image in named.train_scenes[0].names
        assert [w for w in heard.warnings if "cover different ground" in w and "only 80 % of the largest" in w], \
            heard.warnings
