"""segment run for another command (suggest, propose): its messages in that command's words.

Run by suggest, segment's messages would advise options suggest has not and name the temporary rasters it reads
back. One rule renames them for every command: a setting the command declares under the same name
(engine/config/reading.py) is named as the command's, one it takes otherwise as its config's ``SEGMENT_NAMES``
say; ``command('segment')`` becomes the command; a temporary output is named as the prediction of its image.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from ..bundle.model_files import read_model_metadata
from ..callbacks import Callback, RenamedCallback
from ..config import SETTINGS_SECTIONS, SegmentConfig
from ..data.raster import grid_of
from ..errors import ConfigError, DualStreamError, command, mention, render, reworded
from ..models.configuration_utils import takes_a_season


def renamer(cfg: Any, seg: SegmentConfig | None = None) -> Callable[[str], str]:
    """A message of segment as the command whose settings ``cfg`` holds says it (``seg``: the inner run, whose
    outputs are temporary files of that command)."""
    section = next(name for name, cls in SETTINGS_SECTIONS.items() if cls is type(cfg))
    own = {f.name for f in dataclasses.fields(cfg)}
    instead: dict[str, str] = getattr(type(cfg), "SEGMENT_NAMES", {})
    outputs = [] if seg is None else [p for p in (seg.output, seg.probabilities, seg.confidence) if p]

    def name(key: str) -> str:
        base, _, part = key.partition("#")
        where, _, field = base.rpartition(".")
        if not where and field == "segment":
            return command(section)
        if where != "segment":
            return mention(key)
        if field in instead:
            return instead[field]
        return mention(f"{section}.{field}" + (f"#{part}" if part else "")) if field in own else mention(key)

    def rename(text: str) -> str:
        text = render(text, name)
        for path in outputs:
            text = text.replace(f"'{path}'", f"the prediction of '{seg.image}'")
        return text

    return rename


def refuse_dated_models(cfg: Any, models: list[str]) -> None:
    """A model of several dates (change, season) refused by the command whose settings ``cfg`` holds, before
    anything is read: its windows are of one image, ranked or proposed from a model of one date (an unreadable
    bundle is left to segment, which says what is wrong with it)."""
    section = next(name for name, cls in SETTINGS_SECTIONS.items() if cls is type(cfg))
    for model in models:
        try:
            meta = read_model_metadata(model)
        except DualStreamError:
            continue
        dates, season = meta.data.dates, takes_a_season(meta.model.name)
        if dates <= 1 and not season:
            continue
        what = (f"a season model ({dates} date(s) of one place)" if season else
                f"a change model of {dates} dates (before, after)")
        instead = (f"segment the season with {command('segment')} and {mention('segment.dates')}" if season else
                   f"find where change lies with {command('segment')} of the pair and its change table")
        raise ConfigError(f"The model '{model}' is {what}, but {command(section)} works on one image with a model "
                          f"of one date for now: give a segmentation model ({mention(f'{section}.models')}), or "
                          f"{instead}.")


def segment_for(cfg: Any, callback: Callback, **settings: Any) -> Any:
    """``segment(SegmentConfig(**settings))`` for the command whose settings ``cfg`` holds (also its image reading
    and value units, given here), its messages and errors in that command's words (see the module doc)."""
    from . import segment

    rename = renamer(cfg)
    try:
        seg = SegmentConfig(**{**cfg.reading(), **settings})
        rename = renamer(cfg, seg)
        return segment(seg, RenamedCallback(callback, rename))
    except DualStreamError as exc:
        reworded(exc, rename)
        raise


def read_probabilities(path: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """segment's probability raster read back: (C, H, W) float32, 0 at nodata; the pixels valid in every band; grid."""
    import rasterio

    with rasterio.open(path) as ds:
        data, grid = ds.read(masked=True), grid_of(ds)
    p = np.ma.filled(data, 0.0).astype(np.float32)
    if p.shape[0] == 1:  # a binary model writes the foreground's probability only
        p = np.concatenate([1.0 - p, p])
    return p, ~np.ma.getmaskarray(data).any(axis=0), grid
