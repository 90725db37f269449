"""What a front end says before a run about inputs that do not fit a bundle (metadata and band counts only)."""

from __future__ import annotations

from engine.bundle.expects import aux_files_expected, input_mismatches
from engine.data.metadata import DataMetadata


def _data(**values) -> DataMetadata:
    """A bundle's data section with ``values``; the rest as any bundle has it."""
    bands = values.get("vision_bands", 4)
    return DataMetadata.from_dict({
        "vision_bands": bands, "vision_stats": {"method": "percentile", "low": [0.0] * bands, "high": [1.0] * bands},
        "aux_channels": 0, "class_names": ["background", "field"], "class_colors": ["#000000", "#ffffff"],
        "tile_size": 64, **values})


DUALSTREAM = _data(vision_bands=4, image_bands=4, bands=None, aux_channels=48, aux_files_per_scene=4,
                   aux_file_bands=[12, 12, 12, 12], aux_bands_per_file=12)
VISION_ONLY = _data(vision_bands=3, image_bands=4, bands=[3, 2, 1], aux_channels=0)


def test_inputs_that_fit_have_no_problem():
    assert input_mismatches(DUALSTREAM, 4, [12, 12, 12, 14]) == []  # the first 12 bands of each file are used
    assert input_mismatches(VISION_ONLY, 4, []) == []
    assert input_mismatches(DUALSTREAM, None, None) == []  # nothing chosen yet: nothing to say


def test_band_count_and_aux_count_mismatches_are_named():
    assert input_mismatches(DUALSTREAM, 3, None) == ["the image has 3 band(s); the model was trained on 4"]
    assert input_mismatches(DUALSTREAM, 4, [12, 12]) == [
        "2 aux layer(s) chosen; the model was trained with 4, in a fixed order"]
    assert input_mismatches(DUALSTREAM, 4, [12, 12, 12, 6]) == [
        "the aux layers give 12, 12, 12, 6 band(s); the model was trained with 12, 12, 12, 12, in this order"]
    assert input_mismatches(VISION_ONLY, 4, [5]) == ["1 aux layer(s) chosen; the model uses none (they are not read)"]
    problem = input_mismatches(VISION_ONLY, 2, [])
    assert len(problem) == 1 and "3" in problem[0], problem  # band 3 of a 2-band image


def test_aux_files_expected_from_every_layout():
    assert aux_files_expected(DUALSTREAM) == 4 and aux_files_expected(VISION_ONLY) == 0
    assert aux_files_expected(_data(aux_channels=48, aux_prefixes=["GEMS_", "AIR_"])) == 2
    assert aux_files_expected(_data(aux_channels=1, x_bands=[4])) == 0  # X bands come from the image itself


def test_more_bands_than_the_model_takes_points_at_the_bands_setting():
    """A 12-band image for a 6-band model: the bands can be chosen, and the problem says where (issue 53 item 17);
    fewer bands cannot be mended by choosing, so that problem names no setting."""
    from engine.errors import render

    six = _data(vision_bands=6, image_bands=6, bands=None, band_names=["blue", "green", "red", "nir", "swir16",
                                                                       "swir22"])
    problem = input_mismatches(six, 12, None)
    assert len(problem) == 1
    assert render(problem[0]) == ("the image has 12 band(s); the model was trained on 6: choose 6 of them, in the "
                                  "model's order (blue, green, red, nir, swir16, swir22), in bands (numbers or names)")
    assert render(problem[0], lambda key: f"<{key}>").endswith("in <segment.bands> (numbers or names)")
    assert "bands" not in render(input_mismatches(six, 3, None)[0]).split(";")[1]
