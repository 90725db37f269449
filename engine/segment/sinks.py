"""Output sinks of the tile pipeline: finished probability rows from the main thread -> GeoTIFF rows, through a
bounded queue, in a writer thread (GDAL releases the GIL). Every file goes to a temp path beside its destination;
:func:`finish_outputs` publishes them only when the whole run succeeded, :func:`discard_partial_outputs` removes
them otherwise.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Executor, Future
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..callbacks import Callback, Stage, warn
from ..config.output_kinds import OUTPUT_KINDS, output_kind
from ..config.polygons import chosen_polygon_classes, class_rules, transparent_classes
from ..errors import CanceledError
from ..io.atomic import (
    abandoned_temporaries,
    abandoned_temporary_folders,
    stage_bytes,
    temporary_path,
    uninterrupted,
)
from ..io.digest import file_sha256
from ..io.polygons import FeatureTags, write_polygons
from ..io.prediction_tags import TAG_MODEL_SHA256, TAG_MODELS, prediction_tags
from ..io.writers import (
    PROBABILITY_NODATA_UINT8,
    PROBABILITY_SCALE_UINT8,
    SIDECARS,
    GeoTiffStreamWriter,
    class_raster_type,
    commit_file,
    confidence_qml_text,
    qml_path_for,
    qml_text,
    remove_quietly,
    set_palette,
)
from ..runtime.prefetch import Ready
from .change_table import add_counts, transition_fields
from .plan import SegmentPlan
from .scene_outputs import SceneOutputs, judge_few_dates, judge_uniform

RESAMPLE_WORK = "resample"  # the resample mode's work folder beside the class raster (atomic.temporary_folder)


class RowSink:
    """Writer thread behind a bounded queue; subclasses implement :meth:`_write` and :meth:`_abort_files`.
    ``writers``: a bulk run's threads for the writing loop, else a thread of its own."""

    def __init__(self, writers: Executor | None = None) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.write_seconds = 0.0
        self.wait_seconds = 0.0  # producer blocked on a full queue: the model waiting on output
        self.thread: threading.Thread | None = None
        self._loop: Future | None = None
        if writers is not None:  # no thread started per scene: Thread.start waits for the GIL, which the reader
            self._loop = writers.submit(self._run)  # thread starting beside it holds (1 ms a 512² bulk scene)
        else:
            self.thread = threading.Thread(target=self._run, name="dualstream-writer", daemon=True)
            self.thread.start()

    def _running(self) -> bool:
        return self.thread.is_alive() if self.thread is not None else not self._loop.done()

    def _stop(self) -> None:
        """End the writing loop once the queue is drained, and wait for it."""
        self.queue.put(None)
        if self.thread is not None:
            self.thread.join()
        else:
            futures.wait([self._loop])

    def sink(self, row: int, probs: np.ndarray, valid: np.ndarray, ready: Ready | None = None) -> None:
        """Finished rows from the accumulator; ``ready``: called before reading them (rows still being copied from
        the GPU)."""
        start = time.perf_counter()
        while self.error is None:  # a failed writer stops the producer with its error
            with suppress(queue.Full):
                self.queue.put((row, probs, valid, ready), timeout=0.5)
                self.wait_seconds += time.perf_counter() - start
                return
        raise self.error

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain after a failure
            row, probs, valid, ready = item
            try:
                if ready is not None:
                    ready()  # the GPU's copy of these rows has landed
                start = time.perf_counter()
                self._write(row, probs, valid)
                self.write_seconds += time.perf_counter() - start
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                self.error = exc

    def _write(self, row: int, probs: np.ndarray, valid: np.ndarray) -> None:
        raise NotImplementedError

    def _abort_files(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Wait for the queue to drain; raise the writer's error if any (again: nothing to wait for)."""
        if self._running():
            self._stop()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """Stop the thread and remove the temp files."""
        if self._running():
            self.error = self.error or CanceledError("aborted")
            self._stop()
        self._abort_files()


@dataclass(frozen=True)
class RasterOutput:
    """What a raster output kind holds, computed from the blended probability rows in the writer thread (stored by
    :func:`_stored`)."""

    bands: Callable[[SegmentPlan], list[str]]  # the band descriptions (one per band)
    values: Callable[[np.ndarray, SegmentPlan], np.ndarray]  # probabilities (C, n, W) -> values (bands, n, W), 0-1
    style: Callable[[SegmentPlan], str] | None = None  # its .qml style (for kinds declared ``styled``)


def _confidence(probs: np.ndarray, plan: SegmentPlan) -> np.ndarray:
    """The probability of the class given: of the foreground or the background (binary), else the largest."""
    return (np.maximum(probs[0], 1.0 - probs[0]) if plan.binary else probs.max(axis=0))[None]


#: The raster outputs besides the class raster, by kind name.
RASTER_OUTPUTS: dict[str, RasterOutput] = {
    "probabilities": RasterOutput(lambda plan: [f"probability {n}" for n in ([plan.class_names[1]] if plan.binary
                                                                             else plan.class_names)],
                                  lambda probs, plan: probs),
    # its style sees stored values: 254 per unit when stored as uint8
    "confidence": RasterOutput(lambda plan: ["confidence (probability of the class given)"], _confidence,
                               lambda plan: confidence_qml_text(plan.cfg.low_confidence, PROBABILITY_SCALE_UINT8
                                                                if plan.cfg.probability_dtype == "uint8" else None)),
}


class SceneWriter(RowSink):
    """The scene's outputs: the class raster (threshold or argmax) and the raster outputs asked for."""

    def __init__(self, plan: SegmentPlan, writers: Executor | None = None):
        cfg = plan.cfg
        self.plan = plan
        common = dict(width=plan.width, height=plan.height, crs=plan.crs, transform=plan.transform)
        self.class_dtype, self.class_nodata = class_raster_type(len(plan.class_names))
        self.classes = GeoTiffStreamWriter(cfg.output, count=1, dtype=self.class_dtype, nodata=self.class_nodata,
                                           **common)
        self.classes.set_descriptions(["class"])  # its palette: finish_outputs, once it is complete
        self.as_uint8 = cfg.probability_dtype == "uint8"
        self.rasters: dict[str, GeoTiffStreamWriter] = {}
        self.tallies: dict[str, list[int]] = {}  # kind.report -> [pixels below that setting, valid pixels]
        self.nonfinite = 0  # pixels where the model gave NaN or infinite scores: nodata in every output
        # each class's pixels as written: a change table needs them, and reading the raster back costs a decode
        self.class_pixels = np.zeros(max(len(plan.class_names), 1), np.int64)
        self.staged: dict[Path, Path] = {}  # style file -> its staged temp file (stage_styles)
        outputs = SceneOutputs.of(cfg)
        for name, spec in RASTER_OUTPUTS.items():
            if (path := outputs.path(name)) is None:
                continue
            bands = spec.bands(plan)
            self.rasters[name] = GeoTiffStreamWriter(
                path, count=len(bands), dtype=cfg.probability_dtype,
                nodata=PROBABILITY_NODATA_UINT8 if self.as_uint8 else float("nan"), **common)
            self.rasters[name].set_descriptions(bands)
            if output_kind(name).report is not None:
                self.tallies[output_kind(name).report] = [0, 0]
        # the polygons' mean and minimum confidence: from the confidence raster asked for, else a hidden one
        self.scoring: GeoTiffStreamWriter | None = None
        polygons = outputs.path("polygons")
        if polygons is not None and "confidence" not in self.rasters:
            self.scoring = GeoTiffStreamWriter(polygons, count=1, dtype="uint8", nodata=PROBABILITY_NODATA_UINT8,
                                               **common)
        super().__init__(writers)

    def _write(self, row: int, probs: np.ndarray, valid: np.ndarray) -> None:
        finite = np.isfinite(probs).all(axis=0)
        if not finite.all():  # the model gave NaN or inf: no class, no probability there
            self.nonfinite += int(np.count_nonzero(valid & ~finite))
            valid = valid & finite
        plan = self.plan
        classes = ((probs[0] >= plan.cfg.threshold) if plan.binary else probs.argmax(axis=0)).astype(self.class_dtype)
        self.class_pixels = add_counts(self.class_pixels, classes[valid])
        classes[~valid] = self.class_nodata
        self.classes.write_rows(row, classes[None])
        if self.scoring is not None:
            self.scoring.write_rows(row, _stored(_confidence(probs, plan), valid, True))
        for name, raster in self.rasters.items():
            values = RASTER_OUTPUTS[name].values(probs, plan)
            if (report := output_kind(name).report) is not None:
                tally = self.tallies[report]
                tally[0] += int(np.count_nonzero(values[0][valid] < getattr(plan.cfg, report)))
                tally[1] += int(np.count_nonzero(valid))
            raster.write_rows(row, _stored(values, valid, self.as_uint8))

    def report(self) -> dict[str, float]:
        """Per ``report`` setting of a raster output: the share of the valid pixels below it (none without one)."""
        return {report: below / valid for report, (below, valid) in self.tallies.items() if valid}

    def confidence_path(self) -> Path | None:
        """The finished temporary confidence raster the polygons are scored on (its scale recorded in it)."""
        if "confidence" in self.rasters:
            return self.rasters["confidence"].tmp
        if self.scoring is not None:
            self.scoring.finalize(overviews=None, scale=1.0 / PROBABILITY_SCALE_UINT8)
            return self.scoring.tmp
        return None

    def stage_styles(self, styles: dict[Path, str]) -> None:
        """The style files written to temp files (fsync'ed) that publishing only renames: a bulk run's publishing
        thread does it while the model works (an fsync each, about 1 ms a 512² scene), else finish_outputs."""
        for path, text in styles.items():
            self.staged[path] = stage_bytes(path, text.encode("utf-8"))

    def publish_style(self, path: Path) -> None:
        os.replace(self.staged.pop(path), path)

    def _abort_files(self) -> None:
        for staged in self.staged.values():
            remove_quietly(staged)
        self.staged.clear()
        for raster in (self.classes, self.scoring, *self.rasters.values()):
            if raster is not None:
                raster.abort()


class ProbabilityStore(RowSink):
    """Float32 probabilities (NaN where invalid) to ``path``: the resample mode's working-grid result."""

    def __init__(self, plan: SegmentPlan, path: str | Path):
        self.path = Path(path)
        self.probabilities = GeoTiffStreamWriter(
            path, count=plan.probability_channels, dtype="float32", nodata=float("nan"), width=plan.width,
            height=plan.height, crs=plan.crs, transform=plan.transform)
        super().__init__()

    def _write(self, row: int, probs: np.ndarray, valid: np.ndarray) -> None:
        self.probabilities.write_rows(row, _stored(probs, valid, False))

    def finish(self) -> None:
        """Drain, add overviews (a warp back to a coarser grid reads them), publish."""
        super().finish()
        self.probabilities.finalize(overviews="average")
        self.probabilities.commit()

    def _abort_files(self) -> None:
        self.probabilities.abort()


def _stored(values: np.ndarray, valid: np.ndarray, as_uint8: bool) -> np.ndarray:
    """Values (bands, n, W) in 0-1 as a raster stores them: uint8 round(v * 254) (nodata 255), else float32 (NaN),
    nodata where not ``valid``."""
    if as_uint8:
        out = np.rint(np.clip(values, 0, 1) * PROBABILITY_SCALE_UINT8).astype(np.uint8)
        out[:, ~valid] = PROBABILITY_NODATA_UINT8
    else:
        out = values.astype(np.float32, copy=True)
        out[:, ~valid] = np.nan
    return out


def finish_outputs(plan: SegmentPlan, outputs: SceneOutputs, writer: SceneWriter, callback: Callback,
                   extra_tmp: list[Path], metadata: dict[str, str] | None = None) -> Path:
    """Overviews, names, scale and polygons on the finished temp files, then publish ``outputs``; returns the QML
    path."""
    cfg = plan.cfg
    callback.progress(0, 1, Stage.FINISH)
    tags = FeatureTags(model=";".join(Path(m.path).stem for m in plan.members),
                       model_sha256=";".join(file_sha256(m.path) for m in plan.members), scene=Path(cfg.image).stem)
    transparent = transparent_classes(cfg.transparent_classes, plan.class_names, "segment.transparent_classes")
    if not writer.staged:  # a bulk run stages them while the model runs (SceneRun.stage_styles)
        writer.stage_styles(style_texts(plan, outputs, writer))
    writer.classes.finalize(category_names=plan.class_names,
                            metadata={TAG_MODELS: ";".join(m.path for m in plan.members),
                                      TAG_MODEL_SHA256: tags.model_sha256,
                                      **prediction_tags(plan.class_names, plan.class_colors,
                                                        plan.members[0].data.label_mapping),
                                      **(metadata or {})},
                            describe=lambda band: set_palette(band, plan.class_names, plan.class_colors, transparent))
    for raster in writer.rasters.values():
        raster.finalize(overviews="average", scale=1.0 / PROBABILITY_SCALE_UINT8 if writer.as_uint8 else None)
    for kind in OUTPUT_KINDS:
        if (share := writer.report().get(kind.report or "")) is not None:
            callback.info(f"{kind.name.capitalize()}: {100 * share:.1f} % of the pixels below "
                          f"{getattr(cfg, kind.report):g} (the ones to review).")
    if writer.nonfinite:
        warn(callback, plan.warnings, f"The model gave NaN or infinite scores at {writer.nonfinite:,} pixel(s) "
                                      f"({100 * writer.nonfinite / max(plan.width * plan.height, 1):.1f} % of the "
                                      "region); they are nodata in every output (classes, probabilities, confidence). "
                                      "Check the model, or its input scaling.")
    judge_uniform(plan, writer.classes.tmp, writer.nonfinite, callback)  # before anything is published
    judge_few_dates(plan, writer.class_pixels, callback)
    callback.check_canceled()
    polygons = outputs.path("polygons")
    polygons_tmp = None
    if polygons is not None:
        polygons_tmp = temporary_path(polygons, ".gpkg")
        scratch = temporary_path(polygons, ".gpkg")
        extra_tmp += [polygons_tmp, scratch]
        try:
            count = write_polygons(
                writer.classes.tmp, polygons_tmp, plan.class_names, scratch=scratch, layer_name=polygons.stem,
                classes=chosen_polygon_classes(cfg, plan.class_names, plan.binary),
                rules=class_rules(cfg, plan.class_names, plan.members[0].data.polygon_treatment),
                simplify=cfg.simplify_tolerance, confidence=writer.confidence_path(), tags=tags,
                class_fields=transition_fields(plan.class_names), callback=callback)
        finally:
            remove_quietly(scratch)
            if writer.scoring is not None:
                writer.scoring.abort()
        callback.info(f"{count} polygon(s) written.")
    callback.check_canceled()
    # everything is complete: publish (class raster last, so it only appears once all is in place), all or none
    with uninterrupted():
        for raster in writer.rasters.values():
            qml = qml_path_for(raster.destination)
            if qml in writer.staged:
                writer.publish_style(qml)
            raster.commit()
        if polygons_tmp is not None:
            commit_file(polygons_tmp, polygons)
        writer.publish_style(outputs.qml)
        writer.classes.commit()
    callback.progress(1, 1, Stage.FINISH)
    return outputs.qml


def style_texts(plan: SegmentPlan, outputs: SceneOutputs, writer: SceneWriter) -> dict[Path, str]:
    """The QGIS style (.qml) of each styled output, by path: the class raster's and its raster outputs'."""
    transparent = transparent_classes(plan.cfg.transparent_classes, plan.class_names, "segment.transparent_classes")
    styles = {qml_path_for(raster.destination): style(plan) for name, raster in writer.rasters.items()
              if (style := RASTER_OUTPUTS[name].style) is not None}
    styles[outputs.qml] = qml_text(plan.class_names, plan.class_colors, transparent=transparent)
    return styles


def remove_abandoned_outputs(outputs: SceneOutputs, held: list[Path]) -> list[Path]:
    """Remove (and return) what a killed run left of this scene's outputs: the hidden temporaries beside each output
    whose lock this run holds (``held``), and the resample mode's work folders; else a bulk run killed and resumed
    leaves a partial set per kill (a float32 probability raster of a 4096² scene: 128 MiB)."""
    removed = []
    for destination in held:
        found = abandoned_temporaries(destination, outputs.temporary_suffixes(destination), SIDECARS)
        if destination == outputs.classes:
            found += abandoned_temporary_folders(destination, RESAMPLE_WORK)
        for path in found:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                remove_quietly(path)
            if not path.exists():
                removed.append(path)
    return removed


def discard_partial_outputs(writers: list[RowSink | None], extra_tmp: list[Path]) -> None:
    """A failed or canceled run: remove every temporary output, so nothing at a destination looks finished."""
    for writer in writers:
        if writer is not None:
            writer.abort()
    for path in extra_tmp:
        remove_quietly(path)
