"""Time as an axis: the one place that knows how a scene's dates lie in an array (torch-free; numpy arrays and
torch tensors alike).

A scene holds T >= 1 dates of one place, in time order, earliest first, each with the same C bands. A season's
tile is (T, C, h, w); the change family and its ONNX graphs take the dates stacked on the channels, (T*C, h, w),
date after date, and a Siamese encoder reads them as a batch of single dates, (B*T, C, h, w), a sample's dates
next to each other. Every reader, model, runner and statistic that splits or joins dates calls these, so the layout
is said once. Each date also carries its day of year and month (the models' date encodings) and a validity mask.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np


def to_dates(x: Any, dates: int) -> Any:
    """(..., T*C, h, w) -> (..., T, C, h, w): the dates stacked on the channels as an axis of their own (a view)."""
    *lead, channels, height, width = x.shape
    return x.reshape(*lead, dates, channels // dates, height, width)


def to_channels(x: Any) -> Any:
    """(..., T, C, h, w) -> (..., T*C, h, w): the inverse of :func:`to_dates`."""
    *lead, dates, channels, height, width = x.shape
    return x.reshape(*lead, dates * channels, height, width)


def into_batch(x: Any, dates: int) -> Any:
    """(B, T*C, h, w) -> (B*T, C, h, w): each date an image of its own, a sample's dates next to each other."""
    return x.reshape(x.shape[0] * dates, x.shape[1] // dates, *x.shape[2:])


def out_of_batch(x: Any, dates: int) -> Any:
    """(B*T, C, h, w) -> (B, T*C, h, w): the inverse of :func:`into_batch`."""
    return x.reshape(x.shape[0] // dates, dates * x.shape[1], *x.shape[2:])


def date_channels(bands: int, index: int) -> slice:
    """The channels of the ``index``-th date (0 = first) in a stack of dates of ``bands`` bands each."""
    return slice(index * bands, (index + 1) * bands)


def per_date(x: Any, dates: int, axis: int = 1) -> list[Any]:
    """The ``dates`` dates of an array whose ``axis`` holds them stacked, each a view of its C channels."""
    axis = axis % len(x.shape)
    bands = x.shape[axis] // dates
    lead = (slice(None),) * axis
    return [x[(*lead, date_channels(bands, index))] for index in range(dates)]


def date_rows(x: Any, dates: int, start: int = 0) -> list[Any]:
    """Rows ``start:`` of a batch laid out date by date (the B rows of one date, then the next date's) -> the
    ``dates`` dates' (B, ...) views: where a model or runner encodes the later dates of a batch in one call."""
    batch = (x.shape[0] - start) // dates
    return [x[start + index * batch:start + (index + 1) * batch] for index in range(dates)]


def join_dates(parts: Sequence[Any], axis: int = 1) -> Any:
    """The dates (each C channels on ``axis``) stacked on that axis in the order given: the inverse of
    :func:`per_date`, for numpy arrays or torch tensors."""
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=axis)
    import torch  # a tensor was given: torch is loaded already

    return torch.cat(list(parts), dim=axis)


def valid_on_all(valid: np.ndarray) -> np.ndarray:
    """(T, h, w) validity of each date -> (h, w): where every date holds data (what a change between them needs)."""
    return valid.all(axis=0)


def day_of_year(dates: Sequence[dt.date | None]) -> np.ndarray:
    """int64 (T,): each date's day of the year, 1..366 (0 for a date not known, or padding)."""
    return np.array([0 if d is None else d.timetuple().tm_yday for d in dates], np.int64)


def month(dates: Sequence[dt.date | None]) -> np.ndarray:
    """int64 (T,): each date's month, 1..12 (0 for a date not known, or padding)."""
    return np.array([0 if d is None else d.month for d in dates], np.int64)


def months_said(months: Sequence[int]) -> str:
    """Calendar months (1-12) in words, runs of three or more as a span: [1, 2, ..., 12] -> "Jan-Dec", [3, 5, 7, 8]
    -> "Mar, May, Jul, Aug"."""
    names = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    runs: list[list[int]] = []
    for m in sorted(set(int(m) for m in months if 1 <= int(m) <= 12)):
        if runs and m == runs[-1][-1] + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    return ", ".join(f"{names[r[0] - 1]}-{names[r[-1] - 1]}" if len(r) > 2 else ", ".join(names[m - 1] for m in r)
                     for r in runs)


def days_since(dates: Sequence[dt.date | None]) -> np.ndarray:
    """int64 (T,): days since 1 January of the first known date's year (0 for a date not known, or padding): one
    scale across New Year, where a winter season's day of year would run backwards."""
    known = [d for d in dates if d is not None]
    if not known:
        return np.zeros(len(dates), np.int64)
    start = dt.date(known[0].year, 1, 1)
    return np.array([0 if d is None else (d - start).days for d in dates], np.int64)


def years_and_day(days: Any) -> tuple[Any, Any]:
    """A torch tensor of days since 1 January of the first date's year -> (whole years since then, the 0-based day
    of that year), in years of 365.25 days (a leap year's day off by one at most): the one calendar the models
    compute in their graphs from the ``days`` they are given."""
    years = (days / 365.25).floor()
    return years, days - (years * 365.25).floor()


def calendar_months(days: Any, first_year: Any) -> Any:
    """Torch tensors of days since 1 January of ``first_year`` (B, T) and that year (B,) -> (B, T) months 0..11
    (January = 0) of the Gregorian calendar, exact in leap years and at a month's edge: the true month a season's
    dates carry (:func:`month`), computed in a graph from ``days`` (whole numbers in float64 and floor divisions,
    which an ONNX export keeps). The count runs from 1 March of year 0, so a leap day ends its year."""
    import torch  # tensors were given: torch is loaded already

    def whole(a: Any, b: float) -> Any:
        return torch.floor(a / b)

    year = first_year.double()[:, None] - 1  # 1 January lies in the count's year before (it starts in March)
    era = whole(year, 400)
    of_era = year - era * 400
    new_year = era * 146097 + of_era * 365 + whole(of_era, 4) - whole(of_era, 100) + 306
    day = new_year + days.double()
    era = whole(day, 146097)
    of_era = day - era * 146097
    year_of_era = whole(of_era - whole(of_era, 1460) + whole(of_era, 36524) - whole(of_era, 146096), 365)
    day_of_year = of_era - (365 * year_of_era + whole(year_of_era, 4) - whole(year_of_era, 100))
    from_march = whole(5 * day_of_year + 2, 153)  # 0 = March ... 11 = February
    return torch.where(from_march >= 10, from_march - 10, from_march + 2).long()
