"""The time axis: how a scene's dates lie in an array, said once (engine/time_axis.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from engine import time_axis as ta


@pytest.mark.parametrize("make", [np.arange, torch.arange], ids=["numpy", "torch"])
def test_dates_on_channels_and_as_an_axis_round_trip(make):
    x = make(2 * 3 * 4 * 5 * 5).reshape(2, 3 * 4, 5, 5)  # B=2, T=3 dates of C=4 bands
    per = ta.to_dates(x, 3)
    assert tuple(per.shape) == (2, 3, 4, 5, 5)
    assert (per[:, 1] == x[:, 4:8]).all()  # the second date is channels 4..7
    assert (ta.to_channels(per) == x).all()
    batch = ta.into_batch(x, 3)
    assert tuple(batch.shape) == (6, 4, 5, 5)
    assert (batch[1] == x[0, 4:8]).all() and (batch[3] == x[1, 0:4]).all()  # a sample's dates side by side
    assert (ta.out_of_batch(batch, 3) == x).all()
    parts = ta.per_date(x, 3)
    assert [tuple(p.shape) for p in parts] == [(2, 4, 5, 5)] * 3 and (parts[2] == x[:, 8:]).all()
    assert (ta.join_dates(parts) == x).all()
    assert (ta.join_dates(ta.per_date(x[0], 3, axis=0), axis=0) == x[0]).all()


def test_date_channels_and_rows_pick_one_date():
    assert ta.date_channels(4, 0) == slice(0, 4) and ta.date_channels(4, 2) == slice(8, 12)
    stats = list(range(12))
    assert stats[ta.date_channels(4, 1)] == [4, 5, 6, 7]
    rows = np.arange(7)[:, None]  # one first date's row, then two later dates of a batch of 3, date by date
    later = ta.date_rows(rows, 2, start=1)
    assert [r[:, 0].tolist() for r in later] == [[1, 2, 3], [4, 5, 6]]


def test_day_of_year_month_and_validity():
    dates = [dt.date(2024, 1, 1), dt.date(2024, 12, 31), None]
    assert ta.day_of_year(dates).tolist() == [1, 366, 0] and ta.day_of_year(dates).dtype == np.int64
    assert ta.month(dates).tolist() == [1, 12, 0]
    valid = np.array([[[True, False]], [[True, True]]])
    assert ta.valid_on_all(valid).tolist() == [[True, False]]
