"""The training report's HTML says what each setting was, in words a reader can take at face value."""

from __future__ import annotations

import re

from engine.training.report import render_html


def _settings_row(page: str, name: str) -> str:
    found = re.search(rf"<tr><th>{name}</th><td>([^<]*)</td></tr>", page) or \
        re.search(rf"<tr><td>{name}</td><td>([^<]*)</td></tr>", page)
    assert found, page
    return found.group(1)


def test_the_time_budget_is_given_in_minutes_or_as_none():
    meta = {"model": {"name": "unet", "preset": "light"}, "data": {}, "metrics": {}}
    budget = render_html("r", {**meta, "train": {"epochs": 100, "time_budget": 5.0}}, [], {})
    assert _settings_row(budget, "time_budget") == "5 min"
    none = render_html("r", {**meta, "train": {"epochs": 4, "time_budget": None}}, [], {})
    assert _settings_row(none, "time_budget") == "none"
