"""The runs that apply a model and score its result: ``segment``, ``segment_many``, ``evaluate``; ``polygons``;
change between dates: ``compare`` and ``change_table``; a class raster's area per class: ``class_areas``. A change
model itself runs through ``segment`` with the later date (``SegmentConfig.after``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..config import BulkConfig, EvaluateConfig, SegmentConfig
from ..evaluate import PER_CLASS, class_rows
from ..evaluate import evaluate as run_evaluate
from ..io.safety import check_outputs, metrics_files
from ..segment import segment as run_segment
from ..segment.bulk.runner import segment_bulk
from ..segment.change_table import area_table, change_table, class_areas
from ..segment.compare import compare
from ..segment.scene_outputs import segment_files
from ..segment.vectorize import polygonize_raster as polygons
from .protocol import Callback

__all__ = ["PER_CLASS", "EvaluateResult", "change_table", "class_areas", "compare", "evaluate", "polygons", "segment",
           "segment_many"]


def segment(cfg: SegmentConfig, callback: Callback | None = None,
            other_inputs: Mapping[str, str | None] | None = None) -> Any:
    """Segment one scene with a bundle or a weighted ensemble (``engine.segment.SegmentResult``). A web service's
    GDAL description is read over the extent at the pixel size (the image door, :mod:`engine.imagery`)."""
    if other_inputs and any(other_inputs.values()):  # files the run never sees (a config file): not overwritten
        check_outputs(dict(other_inputs), dict(segment_files(cfg)[1]))
    result = run_segment(cfg, callback)
    if cfg.after or cfg.change_table:  # a change model's change: hectares per kind of change (else per class)
        change, rows = area_table(result.output, cfg.change_table, result.class_pixels, cfg.ground_pixel_size)
        setattr(result, "change" if change else "areas", [row.to_dict() for row in rows])
        result.change_table = cfg.change_table
    return result


def segment_many(bulk: BulkConfig, template: SegmentConfig, callback: Callback | None = None) -> Any:
    """Segment many scenes, resumable, with a summary; returns ``engine.segment.bulk.runner.BulkResult``."""
    return segment_bulk(bulk, template, callback)


@dataclass
class EvaluateResult:
    """What an evaluation measured: the metrics (as written to ``cfg.output`` when given), one row per class, and
    the metrics files written (none without ``cfg.output``)."""

    metrics: dict[str, Any]
    rows: list[dict[str, Any]]
    written: list[str]
    per_class: ClassVar[tuple[str, ...]] = PER_CLASS  # the per-class figures each row holds, in order


def evaluate(cfg: EvaluateConfig, callback: Callback | None = None) -> EvaluateResult:
    """Compare class rasters with label rasters or polygons; returns the metrics, written to files where
    ``cfg.output`` asks."""
    metrics = run_evaluate(cfg, callback)
    return EvaluateResult(metrics, class_rows(metrics), metrics_files(cfg.output))
