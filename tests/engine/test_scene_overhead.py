"""A bulk run's per-scene work outside the model (issue 61, item 11), held to what it does, not to its time: the
image opened once to pick its bands and judge its values, once by the reader; a model's CRS read into GDAL once
per run, not for each question of each scene; the 2-98 % range from one partition, numpy's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.callbacks import QuietCallback
from tests.engine.foreign_onnx import deepness_metadata, linear_model

pytest.importorskip("onnxruntime")


def test_planning_a_scene_opens_its_image_once(tmp_path, monkeypatch):
    from rasterio.transform import from_origin

    from engine.config import SegmentConfig
    from engine.segment import plan_segmentation

    image = tmp_path / "scene.tif"
    with rasterio.open(image, "w", driver="GTiff", width=96, height=96, count=3, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 1, 1)) as ds:
        ds.write(np.random.default_rng(0).integers(0, 4000, size=(3, 96, 96)).astype(np.uint16))
    model = linear_model(tmp_path / "m.onnx", np.eye(3), np.zeros(3),
                         metadata=deepness_metadata(["a", "b", "c"], [0.5] * 3, [0.2] * 3, tile=32))
    opened: list[str] = []
    real = rasterio.open

    def counting(path, *args, **kwargs):
        if Path(str(path)) == image:
            opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counting)
    plan = plan_segmentation(SegmentConfig(image=str(image), models=[str(model)], output=str(tmp_path / "o.tif")),
                             QuietCallback())
    dataset = plan.reader.image_dataset()
    assert len(opened) == 1  # the image door (bands and values), its dataset taken over by the reader; was 3, 2
    assert not dataset.closed and dataset.read(1, window=((0, 2), (0, 2))).shape == (2, 2)
    assert plan.inputs is None or plan.inputs.dataset is None  # the reader's alone: closed once, with it
    plan.reader.close()
    assert dataset.closed


def test_a_crs_is_read_into_gdal_once_for_many_questions():
    from engine.data import ground

    ground._unit_of_text.cache_clear()
    wkt = rasterio.crs.CRS.from_epsg(32633).to_wkt()
    units = [ground.ground_unit(wkt) for _ in range(5)]
    assert units[0].kind == ground.METRES and len(set(units)) == 1
    assert ground._unit_of_text.cache_info().hits == 4


@pytest.mark.parametrize("count", [1, 2, 7, 40_000, 262_144])
def test_the_seen_range_is_numpys_percentiles_of_its_sample(count):
    from engine.data.units import RANGE_SAMPLE, seen_range

    rng = np.random.default_rng(count)
    values = np.stack([rng.gamma(2.0, 300.0, count), rng.normal(0.2, 0.05, count), rng.integers(0, 9, count)])
    low, high = seen_range(values)
    step = -(-count // RANGE_SAMPLE)
    reference = np.percentile(values[:, ::step], [2, 98], axis=1)
    assert low.shape == (3,) and np.allclose(low, reference[0]) and np.allclose(high, reference[1])


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "uint32"])
@pytest.mark.parametrize("count", [1, 5, 40_000])
def test_integers_counted_per_value_rank_as_numpys_percentiles(dtype, count):
    from engine.data.units import RANGE_SAMPLE, seen_range

    info = np.iinfo(dtype)
    rng = np.random.default_rng(count)
    narrow = rng.integers(max(info.min, -3000), min(info.max, 3000), (2, count), endpoint=True)  # counted
    wide = rng.integers(max(info.min, -10**9), min(info.max, 10**9), (2, count), endpoint=True)  # partitioned
    for values in (narrow.astype(dtype), wide.astype(dtype)):
        low, high = seen_range(values)
        step = -(-count // RANGE_SAMPLE)
        # in float64: numpy interpolates small integers in their own type, and int8's 100..127 wraps
        reference = np.percentile(values[:, ::step].astype(np.float64), [2, 98], axis=1)
        assert np.allclose(low, reference[0]) and np.allclose(high, reference[1])
