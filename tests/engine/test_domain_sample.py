"""The image-domain check judges a strided subsample of at most DOMAIN_PIXELS pixels: it still finds a band far
from training on a scene larger than that, and stays silent on one like the training data."""

from __future__ import annotations

import re

import numpy as np
import rasterio

from engine.callbacks import Callback
from engine.data.checks import DOMAIN_PIXELS, check_image_domain
from engine.data.normalize import BandStatistics

SIDE = 600  # 360,000 pixels: read whole, then strided down to DOMAIN_PIXELS


def _check(folder, values: np.ndarray) -> list[str]:
    stats = BandStatistics("percentile", [100.0, 100.0], [200.0, 200.0])
    warnings: list[str] = []
    path = folder / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=SIDE, height=SIDE, count=2, dtype="float32") as out:
        out.write(values.astype(np.float32))
    with rasterio.open(path) as dataset:
        check_image_domain(dataset, str(path), [1, 2], stats, "m.dsmodel", Callback(), warnings)
    return warnings


def test_the_scene_is_larger_than_the_subsample():
    assert SIDE * SIDE > 4 * DOMAIN_PIXELS


def test_a_band_far_from_training_is_found_in_the_subsample(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.uniform(100, 200, (2, SIDE, SIDE))
    values[1] = rng.uniform(0.0, 1.0, (SIDE, SIDE))  # band 2 scaled to 0-1
    warnings = _check(tmp_path, values)
    assert len(warnings) == 1
    assert "1 of its 2 band(s)" in warnings[0]
    low, high = (float(v) for v in re.search(r"band 2: ([0-9.]+)\.\.([0-9.]+) here", warnings[0]).groups())
    whole_low, whole_high = np.percentile(values[1], [2, 98])  # 0.01998, 0.98
    assert abs(low - whole_low) < 0.002 and abs(high - whole_high) < 0.002  # 0.2 % of the band's range
    assert "sampled pixels" in warnings[0]


def test_a_scene_like_the_training_data_says_nothing(tmp_path):
    values = np.random.default_rng(1).uniform(100, 200, (2, SIDE, SIDE))
    assert _check(tmp_path, values) == []


def test_integer_values_are_ranked_in_their_own_type_with_the_same_range():
    """The door keeps an integer image's sampled values as integers (ranked faster): the 2-98 % range it judges is
    numpy's percentile of the same values, as with floats, for 8, 16 and 32-bit types and a sample of any length."""
    from engine.data.units import seen_range
    from engine.imagery.resolve import _valid

    rng = np.random.default_rng(5)
    for dtype, top in ((np.uint8, 255), (np.uint16, 10000), (np.int32, 70000)):
        for pixels in (40, 5000, 300_000):
            values = rng.integers(0, top, (3, pixels)).astype(dtype)
            valid = rng.random(pixels) > 0.2
            kept = _valid(values, valid)
            assert kept.dtype == dtype
            as_float = kept.astype(np.float64)
            np.testing.assert_allclose(np.stack(seen_range(kept)), np.stack(seen_range(as_float)))
            if as_float.shape[1] <= 1 << 15:  # ranked whole: numpy's own percentiles
                np.testing.assert_allclose(np.stack(seen_range(kept)), np.percentile(as_float, [2, 98], axis=1))
