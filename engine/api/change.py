"""Change between dates: ``compare`` (the post-classification comparison: two dates segmented by a model of one
date, or two class rasters, compared pixel by pixel) and ``change_table`` (the hectares of each kind of change in a
change raster). A change model itself runs through ``segment`` with the later date (``SegmentConfig.after``)."""

from __future__ import annotations

from typing import Any

from ..config import CompareConfig
from .protocol import Callback

__all__ = ["change_table", "compare"]


def compare(cfg: CompareConfig, callback: Callback | None = None) -> Any:
    """Compare two dates class by class; returns ``engine.segment.compare.CompareResult`` (the change raster and
    its style, the rows of the change table, the table and polygons written, the pixels that changed)."""
    from ..segment.compare import compare as run

    return run(cfg, callback)


def change_table(raster: str, output: str | None = None) -> list[Any]:
    """The change table of a change raster (a change model's class raster, or a comparison's): one
    ``engine.segment.change_table.ChangeRow`` per kind of change (class, from, to, pixels, hectares); written as
    CSV to ``output`` when given."""
    from ..segment.change_table import change_table as table

    return table(raster, output)
