"""A season's tiles and batches as the season models take them (the contract: /docs of ``engine.time_axis``).

One tile: ``vision`` float32 (T, C, h, w), ``valid`` bool (T, h, w) (a date holds a usable pixel there: inside
the raster, not nodata, not cloud), ``doy`` / ``month`` / ``days`` int64 (T,) (day of year 1..366, month 1..12,
days since 1 January of the first date's year), ``present`` bool (T,) (a real date, not padding), ``labels`` int64
(h, w) where given. A batch pads places with fewer dates to the batch's most, after their real dates: zeros,
``valid`` and ``present`` False, ``doy`` / ``month`` / ``days`` 0 (:func:`season_collate`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..time_axis import to_dates

#: The keys that carry a date axis (padded by the collate), with the value padding takes.
DATED = {"vision": 0.0, "valid": False, "doy": 0, "month": 0, "days": 0, "present": False}


def season_tile(vision: np.ndarray, date_valid: np.ndarray, encodings: dict[str, np.ndarray],
                label: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One tile of a season reader (``SceneReader(..., each_date=True)``: ``vision`` (T*C, h, w), ``date_valid``
    (T, h, w)) and its season's date ``encodings`` (``Season.encodings()``) as the arrays of the module doc."""
    dates = date_valid.shape[0]
    if vision.shape[0] % dates:
        raise ValueError(f"{vision.shape[0]} channels do not split into {dates} dates")
    tile = {"vision": np.ascontiguousarray(to_dates(vision, dates), np.float32),
            "valid": date_valid.astype(bool, copy=False), "present": np.ones(dates, bool),
            **{key: np.asarray(encodings[key], np.int64) for key in ("doy", "month", "days")}}
    if label is not None:
        tile["labels"] = label.astype(np.int64, copy=False)
    return tile


def season_collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """DataLoader ``collate_fn`` for season tiles (numpy arrays or torch tensors): the dated keys padded to the
    batch's most dates, then stacked; every other key stacked as it is. Returns torch tensors."""
    import torch

    most = max(int(np.shape(s["present"])[0]) for s in samples)
    batch: dict[str, Any] = {}
    for key in samples[0]:
        parts = [torch.as_tensor(np.asarray(s[key]) if not torch.is_tensor(s[key]) else s[key]) for s in samples]
        if key in DATED:
            parts = [_padded(p, most, DATED[key]) for p in parts]
        batch[key] = torch.stack(parts)
    return batch


def _padded(x: Any, dates: int, fill: Any) -> Any:
    """``x`` (T, ...) with ``dates - T`` entries of ``fill`` after its dates."""
    import torch

    missing = dates - int(x.shape[0])
    if missing <= 0:
        return x
    return torch.cat([x, torch.full((missing, *x.shape[1:]), fill, dtype=x.dtype)])
