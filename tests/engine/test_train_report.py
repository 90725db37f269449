"""The training report's HTML says what each setting was, in words a reader can take at face value."""

from __future__ import annotations

import re

from engine.bundle.schema import BundleMetadata
from engine.training.report import render_html


def _settings_row(page: str, name: str) -> str:
    found = re.search(rf"<tr><th>{name}</th><td>([^<]*)</td></tr>", page) or \
        re.search(rf"<tr><td>{name}</td><td>([^<]*)</td></tr>", page)
    assert found, page
    return found.group(1)


def _meta(train: dict) -> BundleMetadata:
    data = {"vision_bands": 3, "vision_stats": {"method": "percentile", "low": [0.0] * 3, "high": [1.0] * 3},
            "aux_channels": 0, "class_names": ["background", "field"], "class_colors": ["#000000", "#ffffff"],
            "tile_size": 64}
    return BundleMetadata.from_dict({"model": {"name": "unet", "preset": "light", "vision_channels": 3,
                                               "aux_channels": 0}, "data": data, "train": train}, written=False)


def test_the_time_budget_is_given_in_minutes_or_as_none():
    budget = render_html("r", _meta({"epochs": 100, "time_budget": 5.0}), [], {})
    assert _settings_row(budget, "time_budget") == "5 min"
    none = render_html("r", _meta({"epochs": 4, "time_budget": None}), [], {})
    assert _settings_row(none, "time_budget") == "none"
