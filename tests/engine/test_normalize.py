"""Band statistics: robust percentiles / mean-std over valid pixels of any dtype, and their application."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine.callbacks import Callback
from engine.config import DataConfig
from engine.data import synthetic
from engine.data.normalize import BandStatistics, compute_statistics
from engine.data.sampling import Region
from engine.data.scene import SceneReader
from engine.data.training_stats import training_statistics
from engine.errors import DataError
from tests.helpers import cell_index_from_label


def _data(dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lows = {"uint8": (10, 200), "uint16": (500, 9000), "int16": (-3000, 3000), "float32": (-0.2, 0.8)}[dtype]
    data = rng.uniform(*lows, size=(3, 60, 60)).astype(dtype)
    valid = np.ones((60, 60), dtype=bool)
    valid[:12] = False  # nodata rows with extreme values that must not enter the statistics
    extreme = {"uint8": 255, "uint16": 65535, "int16": -32768, "float32": 1e30}[dtype]
    data[:, :12] = extreme
    if dtype == "float32":
        data[0, 30, 30] = np.nan
    return data, valid


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
def test_percentiles_over_valid_pixels(dtype):
    data, valid = _data(dtype)
    stats = compute_statistics([(data, valid)], "percentile")
    ok = valid.copy()
    ok[30, 30] = dtype != "float32"
    for b in range(3):
        expected = np.percentile(data[b][ok].astype(np.float64), [2, 98])
        np.testing.assert_allclose([stats.low[b], stats.high[b]], expected, rtol=1e-6)
    scaled = stats.apply(data, valid)
    assert scaled.dtype == np.float32
    assert np.all(scaled[:, :12] == 0)  # invalid -> 0
    assert np.isfinite(scaled).all()
    assert 0.0 <= scaled.min() and scaled.max() <= 1.0
    inner = scaled[:, 12:][:, ok[12:]]
    assert 0.4 < inner.mean() < 0.6


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32"])
def test_meanstd(dtype):
    data, valid = _data(dtype, seed=1)
    stats = compute_statistics([(data, valid)], "meanstd")
    ok = valid & np.isfinite(data.astype(np.float64)).all(axis=0)
    np.testing.assert_allclose(stats.low, data[:, ok].astype(np.float64).mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(stats.high, data[:, ok].astype(np.float64).std(axis=1), rtol=1e-5)
    scaled = stats.apply(data, valid)
    np.testing.assert_allclose(scaled[:, ok].mean(axis=1), 0, atol=1e-3)
    np.testing.assert_allclose(scaled[:, ok].std(axis=1), 1, atol=1e-3)


def test_subsampling_is_close_and_deterministic():
    rng = np.random.default_rng(5)
    arrays = [rng.normal(1000, 100, size=(2, 100, 100)) for _ in range(5)]
    full = compute_statistics(arrays, "percentile", max_pixels=10**7)
    sub = compute_statistics(arrays, "percentile", max_pixels=5000, seed=3)
    again = compute_statistics(arrays, "percentile", max_pixels=5000, seed=3)
    assert sub == again
    np.testing.assert_allclose(sub.low, full.low, rtol=0.01)
    np.testing.assert_allclose(sub.high, full.high, rtol=0.01)
    assert sub != compute_statistics(arrays, "percentile", max_pixels=5000, seed=4)


def test_round_trip_and_errors():
    stats = BandStatistics("percentile", [1, 2], [3, 2])
    assert BandStatistics.from_dict(stats.to_dict()) == stats
    out = stats.apply(np.array([[[2.0]], [[5.0]]]), None)
    assert out[0, 0, 0] == pytest.approx(0.5)
    assert out[1, 0, 0] == 1.0  # constant band (low == high) does not divide by zero
    with pytest.raises(DataError, match="band"):
        stats.apply(np.zeros((3, 4, 4)), None)
    with pytest.raises(DataError):
        BandStatistics("minmax", [0], [1])
    with pytest.raises(DataError, match="No valid pixels"):
        compute_statistics([(np.zeros((2, 5, 5)), np.zeros((5, 5), dtype=bool))])
    with pytest.raises(DataError):
        BandStatistics.from_dict({"method": "percentile"})


@pytest.mark.parametrize("method", ["percentile", "meanstd"])
def test_a_float_nodata_at_invalid_pixels_is_zero_without_a_warning(method):
    """MODIS products written by R (dtwSat's season) carry nodata -3.4e38 (there in one band of 9 pixels: valid, as
    a pixel is nodata only in every band): scaling it overflowed to -inf (then 0, rightly), and every tile printed
    numpy's RuntimeWarning into the training log."""
    stats = BandStatistics(method, [0.1, 0.2], [0.9, 0.6])
    data = np.full((2, 4, 4), 0.5, dtype=np.float32)
    data[:, 0] = np.float32(-3.4e38)
    valid = np.ones((4, 4), dtype=bool)
    valid[0] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = stats.apply(data, valid)
    assert (out[:, 0] == 0).all() and np.isfinite(out).all()
    expected = [0.5, 0.75] if method == "percentile" else [0.4 / 0.9, 0.3 / 0.6]
    np.testing.assert_allclose(out[:, 1:].reshape(2, -1).mean(axis=1), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
def test_statistics_from_scene_readers(tmp_path, dtype):
    paths = synthetic.make_scene(tmp_path, "s", size=(96, 96), seed=7, aux_channels=[3, 2], dtype=dtype)
    with SceneReader(paths["image"], paths["aux"], paths["label"], aux_ratio=8) as reader:
        tile = reader.read(0, 0, 96, 96)
        index, regions = [cell_index_from_label(tile.label)], [(0, Region(0, 0, 96, 96))]
        cfg = dict(tile_size=64, aux_ratio=8, statistics_tiles=4)
        vision, _ = training_statistics(
            DataConfig(**cfg, statistics="percentile"), [reader], index, regions, Callback()
        )
        _, aux = training_statistics(DataConfig(**cfg, statistics="meanstd"), [reader], index, regions, Callback())
    assert vision.bands == 4 and aux.bands == 5
    assert all(h > lo for lo, h in zip(vision.low, vision.high))
    scaled = aux.apply(tile.aux, tile.aux_valid)
    assert np.abs(scaled).max() < 10 and scaled.std() > 0.3  # aux values of very different units, now comparable
