"""Segment's Bands and STAC item parameters (issue 42) through real headless ``qgis_process`` runs: the bands of a
6-band image picked by number in the model's order, and a STAC item's single-band files picked by name and
rescaled by its raster:bands scale. The model is a linear classifier made elsewhere, so the classes are known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.engine.foreign_onnx import expected_classes, linear_model

pytestmark = [pytest.mark.qgis]
pytest.importorskip("onnx")

WEIGHTS, BIAS = np.random.default_rng(2).normal(size=(3, 4)) * 3, np.random.default_rng(3).normal(size=3)
MEAN, STD = [0.1, 0.12, 0.14, 0.3], [0.05, 0.06, 0.07, 0.1]
COMMON = ["coastal", "blue", "green", "red", "nir", "swir16"]


def write(path: Path, raw: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=raw.shape[0],
                       dtype=raw.dtype.name, crs="EPSG:32633", transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(raw)
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory, deploy_plugin, venv_site_packages):
    root = tmp_path_factory.mktemp("band-parameters")
    deploy_plugin(root, venv_site_packages)
    return root


@pytest.fixture(scope="module")
def model(root) -> Path:
    onnx = linear_model(root / "clouds.onnx", WEIGHTS, BIAS, head="none")
    # the command in a process of its own, as a user runs it, leaving this pytest process as it was
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "engine", "import", str(onnx), "-o", str(root / "clouds.dsmodel"),
                           "--classes", "clear,cloud,shadow", "--mean", ",".join(map(str, MEAN)), "--std",
                           ",".join(map(str, STD)), "--output-kind", "logits", "--band-names", "blue,green,red,nir",
                           "--value-range", "0,1"], capture_output=True, text=True, cwd=repo,
                          env=dict(os.environ, PYTHONPATH=str(repo)))
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "clouds.dsmodel"


def test_bands_and_stac_item_parameters_pick_the_models_bands(qgis_process, root, model):
    dn = (np.random.default_rng(4).uniform(0, 0.5, size=(6, 60, 70)) * 10000).astype(np.int16)
    reflectance = dn.astype(np.float32) * np.float32(0.0001)
    expected = expected_classes(reflectance[1:5], WEIGHTS, BIAS, MEAN, STD, 1.0)
    image = write(root / "six.tif", reflectance)
    out = root / "bands.tif"
    ran = qgis_process.run_alg_json(root, "dualstream:segment", {"INPUT": str(image), "BANDS": "2,3,4,5",
                                                                 "MODEL": str(model), "OUTPUT": str(out)})
    with rasterio.open(out) as ds:
        assert (ds.read(1) == expected).mean() >= 0.999
    assert any("blue <- band 2" in line for line in ran["log"]["info"]), ran["log"]["info"]
    assets = {}
    for i, common in enumerate(COMMON):
        write(root / f"{common}.tif", dn[i:i + 1])
        assets[common] = {"href": f"{common}.tif", "type": "image/tiff", "roles": ["data"],
                          "eo:bands": [{"name": f"B{i + 1}", "common_name": common}],
                          "raster:bands": [{"scale": 0.0001, "offset": 0}]}
    item = root / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "ITEM", "properties": {}, "assets": assets}))
    out = root / "stac.tif"
    ran = qgis_process.run_alg_json(root, "dualstream:segment", {"STAC_ITEM": str(item), "MODEL": str(model),
                                                                 "OUTPUT": str(out)})
    with rasterio.open(out) as ds:
        assert (ds.read(1) == expected).mean() >= 0.999
    said = "\n".join(ran["log"]["info"])
    assert "STAC item 'ITEM', bands picked by name: blue <- asset 'blue'" in said and "raster:bands" in said


def test_band_names_and_stac_items_through_qgis_process(qgis_process, root, model):
    """BANDS takes names as qgis_process gives them (BANDS=blue,green,nir,red: the image's band descriptions, in
    the model's order), and Segment in bulk takes STAC items (an ItemCollection: every item a scene)."""
    dn = (np.random.default_rng(5).uniform(0, 0.5, size=(6, 40, 50)) * 10000).astype(np.int16)
    reflectance = dn.astype(np.float32) * np.float32(0.0001)
    image = write(root / "named.tif", reflectance)
    with rasterio.open(image, "r+") as ds:
        for i, name in enumerate(COMMON, 1):
            ds.set_band_description(i, name)
    # nir fed to the model's red and red to its nir: classes of exactly that order, not of the file's
    swapped = expected_classes(reflectance[[1, 2, 4, 3]], WEIGHTS, BIAS, MEAN, STD, 1.0)
    assert (swapped != expected_classes(reflectance[1:5], WEIGHTS, BIAS, MEAN, STD, 1.0)).mean() > 0.2
    out = root / "named_out.tif"
    qgis_process.run_alg_json(root, "dualstream:segment", {"INPUT": str(image), "BANDS": "blue,green,nir,red",
                                                           "MODEL": str(model), "OUTPUT": str(out)})
    with rasterio.open(out) as ds:
        assert (ds.read(1) == swapped).mean() >= 0.999
    folder = root / "items"
    folder.mkdir()
    assets = {}
    for i, common in enumerate(COMMON):  # single-band files in digital numbers, scaled by raster:bands
        write(folder / f"B{i + 1}.tif", dn[i:i + 1])
        assets[common] = {"href": str(folder / f"B{i + 1}.tif"), "type": "image/tiff", "roles": ["data"],
                          "eo:bands": [{"name": f"B{i + 1}", "common_name": common}],
                          "raster:bands": [{"scale": 0.0001, "offset": 0}]}
    first = {"type": "Feature", "stac_version": "1.0.0", "id": "S2_TEST_ITEM", "properties": {}, "geometry": None,
             "assets": assets, "links": []}
    collection = folder / "collection.json"
    collection.write_text(json.dumps({"type": "FeatureCollection",
                                      "features": [first, {**first, "id": "SECOND"}]}), encoding="utf-8")
    ran = qgis_process.run_alg_json(root, "dualstream:segmentbulk", {"STAC_ITEMS": str(collection),
                                                                     "MODEL": str(model), "OUTPUT": str(root / "bulk")})
    assert ran["results"]["DONE"] == 2 and ran["results"]["FAILED"] == 0
    expected = expected_classes(reflectance[1:5], WEIGHTS, BIAS, MEAN, STD, 1.0)
    for name in ("S2_TEST_ITEM", "SECOND"):
        with rasterio.open(root / "bulk" / f"{name}.tif") as ds:
            assert (ds.read(1) == expected).mean() >= 0.999


def test_an_output_onto_an_asset_or_a_vrt_source_is_refused_in_qgis(qgis_process, root, model):
    """Issue 53: the files a STAC item or a VRT reads are inputs in QGIS too; nothing is written onto them."""
    folder = root / "reads"
    folder.mkdir()
    red = write(folder / "red.tif", np.full((1, 20, 30), 1000, np.int16))
    for common in ("blue", "green", "nir"):
        write(folder / f"{common}.tif", np.full((1, 20, 30), 1000, np.int16))
    assets = {c: {"href": f"./{c}.tif", "type": "image/tiff", "roles": ["data"],
                  "eo:bands": [{"name": c, "common_name": c}]} for c in ("blue", "green", "red", "nir")}
    item = folder / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "ITEM", "properties": {}, "assets": assets}))
    src = write(folder / "src.tif", np.full((4, 20, 30), 0.1, np.float32))
    vrt = folder / "wrap.vrt"
    from osgeo import gdal

    gdal.BuildVRT(str(vrt), [str(src)]).FlushCache()
    before = {p: p.read_bytes() for p in (red, src)}
    for params, said in (({"STAC_ITEM": str(item), "OUTPUT": str(red)}, "asset 'red' of the STAC item"),
                         ({"INPUT": str(vrt), "OUTPUT": str(src)}, "a source of the VRT")):
        done = qgis_process.run_alg(root, "dualstream:segment", {**params, "MODEL": str(model)})
        assert done.returncode != 0 and said in done.stdout + done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
    assert {p: p.read_bytes() for p in (red, src)} == before
