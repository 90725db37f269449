"""Which bands the training preview shows as red, green and blue (issue 33, item 7)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.band_names import pick_rgb
from engine.training.report import quicklook

S2_L2A = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]


@pytest.mark.parametrize("names, interps, positions, words", [
    (S2_L2A, None, (3, 2, 1), "Sentinel-2"),
    ([n.replace("B0", "B") for n in S2_L2A], None, (3, 2, 1), "Sentinel-2"),
    (["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7"], None, (3, 2, 1), "Landsat 8/9"),
    (["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7"], None, (2, 1, 0), "Landsat 4-7"),
    (["NIR", "Red edge", "Red", "Green", "Blue"], None, (2, 3, 4), "band description"),
    (["B", "G", "R"], None, (2, 1, 0), "band letters"),  # issue 40, item 14: was read as red, green, blue
    (["b", "g", "r", "n"], ["red", "green", "blue", "undefined"], (2, 1, 0), "band letters"),
    ([None] * 4, ["blue", "green", "red", "undefined"], (2, 1, 0), "colour interpretation"),
    ([None] * 4, None, (0, 1, 2), "the first three"),
    (["a", "b", "c"], ["gray", "undefined", "undefined"], (0, 1, 2), "the first three"),
])
def test_rgb_picked_by_names_then_colours_then_first_three(names, interps, positions, words):
    choice = pick_rgb(names, interps)
    assert choice.positions == positions and words in choice.how


def test_quicklook_shows_the_chosen_bands():
    ramp = np.arange(16, dtype=np.float32).reshape(4, 4)
    image = np.stack([ramp, ramp[::-1, ::-1], ramp, ramp])  # only band 2 (B04) is brightest at the top left
    shown = quicklook(image, pick_rgb(["B08", "B04", "B03", "B02"]))
    assert shown[0, 0, 0] == 1.0 and shown[0, 0, 1] == 0.0 and shown[0, 0, 2] == 0.0
    first_three = quicklook(image)  # no names: bands 1, 2, 3, so red is band 1, dark at the top left
    assert first_three[0, 0, 0] == 0.0 and first_three[0, 0, 1] == 1.0
