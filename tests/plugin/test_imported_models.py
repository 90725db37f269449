"""A model made elsewhere (an ONNX model in Deepness's format, built in the test, not by our export) segmented
through real headless ``qgis_process`` runs: one scene with every output, then a folder of scenes in bulk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.engine.foreign_onnx import deepness_metadata, expected_classes, linear_model

pytestmark = [pytest.mark.qgis]
pytest.importorskip("onnx")

MEAN, STD = [0.4, 0.5, 0.45], [0.2, 0.25, 0.3]
WEIGHTS, BIAS = np.random.default_rng(0).normal(size=(3, 3)), np.random.default_rng(1).normal(size=3)


@pytest.fixture(scope="module")
def root(tmp_path_factory, deploy_plugin, venv_site_packages):
    root = tmp_path_factory.mktemp("imported-models")
    deploy_plugin(root, venv_site_packages)
    return root


@pytest.fixture(scope="module")
def model(root) -> Path:
    return linear_model(root / "landcover.onnx", WEIGHTS, BIAS,
                        metadata=deepness_metadata(["background", "field", "forest"], MEAN, STD, tile=64))


def scene(path: Path, seed: int) -> np.ndarray:
    raw = np.random.default_rng(seed).integers(0, 256, size=(3, 96, 80)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=80, height=96, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 1, 1)) as ds:
        ds.write(raw)
    return raw


def test_qgis_process_segments_with_a_deepness_model(qgis_process, root, model):
    raw = scene(root / "one" / "scene.tif", 5)
    out = root / "one" / "classes.tif"
    params = {"INPUT": str(root / "one" / "scene.tif"), "MODEL": str(model), "DEVICE": "cpu", "OUTPUT": str(out),
              "OUTPUT_CONFIDENCE": str(root / "one" / "confidence.tif"),
              "OUTPUT_POLYGONS": str(root / "one" / "polygons.gpkg")}
    ran = qgis_process.run_alg_json(root, "dualstream:segment", params)
    results = ran["results"]
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1), expected_classes(raw, WEIGHTS, BIAS, MEAN, STD, 1 / 255))
    assert "field" in Path(results["QML"]).read_text()
    assert Path(results["OUTPUT_CONFIDENCE"]).is_file() and Path(results["OUTPUT_POLYGONS"]).is_file()
    assert any("imported ONNX model" in line for line in ran["log"]["info"]), ran["log"]["info"]


def test_qgis_process_segments_a_folder_in_bulk_with_it(qgis_process, root, model):
    raws = {f"s{i}": scene(root / "many" / f"s{i}.tif", 10 + i) for i in range(2)}
    params = {"FOLDER": str(root / "many"), "PATTERN": "*.tif", "MODEL": str(model), "DEVICE": "cpu",
              "OUTPUT": str(root / "bulk")}
    results = qgis_process.run_alg_json(root, "dualstream:segmentbulk", params)["results"]
    assert results["DONE"] == 2 and results["FAILED"] == 0, results
    for name, raw in raws.items():
        with rasterio.open(root / "bulk" / f"{name}.tif") as ds:
            assert np.array_equal(ds.read(1), expected_classes(raw, WEIGHTS, BIAS, MEAN, STD, 1 / 255))
