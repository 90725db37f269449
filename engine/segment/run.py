"""One scene end to end: plan -> predictor -> tile pipeline -> outputs (or the resample mode's sink)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import Callback
from ..config import SegmentConfig
from ..locks import output_locks
from .outputs import SceneWriter, discard_partial_outputs, finish_outputs
from .pipeline import run_tiles, streaming_gdal_cache, tile_options
from .plan import SegmentPlan, plan_segmentation
from .predictor import Predictor, make_predictor


@dataclass
class SegmentResult:
    """What :func:`segment` produced."""

    output: str
    qml: str
    probabilities: str | None
    polygons: str | None
    class_names: list[str]
    class_colors: list[str]
    pixels: int
    seconds: float
    tiles: int = 0
    skipped_tiles: int = 0
    device: str = "cpu"
    width: int = 0
    height: int = 0
    warnings: list[str] = field(default_factory=list)
    working_gsd: list[float] | None = None  # pixel size the model saw (the training one when resampled)
    # where the time went: model (predictor calls), input_wait (model idle, waiting for the reader thread),
    # output_wait (waiting for the writer thread), read/write (busy time of those background threads)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pixels_per_second(self) -> float:
        return self.pixels / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def segment(cfg: SegmentConfig, callback: Callback | None = None, predictor: Predictor | None = None) -> SegmentResult:
    """Segment a scene with one bundle or a weighted ensemble; write the styled outputs atomically.

    Args:
        cfg: the scene and settings.
        callback: progress, messages and cancellation.
        predictor: an already loaded predictor for ``cfg.models`` (bulk runs load the bundles once); by default
            the bundles are loaded onto ``cfg.device``.

    Returns:
        A :class:`SegmentResult` with the output paths, class names/colours, pixel count and run time.

    Raises:
        ConfigError, DataError, AlignmentError, BundleError: bad inputs, before any heavy work.
        CanceledError: the callback asked to stop; nothing was written at the destinations.
    """
    from .resample import resample_target, segment_resampled

    callback = callback or Callback()
    start = time.perf_counter()
    plan = plan_segmentation(cfg, callback)
    outputs = {"class raster (--out)": cfg.output, "probability raster (--probabilities)": cfg.probabilities,
               "polygons (--polygons)": cfg.polygons}
    try:
        with output_locks(outputs):  # one writer per output: a second run onto the same files refuses at once
            target = resample_target(plan, callback) if cfg.resample_to_training_gsd else None
            if predictor is None:
                predictor = make_predictor(plan.members, cfg)
            callback.check_canceled()
            with streaming_gdal_cache():
                if target is not None:
                    return segment_resampled(plan, target, predictor, callback, start)
                return _segment_plan(plan, predictor, callback, start)
    finally:
        plan.reader.close()


def _segment_plan(plan: SegmentPlan, predictor: Predictor, callback: Callback, start: float) -> SegmentResult:
    """The plan's region through the tile pipeline into the scene's outputs."""
    cfg = plan.cfg
    device = str(predictor.device)
    writer = None
    extra_tmp: list[Path] = []
    try:
        callback.info(f"Segmenting '{cfg.image}' region {plan.region} ({plan.width}x{plan.height} px) with "
                      f"{len(plan.members)} model(s) on {device}: {len(plan.grid)} tiles of {plan.tile} px, "
                      f"overlap {plan.overlap} px, TTA {cfg.tta}.")
        writer = SceneWriter(plan, cfg.threshold)
        stats = run_tiles(plan, predictor, writer, callback, **tile_options(cfg, predictor.device))
        if stats.tiles and stats.skipped_tiles == stats.tiles:
            message = (f"Every pixel of '{cfg.image}' in the region is nodata, so the class raster is all nodata; "
                       f"check the image's nodata value (and the extent/AOI).")
            plan.warnings.append(message)
            callback.warning(message)
        qml = finish_outputs(plan, writer, callback, extra_tmp)
    except BaseException:
        discard_partial_outputs([writer], extra_tmp)
        raise
    seconds = time.perf_counter() - start
    timings = {"model": stats.model_seconds, "input_wait": stats.input_wait, "output_wait": writer.wait_seconds,
               "read": stats.read_seconds, "write": writer.write_seconds}
    callback.info(f"Wrote '{cfg.output}' ({plan.width * plan.height / max(seconds, 1e-9):,.0f} px/s; model "
                  f"{stats.model_seconds:.1f} s of {seconds:.1f} s, waiting on input {stats.input_wait:.1f} s "
                  f"and on output {writer.wait_seconds:.1f} s; reading {stats.read_seconds:.1f} s and "
                  f"writing {writer.write_seconds:.1f} s beside the model).")
    return SegmentResult(output=str(cfg.output), qml=str(qml), probabilities=cfg.probabilities,
                         polygons=cfg.polygons, class_names=plan.class_names, class_colors=plan.class_colors,
                         pixels=plan.width * plan.height, seconds=seconds, tiles=stats.tiles,
                         skipped_tiles=stats.skipped_tiles, device=device, width=plan.width, height=plan.height,
                         warnings=plan.warnings, working_gsd=[float(v) for v in plan.reader.gsd], timings=timings)
