"""What the outputs of models made elsewhere hold (issue 40, items 2 and 3), through the real command line.

A graph giving NaN or +inf on part of a scene: those pixels are nodata in the class raster (not class 0), NaN in
the probabilities and the confidence, counted in the log and the result; the others keep the model's classes. A
model of 1000 classes writes a UInt16 class raster holding its class numbers (class 315 stays 315, not 59), in
segment and bulk, with polygons and evaluate taking them. Before, the NaN pixels were class 0 and the 1000
classes wrapped around a Byte raster.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.engine.foreign_onnx import expected_classes

from ..workspace import run_cli

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

MEAN, STD, SCALE = [0.5] * 3, [0.2] * 3, 1 / 255


def read(path: Path) -> tuple[np.ndarray, float | None, str]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.nodata, ds.dtypes[0]


@pytest.mark.parametrize("poison", ["nan", "inf"])
def test_non_finite_scores_are_nodata_in_every_output(poison: str, workspace: dict, tmp_path: Path) -> None:
    out = tmp_path / "classes.tif"
    done = run_cli("segment", "--model", workspace[f"imp_{poison}"], "--image", workspace["imp_scene"], "--out",
                   str(out), "--probabilities", str(tmp_path / "p.tif"), "--confidence", str(tmp_path / "c.tif"),
                   "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    classes, nodata, dtype = read(out)
    probabilities, _, _ = read(tmp_path / "p.tif")
    confidence, _, _ = read(tmp_path / "c.tif")
    raw = workspace["imp_raw"]
    spoiled = (raw[0] * SCALE - MEAN[0]) / STD[0] < 0 if poison == "nan" else (raw[0] * SCALE - MEAN[0]) <= 0
    assert 0 < spoiled.sum() < spoiled.size  # part of the scene
    assert np.array_equal(classes[0] == nodata, spoiled)  # nodata exactly where the model gave NaN/inf
    assert np.isnan(probabilities[:, spoiled]).all() and np.isfinite(probabilities[:, ~spoiled]).all()
    assert np.isnan(confidence[0][spoiled]).all() and np.isfinite(confidence[0][~spoiled]).all()
    expected = expected_classes(raw, *workspace["imp_linear"], MEAN, STD, SCALE)
    assert np.array_equal(classes[0][~spoiled], expected[~spoiled])  # the others keep the model's classes
    assert result["nonfinite_pixels"] == int(spoiled.sum())
    assert f"NaN or infinite scores at {int(spoiled.sum()):,} pixel(s)" in done.stderr
    assert any("NaN or infinite" in w for w in result["warnings"])


def test_a_thousand_classes_are_written_as_uint16_everywhere(workspace: dict, tmp_path: Path) -> None:
    expected = expected_classes(workspace["imp_raw"], *workspace["imp_k1000_linear"], MEAN, STD, SCALE)
    assert expected.max() > 255  # classes a Byte raster wraps around
    out = tmp_path / "classes.tif"
    done = run_cli("segment", "--model", workspace["imp_k1000"], "--image", workspace["imp_scene"], "--out",
                   str(out), "--polygons", str(tmp_path / "p.gpkg"), "--quiet")
    assert done.returncode == 0, done.stderr
    classes, nodata, dtype = read(out)
    assert dtype == "uint16" and nodata == 65535
    assert np.array_equal(classes[0], expected)  # class 315 is 315, not 59
    from osgeo import ogr

    source = ogr.Open(str(tmp_path / "p.gpkg"))
    layer = source.GetLayer(0)
    ids = {feature.GetField("class_id") for feature in layer}
    assert max(ids) > 255 and ids <= set(np.unique(expected).tolist())
    source = None
    # bulk: the same rule
    bulk = tmp_path / "bulk"
    done = run_cli("segment", "--images", workspace["imp_scene"], "--model", workspace["imp_k1000"], "--out-dir",
                   str(bulk), "--quiet")
    assert done.returncode == 0, done.stderr
    written = [p for p in bulk.rglob("*.tif") if not p.name.startswith(".")]
    assert written, list(bulk.rglob("*"))
    bulk_classes, bulk_nodata, bulk_dtype = read(written[0])
    assert bulk_dtype == "uint16" and bulk_nodata == 65535 and np.array_equal(bulk_classes[0], expected)
    # evaluate: the class raster against itself as a UInt16 label
    label = tmp_path / "label.tif"
    with rasterio.open(out) as ds:
        profile = ds.profile
    profile.update(nodata=None)
    with rasterio.open(label, "w", **profile) as ds:
        ds.write(classes)
    done = run_cli("evaluate", "--pred", str(out), "--label", str(label), "--ignore-index", "65535", "--out",
                   str(tmp_path / "m.json"), "--quiet")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["num_classes"] == 1000 and metrics["pixel_accuracy"] == 1.0
