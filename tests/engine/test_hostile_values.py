"""Hostile option values (empty entries, digits that are not 0-9, numbers out of range) get a clear error that
names the setting, never a traceback and never a silent default."""

from __future__ import annotations

import pytest

from engine.config import SegmentConfig
from engine.config.bands import parse_band_list
from engine.config.polygons import class_index
from engine.errors import ConfigError, render


@pytest.mark.parametrize("text, said", [(",,,", "has an empty entry"), ("1,,3", "has an empty entry"),
                                        ("²,1,3", "'²', which is no digit 0-9"),
                                        ("\u0663,1,2", "which is no digit 0-9")])
def test_band_lists_with_empty_entries_or_odd_digits_are_refused(text, said):
    with pytest.raises(ConfigError, match=said):
        parse_band_list(text)
    with pytest.raises(ConfigError, match=said):
        SegmentConfig(image="i.tif", models=["m"], output="o.tif", bands=text)
    assert parse_band_list(" 3, 2 ,1") == ["3", "2", "1"] and parse_band_list("  ") is None
    with pytest.raises(ConfigError) as error:
        parse_band_list(text, "data.bands")
    assert render(str(error.value.raw)).startswith("bands")  # named as the setting that was given


def test_a_class_named_by_an_odd_digit_is_no_class():
    with pytest.raises(ConfigError, match="there is no class '²'; the classes are 0 background, 1 roof"):
        class_index("²", ["background", "roof"], "polygons.polygon_treatment")
