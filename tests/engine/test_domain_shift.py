"""The image-domain warning fires on a real shift only (issue 53, item 11): other units (DN given to a reflectance
model, 0-1 given to a 0-255 model, an 8-bit export) or another sensor, never on a darker, brighter or narrower
scene of the same product. Synthetic ranges here; the same rule on real scenes in tests/realdata/test_domain_shift.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from engine.callbacks import Callback
from engine.data.checks import check_image_domain
from engine.data.domain_shift import domain_shift
from engine.data.normalize import BandStatistics

# an 8-bit RGB product's training range (2-98 %) per band, and a Sentinel-2 L2A one in digital numbers
RGB_LOW, RGB_HIGH = [20.0, 30.0, 18.0], [129.0, 140.0, 110.0]
S2_LOW, S2_HIGH = [140.0, 158.0, 14.0, 40.0], [2962.0, 2692.0, 2244.0, 4717.0]


def shift(seen_low, seen_high, low, high, eight_bit=False):
    return domain_shift(np.array(seen_low, float), np.array(seen_high, float), np.array(low, float),
                        np.array(high, float), eight_bit)


@pytest.mark.parametrize("seen_low, seen_high, low, high, eight_bit", [
    # issue 53: "band 1: 19..26 here, 20..129 in training" on a dark scene predicted 97.4 % right
    ([19, 35, 20], [26, 120, 100], RGB_LOW, RGB_HIGH, True),
    ([19, 25, 15], [26, 40, 30], RGB_LOW, RGB_HIGH, True),  # every band dark
    ([26, 1, 105, 721], [407, 622, 1032, 4444], S2_LOW, S2_HIGH, False),  # the darkest real S2 tile's values
    ([2395, 1772, 1418, 1690], [8723, 9328, 8624, 9564], S2_LOW, S2_HIGH, False),  # snow: 2-3 x brighter
    ([60, 70, 50], [69, 79, 57], RGB_LOW, RGB_HIGH, True),  # a narrow slice inside (one land cover)
    ([0.01, 0.02], [0.03, 0.05], [0.02, 0.03], [0.3, 0.45], False),  # a lake in reflectance
])
def test_scenes_of_the_same_product_are_not_a_shift(seen_low, seen_high, low, high, eight_bit):
    assert shift(seen_low, seen_high, low, high, eight_bit).far == []


def test_digital_numbers_given_to_a_reflectance_model_and_back():
    to_reflectance = shift([140, 158, 14, 40], [2962, 2692, 2244, 4717], [0.014, 0.016, 0.0014, 0.004],
                           [0.296, 0.269, 0.224, 0.47])
    assert to_reflectance.far == [0, 1, 2, 3] and to_reflectance.factor == pytest.approx(10000, rel=0.01)
    to_numbers = shift([0.014, 0.016, 0.0014, 0.004], [0.296, 0.269, 0.224, 0.47], S2_LOW, S2_HIGH)
    assert to_numbers.far == [0, 1, 2, 3] and to_numbers.factor == pytest.approx(1e-4, rel=0.01)


def test_zero_to_one_given_to_a_0_255_model():
    found = shift([0.06, 0.12, 0.07], [0.62, 0.69, 0.51], [2.0, 3.0, 2.0], [250.0, 248.0, 240.0])
    assert found.far == [0, 1, 2] and found.factor < 0.01


def test_one_band_in_other_units_is_named_alone():
    assert shift([100, 0.02], [200, 0.98], [100, 100], [200, 200]).far == [1]


def test_8bit_exports_and_numbers_beyond_8_bits():
    export = shift([4, 2, 4, 2], [63, 80, 94, 107], S2_LOW, S2_HIGH, eight_bit=True)
    assert export.far == [0, 1, 2, 3] and export.eight_bit == "export"
    # a dark Sentinel-2 scene in digital numbers given to an 8-bit aerial model: the typical band only 5 x brighter
    beyond = shift([135, 105, 1], [1475, 1043, 622], RGB_LOW, RGB_HIGH)
    assert beyond.far == [0, 1, 2] and beyond.eight_bit == "beyond" and beyond.factor < 10


def test_another_product_whose_values_lie_apart():
    landsat_l1 = [6988, 7883, 8867, 9875], [39270, 37790, 37920, 42610]
    assert shift(*landsat_l1, S2_LOW, S2_HIGH).far == [0, 1, 2, 3]  # L1 numbers given to an L2A model
    l2a_to_l1 = shift([108, 143, 91, 300], [4044, 3672, 3132, 5100], *landsat_l1)
    assert l2a_to_l1.far == [0, 1, 2, 3] and 0.1 < l2a_to_l1.factor < 0.2  # apart, though only 1/8


def _write(path, values: np.ndarray, dtype: str) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1],
                       count=values.shape[0], dtype=dtype) as out:
        out.write(values.astype(dtype))
    return str(path)


def test_the_warning_stays_silent_on_a_dark_scene_and_names_a_real_shift(tmp_path):
    stats = BandStatistics("percentile", RGB_LOW, RGB_HIGH)
    rng = np.random.default_rng(2)
    dark = np.stack([rng.integers(19, 27, (64, 64)), rng.integers(25, 41, (64, 64)), rng.integers(15, 31, (64, 64))])
    said: list[str] = []
    with rasterio.open(_write(tmp_path / "dark.tif", dark, "uint8")) as dataset:
        check_image_domain(dataset, "dark.tif", [1, 2, 3], stats, "m", Callback(), said)
    assert said == []
    with rasterio.open(_write(tmp_path / "unit.tif", dark / 255, "float32")) as dataset:
        check_image_domain(dataset, "unit.tif", [1, 2, 3], stats, "m", Callback(), said)
    assert len(said) == 1 and "3 of its 3 band(s)" in said[0]
    assert "scaled to 0-1 where the training data was 0-255" in said[0]
