"""One scene end to end: plan -> predictor -> tile pipeline -> outputs (or the resample mode's sink).

:func:`segment` does the steps in a row; :class:`SceneRun` holds them apart (open, read ahead, tiles, finish) so
that a bulk run overlaps them with its neighbours': the next scene is planned and read while the model finishes
this one, whose outputs are published while the model runs the next (on a GPU the model otherwise idles between
scenes for a good share of a scene's model time; docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from ..callbacks import Callback, warn
from ..config import SegmentConfig
from ..io.atomic import output_locks
from ..io.safety import make_folders, remove_empty_folders
from .backend import make_predictor
from .members import Member
from .pipeline import PipelineStats, run_tiles, start_reader, streaming_gdal_cache, tile_options
from .plan import plan_segmentation
from .predictor import Predictor
from .resample import segment_resampled, working_target
from .scene_outputs import SceneOutputs, SegmentResult, scene_result
from .sinks import SceneWriter, discard_partial_outputs, finish_outputs, remove_abandoned_outputs, style_texts


def segment(cfg: SegmentConfig, callback: Callback | None = None, predictor: Predictor | None = None) -> SegmentResult:
    """Segment the scene of ``cfg`` with one bundle or a weighted ensemble; write the styled outputs atomically.
    ``predictor``: one already loaded for ``cfg.models`` (a bulk run's), else the bundles are loaded onto
    ``cfg.device``. Raises ConfigError, DataError, AlignmentError, BundleError on bad inputs, before any heavy
    work; CanceledError when the callback asked to stop (nothing was written at the destinations).
    """
    callback = callback or Callback()
    start = time.perf_counter()
    with streaming_gdal_cache(), SceneRun(cfg, callback, predictor, start) as scene:
        scene.run_tiles()
        return scene.finish()


@dataclass
class SceneThreads:
    """A bulk run's long-lived threads (:func:`~engine.runtime.prefetch.loop_threads`) for its scenes' tile readers
    and output writers."""

    readers: Executor
    writers: Executor


class SceneRun:
    """One scene's run in steps: opening it (the plan, output locks, predictor) checks everything before any heavy
    work; :meth:`start_reading` (optional: a bulk run's read-ahead), :meth:`run_tiles` (the model, on the caller's
    thread), :meth:`finish` (outputs published: any one thread). A context manager: leaving it early removes every
    temporary output and frees the locks and readers. The caller holds ``streaming_gdal_cache()`` around it (a bulk
    run once around all its scenes: the cache is global and the scenes' steps overlap).
    """

    def __init__(self, cfg: SegmentConfig, callback: Callback, predictor: Predictor | None = None,
                 start: float | None = None, members: list[Member] | None = None, threads: SceneThreads | None = None):
        """``predictor``, ``members``, ``threads``: a bulk run's, made once (else the scene's own)."""
        self.start = time.perf_counter() if start is None else start
        self.threads = threads
        self.callback = callback
        self.plan = plan_segmentation(cfg, callback, members)
        self.outputs = SceneOutputs.of(cfg)
        self.writer: SceneWriter | None = None
        self.reader = None  # TileReader started ahead of run_tiles
        self.stats: PipelineStats | None = None
        self.result: SegmentResult | None = None  # the resample mode's, made whole in run_tiles
        self._extra_tmp: list[Path] = []
        self._finished = False
        self._closer = ExitStack()
        self._closer.callback(self.plan.inputs.close)
        self._closer.callback(self.plan.reader.close)
        # missing output folders are made, as qgis_process does; a run that publishes nothing removes them again
        self._made = make_folders([path for _, path in self.outputs.destinations()])
        try:
            # one writer per output: a second run onto the same files refuses at once
            held = self._closer.enter_context(output_locks(self.outputs.locked()))
            removed = remove_abandoned_outputs(self.outputs, held)  # the locks are ours: whoever wrote these is gone
            if removed:  # a warning: a bulk run passes those on (and records them), not each scene's info lines
                warn(callback, self.plan.warnings, f"Removed {len(removed)} partial file(s) that an earlier run, "
                                                   "stopped before it could finish, left beside the outputs: "
                                                   f"{', '.join(p.name for p in removed)}.")
            self.target = working_target(self.plan, callback)  # None: the model reads the image's own grid
            # the plan's settings: those left unset are the model's (TTA, threshold: members.model_defaults)
            self.predictor = predictor or make_predictor(self.plan.members, self.plan.cfg, callback, self.plan.tile,
                                                         first_dates=False)  # no later pair shares its first date
            callback.check_canceled()
        except BaseException:
            self._closer.close()
            remove_empty_folders(self._made)
            raise

    def __enter__(self) -> SceneRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_reading(self) -> None:
        """Open the temporary outputs and start reading the tiles ahead of :meth:`run_tiles` (not resampled)."""
        if self.target is not None:
            return
        # the reader first: it reads the first batch while this thread opens the temporary outputs
        if self.reader is None:
            self.reader = start_reader(self.plan, self.predictor, threads=self.threads and self.threads.readers,
                                       **tile_options(self.plan.cfg, self.predictor.device))
        if self.writer is None:
            self.writer = SceneWriter(self.plan, self.threads and self.threads.writers)

    def stage_styles(self) -> None:
        """Write the outputs' style files ahead (any thread, once :meth:`start_reading` opened the outputs):
        publishing then only renames them."""
        if self.writer is not None:
            self.writer.stage_styles(style_texts(self.plan, self.outputs, self.writer))

    def run_tiles(self, on_read_done: Callable[[], None] | None = None, drain: bool = True) -> None:
        """The model over every tile into the scene's temporary outputs (resampled: the whole run).
        ``on_read_done``, ``drain``: see :func:`~engine.segment.pipeline.run_tiles` (undrained, :meth:`finish` drains
        the writer)."""
        plan, cfg, callback = self.plan, self.plan.cfg, self.callback
        if self.target is not None:
            self.result = segment_resampled(plan, self.outputs, self.target, self.predictor, callback, self.start)
            if on_read_done is not None:
                on_read_done()
            return
        callback.info(f"Segmenting {plan.shown} region {plan.region} ({plan.width}x{plan.height} px) with "
                      f"{len(plan.members)} model(s) on {self.predictor.device}: {len(plan.grid)} "
                      f"tile{'' if len(plan.grid) == 1 else 's'} of {plan.tile} px, overlap {plan.overlap} px"
                      f"{f', mirrored border {plan.grid.border} px' if plan.grid.border else ''}, TTA {cfg.tta}"
                      f"{f', threshold {cfg.threshold:g}' if plan.binary else ''}.")
        self.start_reading()
        reader, self.reader = self.reader, None  # run_tiles closes it
        self.stats = run_tiles(plan, self.predictor, self.writer, callback, reader=reader, on_read_done=on_read_done,
                               drain=drain)
        if self.stats.tiles and self.stats.skipped_tiles == self.stats.tiles:
            warn(callback, plan.warnings, f"Every pixel of '{cfg.image}' in the region is nodata, so the class raster "
                                          "is all nodata; check the image's nodata value (and the extent/AOI).")

    def finish(self, callback: Callback | None = None) -> SegmentResult:
        """Overviews, names and polygons, then publish (``callback``: e.g. a bulk run's publishing thread's); the
        locks and readers are freed."""
        try:
            if self.result is None:
                self.result = self._publish(callback or self.callback)
            self._finished = True
            return self.result
        finally:
            self.close()

    def _publish(self, callback: Callback) -> SegmentResult:
        plan, cfg, stats, writer = self.plan, self.plan.cfg, self.stats, self.writer  # run_tiles ran
        writer.finish()  # drained already unless run_tiles was told not to
        qml = finish_outputs(plan, self.outputs, writer, callback, self._extra_tmp)
        seconds = time.perf_counter() - self.start
        timings = {"model": stats.model_seconds, "input_wait": stats.input_wait, "output_wait": writer.wait_seconds,
                   "read": stats.read_seconds, "write": writer.write_seconds}
        if stats.first_batch_at is not None:  # from the run's start (plan, model load) to the first tiles' result
            timings["first_tile"] = stats.first_batch_at - self.start
        pixels = plan.width * plan.height
        callback.info(f"Wrote '{cfg.output}': {pixels:,} pixels in {seconds:.1f} s, "
                      f"{pixels / max(seconds, 1e-9):,.0f} pixels a second. The model computed for "
                      f"{stats.model_seconds:.1f} s of it and waited {stats.input_wait:.1f} s for tiles to be read "
                      f"and {writer.wait_seconds:.1f} s for results to be written.")
        return scene_result(plan, self.outputs, qml, writer, stats, self.predictor, seconds,
                            class_pixels=writer.class_pixels.tolist(), warnings=plan.warnings,
                            working_gsd=[float(v) for v in plan.reader.gsd], timings=timings)

    def close(self) -> None:
        """Free the readers and locks; unless published, remove every temporary output (a failure or cancel)."""
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if not self._finished:
            discard_partial_outputs([self.writer], self._extra_tmp)
            self.writer = None
        self._closer.close()
        if not self._finished:
            remove_empty_folders(self._made)
