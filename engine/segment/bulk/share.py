"""One process's share of a bulk run: its scenes run in order with the bundle(s) loaded once, each scene's record
(done, skipped, failed, canceled) kept in order and written as the rank's part of the summary as it goes.

On a GPU the scenes overlap (:class:`RankShare`): the next one is opened and read while the model finishes this one,
and this one is published in the background. One bad scene is recorded as failed and the share goes on.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import time
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...callbacks import Callback, ForwardingCallback, QuietCallback, Stage, time_left
from ...config import BulkConfig, SegmentConfig
from ...errors import CanceledError, DualStreamError, command
from ...io.atomic import write_text_atomic
from ...models.change.first_dates import tally
from ...runtime.environment import DistContext
from ...runtime.prefetch import loop_threads
from ..backend import make_predictor
from ..members import Member, requested_tile
from ..pipeline import streaming_gdal_cache
from ..predictor import Predictor
from ..run import SceneRun, SceneThreads
from ..scene_outputs import SceneOutputs
from ..tile_choice import tiles_needed
from ..tiling import overlap_pixels
from .resume import decide, finished_record, mark_done, mark_running, scene_fingerprint
from .scenes import MARKER_FOLDER, Scene, first_dates_recur, scene_outputs
from .summary import SceneRecord

# the running summary lists every scene: rewritten after each of thousands it would cost more than they do, so
# at most this often, and never more than 5 % of the run; always at the end
SUMMARY_SECONDS = 10.0


class _ShareProgress(ForwardingCallback):
    """Turns each scene's tile progress into progress over the rank's whole share; forwards the rest."""

    def __init__(self, inner: Callback, total_tiles: int):
        super().__init__(inner)
        self.total = max(1, total_tiles)
        self.before = 0  # estimated tiles of the scenes already handled
        self.scene_tiles = 0
        self.waiting: _Publishing | None = None  # the previous scene's publishing, started after this one's first batch

    def end_scene(self) -> None:
        self.before += self.scene_tiles
        self.scene_tiles = 0
        self.inner.progress(self.before, self.total, Stage.TILES)

    def progress(self, done: float, total: float, stage: str = "") -> None:
        if stage == Stage.SEGMENT and done and self.waiting is not None:
            # the model has this scene's first batch: a GPU works through it while the publishing thread holds
            # the interpreter lock now and then (rasterio holds it while closing a written file)
            self.waiting.start()
            self.waiting = None
        if stage == Stage.SEGMENT and total:
            self.inner.progress(self.before + self.scene_tiles * min(done, total) / total, self.total, Stage.TILES)

    def info(self, message: str) -> None:
        pass  # each scene's own start/finish and progress lines: the bulk run says one line per scene instead

    progress_line = info


def _tile_estimate(scene: Scene, tile: int, overlap: int) -> int:
    return tiles_needed((0, 0, scene.width, scene.height), tile, overlap) if scene.pixels else 0


def _record(scene: Scene, order: int, rank: int) -> SceneRecord:
    """The scene's record before it runs: failed until it says otherwise."""
    return SceneRecord(image=scene.image, aux=scene.aux, name=scene.name, pixels=scene.pixels, rank=rank, order=order,
                       after=list(scene.after), dates=list(scene.dates))


class RankShare:
    """One rank's scenes, run in order (records stay in that order); the part of the summary it writes as it goes.

    With ``overlap_scenes`` (a GPU, which otherwise idles at every scene boundary) the previous scene is published
    in the background (:class:`_Publishing`) while the model runs this one, and the next one is opened once every
    tile of this one is read (:meth:`read_ahead`). On the CPU the model wants every core, so it runs alone: only a
    scene's publishing overlaps the next scene's planning and first read (figures: docs/benchmarks.md, "Bulk
    segmentation")."""

    def __init__(self, bulk: BulkConfig, template: SegmentConfig, members: list[Member], fingerprint: dict[str, Any],
                 ctx: DistContext, device: str, callback: Callback, started: float, predictor: Predictor | None,
                 overlap_scenes: bool):
        self.bulk, self.template, self.members = bulk, template, members
        self.fingerprint, self.ctx, self.device, self.callback = fingerprint, ctx, device, callback
        self.started = started  # the run's clock: a record's started_s counts from it (scenes may overlap)
        self.overlap_scenes = overlap_scenes
        self.part = Path(bulk.out_dir) / MARKER_FOLDER / f"rank-{ctx.rank}-of-{ctx.world_size}.json"
        self.predictor = predictor  # None: loaded for the first scene that needs it
        self.first_dates = True  # keep first dates' encoder maps (run: only where a first date recurs)
        self.load_seconds = 0.0
        self.records: list[SceneRecord] = []
        tile = requested_tile(template, members)
        self.tile, self.overlap = tile, overlap_pixels(tile, template.overlap)

    def facts(self) -> dict[str, Any]:
        """This rank's item of the summary's ``ranks`` (with a change model's first-date tiles encoded and reused);
        its backend is what ``auto`` chose, None while no model is loaded (every scene skipped or failed)."""
        backend = None if self.predictor is None else getattr(self.predictor, "backend", "torch")
        facts = {"device": self.device, "backend": backend, "load_seconds": self.load_seconds,
                 "scenes": len(self.records)}
        stores = self.predictor.first_date_stores() if hasattr(self.predictor, "first_date_stores") else []
        if stores:
            facts["first_dates"] = dict(zip(("encoded", "reused"), tally(stores)))
        return facts

    def write_part(self) -> None:
        write_text_atomic(self.part, json.dumps({"rank": self.ctx.rank, **self.facts(),
                                                 "scenes": [r.to_dict() for r in self.records]}, default=str))

    def _predictor(self) -> Predictor:
        if self.predictor is None:
            tick = time.perf_counter()
            self.predictor = make_predictor(self.members, self.template.replace(device=self.device), self.callback,
                                            self.tile, first_dates=self.first_dates)
            # the collector's full pass now, with the load, while nothing else runs: the imports and the model's
            # objects would set one off within the first scene (13 ms on two cores, every Python thread held)
            gc.collect()
            self.load_seconds = time.perf_counter() - tick
            self.callback.info(f"Loaded {len(self.members)} model(s) on {self.device} in {self.load_seconds:.1f} s.")
        return self.predictor

    def run(self, scenes: list[tuple[int, Scene]], on_save: Any) -> bool:
        """Run ``scenes`` ((global order, scene) pairs) in order; returns False when canceled. ``on_save`` is
        called whenever the records are written (:meth:`save`)."""
        self.first_dates = first_dates_recur([scene for _, scene in scenes])
        self.scenes, self.on_save = scenes, on_save
        self.progress = _ShareProgress(self.callback,
                                       sum(_tile_estimate(s, self.tile, self.overlap) for _, s in scenes))
        self.start = time.perf_counter()
        self.pixels_left = sum(s.pixels for _, s in scenes)  # of the scenes not concluded yet
        self.pixels_done, self.busy = 0, 0.0  # for the ETA: pixels of done scenes, and when the last one ended
        self.publishing: _Publishing | None = None  # the previous scene, published in the background
        self.ahead: dict[int, Future] = {}  # scenes being opened (and reading) before their turn: SceneRun or error
        self.opener = ThreadPoolExecutor(1, thread_name_prefix="dualstream-read-ahead")
        # one publishing thread for the whole pass: GDAL's overviews took 16 ms more per 512² scene in a thread of
        # its own than in one that had built some before (docs/benchmarks.md, "Bulk: where the time went")
        self.publisher = ThreadPoolExecutor(1, thread_name_prefix="dualstream-publishing")
        # the tile readers' loops and output writers, on threads kept for the pass: with overlapping scenes one
        # writer drains while its scene is published, one is being written and one opened ahead
        self.threads = SceneThreads(readers=loop_threads("dualstream-reader"),
                                    writers=ThreadPoolExecutor(3, thread_name_prefix="dualstream-writer"))
        self.saved_at, self.save_cost = -float("inf"), 0.0  # the last write of the records (part and summary)
        with streaming_gdal_cache():  # the cache is global: one cap around all the (overlapping) scenes
            return self._run()

    def _scene_config(self, scene: Scene, outputs: SceneOutputs, record: SceneRecord) -> SegmentConfig | None:
        """The scene's settings when it is to run; else None with ``record`` filled (skipped, or failed)."""
        if scene.error:
            record.error = scene.error
            return None
        fingerprint = scene_fingerprint(self.fingerprint, scene, self.bulk)
        action, reason = decide(scene, outputs, fingerprint, self.bulk.overwrite)
        if action == "skip":
            kept = finished_record(outputs)
            record.status, record.output = "skipped", str(outputs.classes)
            record.tiles, record.pixels, record.change = (kept.tiles, kept.pixels, kept.change) if kept else (
                0, scene.pixels, [])
            return None
        if action == "refuse":
            record.error = reason
            return None
        # a web layer is read over the run's extent at the pixel size (the door names its window after the layer);
        # every other scene has pixels of its own and is segmented whole
        area = ({"extent": self.bulk.extent, "extent_crs": self.bulk.extent_crs} if scene.web else
                {"pixel_size": None})
        if scene.dates:  # a season's place: its dates sorted, checked and masked as segment --dates does
            return self.template.replace(image="", aux=[], after=[], dates=list(scene.dates), **area,
                                         **outputs.settings())
        return self.template.replace(image=scene.image, aux=list(scene.aux), after=list(scene.after),
                                     stac_item=scene.image if scene.stac else None, **area, **outputs.settings())

    def _run(self) -> bool:
        progress = self.progress
        try:
            for index, (order, scene) in enumerate(self.scenes):
                outputs = scene_outputs(self.bulk.out_dir, scene.name, self.bulk)
                record = _record(scene, order, self.ctx.rank)
                progress.scene_tiles = _tile_estimate(scene, self.tile, self.overlap)
                self.callback.progress(index, len(self.scenes), Stage.SCENES)  # scenes before this one: "scene i of n"
                try:
                    running = self.run_scene(index, scene, outputs, record)
                except (CanceledError, KeyboardInterrupt):
                    self.canceled(index, record)
                    return False
                progress.end_scene()
                self.settle()
                if running is None:
                    self.conclude(index, scene, record)
                else:
                    self.publishing = _Publishing(self.publisher, *running, index, scene, outputs, record,
                                                  scene_fingerprint(self.fingerprint, scene, self.bulk))
                    if self.overlap_scenes:
                        progress.waiting = self.publishing  # started after the next scene's first batch
                    else:  # beside the next scene's planning and first read, finished before its model runs
                        self.publishing.start()
            self.settle()
            self.save()
            return True
        finally:
            self.close()

    def run_scene(self, index: int, scene: Scene, outputs: SceneOutputs, record: SceneRecord
                  ) -> tuple[SceneRun, float, Future] | None:
        """Run scene ``index``'s tiles (perhaps opened by :meth:`read_ahead`); returns the run to finish, when it
        started and the claim of its outputs, or None with ``record`` filled. Only a cancel escapes."""
        opened = _outcome(self.ahead.pop(index, None))
        cfg = self._scene_config(scene, outputs, record) if opened is None else None
        if opened is None and cfg is None:
            return None
        run, claimed = None, None
        tick = time.perf_counter()  # the scene's own time: the one-off model load is reported apart
        try:
            predictor = self._predictor()
            tick = time.perf_counter()
            if isinstance(opened, Exception):
                raise opened
            run = opened or SceneRun(cfg, self.progress, predictor, tick, self.members, self.threads)
            record.started_s = tick - self.started
            run.start_reading()  # the first batch is read while the scene is claimed and its outputs opened
            # its running marker and its outputs' style files, written on the publishing thread while the model
            # runs (writes and fsyncs the scene need not wait for): that thread's tasks run in order, so they are
            # in place before the scene's outputs are published, which wait for them
            claimed = self.publisher.submit(_claim, scene, outputs, run)
            if not self.overlap_scenes:
                # on the CPU the model wants every core: the last scene's publishing, beside this one's planning and
                # first read, ends before the model starts
                self.settle()
            run.run_tiles((lambda: self.read_ahead(index + 1)) if self.overlap_scenes else None,
                          drain=False)  # the writer drains in _Publishing
        except BaseException as exc:
            if claimed is not None:
                futures.wait([claimed])  # it writes beside the outputs that closing the run removes
            if run is not None:
                run.close()
            if isinstance(exc, (CanceledError, KeyboardInterrupt)) or not isinstance(exc, Exception):
                raise
            record.error, record.seconds = _failure_text(exc), time.perf_counter() - tick
            return None
        return run, tick, claimed

    def save(self, when_due: bool = False) -> None:
        """Write the records (this rank's part, and the summary through ``on_save``); ``when_due``: only if
        the last write is SUMMARY_SECONDS old (and 20 times its own cost: a huge summary is written less often)."""
        now = time.perf_counter()
        if when_due and now - self.saved_at < max(SUMMARY_SECONDS, 20 * self.save_cost):
            return
        self.write_part()
        self.on_save()
        self.saved_at = time.perf_counter()
        self.save_cost = self.saved_at - now

    def conclude(self, index: int, scene: Scene, record: SceneRecord) -> None:
        """Add ``record`` to the share's part, say how the scene ended and how long the rest may take."""
        self.records.append(record)
        self.save(when_due=True)
        self.pixels_left -= scene.pixels
        if record.status == "done":
            self.pixels_done += record.pixels
            # the one-off model load (an ONNX export on the first run) is no measure of the scenes to come
            self.busy = time.perf_counter() - self.start - self.load_seconds
        rate = self.pixels_done / self.busy if self.busy > 0 else 0.0
        eta = f"; about {time_left(self.pixels_left / rate)} left" if rate > 0 and self.pixels_left > 0 else ""
        shown = record.error if record.status == "failed" else (
            f"{record.seconds:.1f} s" if record.status == "done" else "finished earlier")
        self.callback.info(f"[{index + 1}/{len(self.scenes)}] {scene.name}: {record.status} ({shown}){eta}")
        self.callback.progress(index + 1, len(self.scenes), Stage.SCENES)

    def settle(self) -> None:
        """Wait for the scene being published in the background; conclude it."""
        if self.publishing is None:
            return
        done, self.publishing = self.publishing, None
        self.progress.waiting = None
        done.wait()
        for message in done.callback.warnings:
            self.callback.warning(message)
        self.conclude(done.index, done.scene, done.record)

    def read_ahead(self, index: int) -> None:
        """Once every tile of the current scene is read: open scene ``index`` and start its reader."""
        if index >= len(self.scenes) or index in self.ahead:
            return
        order, scene = self.scenes[index]
        outputs = scene_outputs(self.bulk.out_dir, scene.name, self.bulk)
        cfg = self._scene_config(scene, outputs, _record(scene, order, self.ctx.rank))
        if cfg is not None:  # else skipped or failed without reading: nothing to start
            # in a thread: the model's thread is better spent feeding the GPU than planning and opening
            self.ahead[index] = self.opener.submit(_open_ahead, cfg, self.progress, self._predictor(),
                                                   self.members, self.threads)

    def canceled(self, index: int, record: SceneRecord) -> None:
        """Canceled in scene ``index``: the scene being published is kept (its tiles are all done), the rest not."""
        self.settle()
        record.status, record.error = "canceled", "canceled before the scene was finished"
        self.records.append(record)
        for later_order, later in self.scenes[index + 1:]:
            self.records.append(dataclasses.replace(_record(later, later_order, self.ctx.rank), status="canceled",
                                                     error="not started: the run was canceled"))
        self.save()

    def close(self) -> None:
        if self.publishing is not None:  # an error of the run itself: let the thread end before leaving
            self.publishing.wait()
        for pending in self.ahead.values():  # a scene read ahead whose turn did not come (cancel, error)
            opened = _outcome(pending)
            if isinstance(opened, SceneRun):
                opened.close()
        for pool in (self.opener, self.publisher, self.threads.readers, self.threads.writers):
            pool.shutdown()

def _claim(scene: Scene, outputs: SceneOutputs, run: SceneRun) -> None:
    mark_running(scene, outputs)
    run.stage_styles()


def _open_ahead(cfg: SegmentConfig, callback: Callback, predictor: Predictor, members: list[Member],
                threads: SceneThreads) -> SceneRun:
    """A scene opened (plan, locks, temporary outputs) and its reader started, before its turn."""
    run = SceneRun(cfg, callback, predictor, members=members, threads=threads)
    try:
        run.start_reading()
    except BaseException:
        run.close()
        raise
    return run


def _outcome(pending: Future | None) -> SceneRun | Exception | None:
    """A scene opened ahead (waited for), its error, or None when it was not opened ahead."""
    if pending is None:
        return None
    try:
        return pending.result()
    except Exception as exc:  # noqa: BLE001 - the scene's own failure, recorded at its turn
        return exc


def _failure_text(exc: Exception) -> str:
    """A scene's failure in the summary: the error's own words, or how to get the traceback of a surprise."""
    if isinstance(exc, DualStreamError):  # with its setting markers: each front end names its own controls
        return " ".join(exc.raw.split())
    # segment run alone shows an unexpected error's traceback on either front end (the CLI lets it through)
    return (f"unexpected error ({type(exc).__name__}: {exc}); rerun this scene alone with {command('segment')} for "
            f"the traceback")


class _Deferred(QuietCallback):
    """A publishing thread's callback: keeps the warnings for the run's thread and never cancels (a scene whose
    tiles are all done is kept when the run is canceled)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


class _Publishing:
    """A scene's outputs published (then marked done) on the pass's publishing thread, started once the next
    scene's first batch is with the model (or when waited for)."""

    def __init__(self, publisher: ThreadPoolExecutor, run: SceneRun, tick: float, claimed: Future, index: int,
                 scene: Scene, outputs: SceneOutputs, record: SceneRecord, fingerprint: dict[str, Any]):
        self.publisher, self.run, self.claimed = publisher, run, claimed
        self.tiles_seconds = time.perf_counter() - tick  # the scene's from its start to its last tile
        self.index, self.scene, self.outputs, self.record, self.fingerprint = index, scene, outputs, record, fingerprint
        self.callback = _Deferred()
        self.done: Future | None = None

    def start(self) -> Future:
        if self.done is None:
            self.done = self.publisher.submit(self._finish)
        return self.done

    def _finish(self) -> None:
        # the scene's own time: its tiles and its publishing, not the wait for the next scene's first batch
        tick = time.perf_counter()
        try:
            try:
                self.claimed.result()  # the running marker and staged styles: nothing is published unclaimed
            except BaseException:
                self.run.close()
                raise
            result = self.run.finish(self.callback)
            seconds = self.tiles_seconds + time.perf_counter() - tick
            record = self.record
            record.status, record.pixels, record.seconds, record.tiles = "done", result.pixels, seconds, result.tiles
            record.model_seconds = result.timings.get("model")
            record.output, record.warnings = result.output, result.warnings
            record.px_per_s = result.pixels / seconds if seconds > 0 else None
            record.report = dict(result.report)
            if self.scene.after:  # a pair's change: hectares of each kind, for the run's change table
                from ..change_table import area_table

                change, rows = area_table(result.output, counted=result.class_pixels,
                                          ground_pixel_size=self.run.plan.cfg.ground_pixel_size)
                record.change = [row.to_dict() for row in rows] if change else []  # a season model's classes: none
            mark_done(self.scene, self.outputs, self.fingerprint, record)
        except Exception as exc:  # noqa: BLE001 - this scene's failure, recorded; the run goes on
            self.record.status, self.record.error, self.record.px_per_s = "failed", _failure_text(exc), None
            self.record.seconds = self.tiles_seconds + time.perf_counter() - tick

    def wait(self) -> None:
        self.start().result()
