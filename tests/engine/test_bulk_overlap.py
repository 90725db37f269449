"""Bulk runs overlap their scenes: the next scene is opened and read while the model finishes this one, and this
one's outputs are published in a background thread while the model runs the next. Same outputs, same records
in the same order, failures still per scene.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.callbacks import QuietCallback
from engine.config import BulkConfig, SegmentConfig
from engine.config.inference import DEFAULT_OVERLAP
from engine.data import synthetic
from engine.errors import DataError
from engine.segment import Predictor, plan_segmentation, run_tiles
from engine.segment import run as run_module
from engine.segment.bulk.runner import segment_bulk
from engine.segment.members import check_members
from engine.segment.sinks import RowSink
from engine.segment.tiling import overlap_pixels, tile_count
from tests.helpers import BULK_SIZES, RecordingCallback, assert_single_runs_equal, make_bundle


@pytest.mark.parametrize("readers, processes, overlap", [(1, False, True), (2, True, True), (1, False, None)])
def test_next_scene_is_read_ahead_and_published_scenes_overlap_the_next(bulk_scenes, bulk_model, tmp_path, monkeypatch,
                                                                        readers, processes, overlap):
    """Each later scene's reader starts while the previous scene is still in its tiles (its class raster not yet
    published), the previous one is published while the next runs, and the outputs are a single run's. By
    default on the CPU (overlap None) the model runs alone: a scene's publishing goes on beside the next scene's
    planning and first read only, and is done before the next scene's tiles."""
    opened_while, published_before_tiles, steps = {}, {}, []
    start_reading, run_tiles_, finish = (run_module.SceneRun.start_reading, run_module.SceneRun.run_tiles,
                                         run_module.SceneRun.finish)

    def name_of(scene):
        return Path(scene.plan.cfg.image).stem

    def watch(scene):  # whether the previous scene was published when this scene's reader was first started
        previous = {"a": "c", "b": "a"}.get(name_of(scene))
        if previous is not None and name_of(scene) not in opened_while:
            opened_while[name_of(scene)] = (out / f"{previous}.tif").exists()
        start_reading(scene)

    def tiles(scene, *args, **kwargs):
        previous = {"a": "c", "b": "a"}.get(name_of(scene))
        if previous is not None:
            published_before_tiles[name_of(scene)] = (out / f"{previous}.tif").exists()
        steps.append(("tiles", name_of(scene)))
        return run_tiles_(scene, *args, **kwargs)

    def publish(scene, *args, **kwargs):
        steps.append(("publish", name_of(scene)))
        return finish(scene, *args, **kwargs)

    monkeypatch.setattr(run_module.SceneRun, "start_reading", watch)
    monkeypatch.setattr(run_module.SceneRun, "run_tiles", tiles)
    monkeypatch.setattr(run_module.SceneRun, "finish", publish)
    out = tmp_path / "bulk"
    template = SegmentConfig(models=[bulk_model], device="cpu", readers=readers, reader_processes=processes)
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out), probabilities=True, polygons=True), template,
                          overlap_scenes=overlap)
    assert result.ok and [Path(s.image).stem for s in result.scenes] == ["c", "a", "b"]  # largest first
    if overlap:
        assert opened_while == {"a": False, "b": False}  # read ahead before the previous one was published
        # each scene is published once the next one's tiles have begun
        assert steps.index(("tiles", "a")) < steps.index(("publish", "c"))
        assert steps.index(("tiles", "b")) < steps.index(("publish", "a"))
    else:
        assert set(opened_while) == {"a", "b"}  # read at its own turn (the previous one published by then or not)
        assert published_before_tiles == {"a": True, "b": True}  # the model never runs beside a publishing
        assert steps == [("tiles", "c"), ("publish", "c"), ("tiles", "a"), ("publish", "a"), ("tiles", "b"),
                         ("publish", "b")]
    for record in result.scenes:  # its own time: its tiles and its publishing, within the run
        assert 0 < record.seconds and record.started_s + record.seconds <= result.summary["seconds"]
    assert_single_runs_equal(bulk_scenes, template, out, tmp_path)
    assert all((out / f"{name}.gpkg").is_file() for name in BULK_SIZES)


def test_a_scene_that_fails_to_open_when_read_ahead_fails_at_its_turn(bulk_scenes, bulk_model, tmp_path):
    """The read-ahead opens the second scene while the first runs; its error is that scene's, in its place."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    for name in ("c", "b"):
        for suffix in ("", "_aux"):
            (folder / f"{name}{suffix}.tif").write_bytes((bulk_scenes / f"{name}{suffix}.tif").read_bytes())
    odd = synthetic.make_scene(tmp_path / "gen", "a", size=BULK_SIZES["a"], seed=1, aux_channels=3)  # model wants 6
    (folder / "a.tif").write_bytes(Path(odd["image"]).read_bytes())
    (folder / "a_aux.tif").write_bytes(Path(odd["aux"][0]).read_bytes())
    out = tmp_path / "out"
    result = segment_bulk(BulkConfig(images=[str(folder / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out)), SegmentConfig(models=[bulk_model], device="cpu"),
                          overlap_scenes=True)
    statuses = {Path(s.image).stem: s for s in result.scenes}
    assert [Path(s.image).stem for s in result.scenes] == ["c", "a", "b"]
    assert statuses["a"].status == "failed" and "a_aux.tif" in statuses["a"].error
    assert statuses["c"].status == statuses["b"].status == "done"
    assert not (out / "a.tif").exists() and not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_a_failure_while_publishing_is_that_scene_s_and_the_run_goes_on(bulk_scenes, bulk_model, tmp_path, monkeypatch):
    finish = run_module.finish_outputs

    def failing(plan, outputs, writer, callback, extra_tmp, metadata=None):
        if Path(plan.cfg.image).stem == "a":
            raise DataError(f"No space left on the device while finishing '{outputs.classes}'.")
        return finish(plan, outputs, writer, callback, extra_tmp, metadata)

    monkeypatch.setattr(run_module, "finish_outputs", failing)
    out = tmp_path / "out"
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out), probabilities=True),
                          SegmentConfig(models=[bulk_model], device="cpu"), overlap_scenes=True)
    statuses = {Path(s.image).stem: s for s in result.scenes}
    assert statuses["a"].status == "failed" and "No space left" in statuses["a"].error
    assert statuses["c"].status == statuses["b"].status == "done" and not result.ok
    assert not (out / "a.tif").exists() and not (out / "a_probabilities.tif").exists()
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    # the rerun redoes exactly the failed scene
    monkeypatch.undo()
    again = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                    out_dir=str(out), probabilities=True),
                         SegmentConfig(models=[bulk_model], device="cpu"))
    assert {Path(s.image).stem: s.status for s in again.scenes} == {"c": "skipped", "a": "done",
                                                                          "b": "skipped"}


def test_read_done_is_called_while_batches_still_wait_for_the_model(bulk_scenes, bulk_model, tmp_path):
    """run_tiles calls ``on_read_done`` once every tile is read, before the model has had the last batches."""
    cfg = SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")], models=[bulk_model],
                        device="cpu", batch_size=1, prefetch=3, output=str(tmp_path / "unused.tif"))
    predictor = Predictor.from_bundles(check_members(cfg), "none", "cpu")
    calls = []

    def slow(vision, aux):  # a model slower than the reader
        calls.append(time.perf_counter())
        time.sleep(0.05)
        return predictor(vision, aux)

    class Discard(RowSink):
        def _write(self, row, probs, valid):
            pass

        def _abort_files(self):
            pass

    read_done = []
    plan = plan_segmentation(cfg, QuietCallback())
    try:
        stats = run_tiles(plan, slow, Discard(), QuietCallback(), batch_size=1, prefetch=3,
                          on_read_done=lambda: read_done.append(len(calls)))
    finally:
        plan.reader.close()
    assert len(read_done) == 1 and len(calls) == stats.tiles >= 6
    assert read_done[0] <= len(calls) - 2  # at least two batches were still waiting for the model


@pytest.mark.parametrize("processes", [False, True])
def test_cancel_while_the_previous_scene_publishes_keeps_it_and_leaves_nothing_else(bulk_scenes, bulk_model, tmp_path,
                                                                                     processes):
    """Canceled in the second scene, with the first one still to be published and the third one read ahead:
    the first is finished and kept, the others leave no file."""
    out = tmp_path / "out"
    stride = 64 - overlap_pixels(64, DEFAULT_OVERLAP)
    first_tiles = tile_count(190, 64, stride) * tile_count(150, 64, stride)  # c's (150 x 190 px, tile 64)

    class CancelInSecondScene(RecordingCallback):
        def is_canceled(self) -> bool:
            tiles = [p[0] for p in self.messages("progress") if p[2] == "tiles"]
            return sum(done > first_tiles for done in tiles) >= 3

    result = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out), probabilities=True),
                          SegmentConfig(models=[bulk_model], device="cpu", batch_size=1, readers=2,
                                        reader_processes=processes), CancelInSecondScene(), overlap_scenes=True)
    assert result.canceled and not result.ok
    assert {Path(s.image).stem: s.status for s in result.scenes} == {"c": "done", "a": "canceled",
                                                                           "b": "canceled"}
    assert sorted(p.name for p in out.glob("*.tif")) == ["c.tif", "c_probabilities.tif"]
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_resampled_scenes_overlap_too(bulk_scenes, tmp_path):
    """The resample mode runs whole in its scene's turn (nothing to read ahead); its outputs are a single run's."""
    coarse = make_bundle(tmp_path / "coarse.dsmodel", aux_channels=6, num_classes=3, seed=3, gsd=2.0)
    out = tmp_path / "out"
    template = SegmentConfig(models=[coarse], device="cpu", resample_to_training_gsd=True)
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out), probabilities=True), template, overlap_scenes=True)
    assert result.ok and [s.status for s in result.scenes] == ["done"] * 3
    assert_single_runs_equal(bulk_scenes, template, out, tmp_path)


def test_process_cores_are_shared_by_a_torchrun_node(monkeypatch):
    """GDAL's output threads and the GPU's default readers use this process's share of the cores."""
    from engine.runtime.environment import process_cores
    from engine.segment.reader import default_readers

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert process_cores() == 16 and default_readers("cuda:0") == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert process_cores() == 4 and default_readers("cuda:1") == 3 and default_readers("cpu") == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert process_cores() == 1 and default_readers("cuda:0") == 1


@pytest.mark.parametrize("batch_size, readers", [(4, 1), (5, 1), (5, 2), (7, 1)])  # 12 tiles
def test_the_short_batch_comes_first_so_the_model_starts_after_fewer_tiles(bulk_scenes, bulk_model, batch_size,
                                                                           readers):
    """A scene's tiles rarely fill whole batches: the short one is the first (the model starts as soon as it is
    read), the rest are full, and the batches keep their count and every tile its order."""
    from engine.segment import TileReader

    cfg = SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")],
                        models=[bulk_model], output="unused.tif", device="cpu")
    plan = plan_segmentation(cfg, QuietCallback())
    reader = TileReader(plan, batch_size, 2, readers).start()
    try:
        batches = [batch for batch in reader]
    finally:
        reader.close()
        plan.reader.close()
    total = len(plan.grid)
    assert total == 12
    sizes = [len(b.tiles) for b in batches]
    assert sum(sizes) == total and sum(b.skipped for b in batches) == 0
    short = total % batch_size
    assert sizes == ([short] if short else []) + [batch_size] * (total // batch_size)
    assert len(sizes) == -(-total // batch_size)  # as many batches as the tiles in whole batches need
    assert [t.index for b in batches for t in b.tiles] == list(range(total))


@pytest.mark.parametrize("overlap", [True, None])
def test_the_tile_readers_loops_run_on_threads_kept_for_the_run(bulk_scenes, bulk_model, tmp_path, monkeypatch,
                                                                 overlap):
    """A thread started per scene waits for the interpreter lock that the threads beside it hold: the readers'
    loops (one per scene and reader worker) reuse the run's threads instead of starting their own."""
    import threading

    from engine.runtime import prefetch

    loops, started = [], []
    init, start = prefetch.Prefetcher.__init__, threading.Thread.start

    def counted_loop(self, *args, **kwargs):
        loops.append(kwargs.get("name", ""))
        init(self, *args, **kwargs)

    def counted_start(self):
        if self.name.startswith("dualstream-reader"):
            started.append(self.name)
        start(self)

    monkeypatch.setattr(prefetch.Prefetcher, "__init__", counted_loop)
    monkeypatch.setattr(threading.Thread, "start", counted_start)
    out = tmp_path / "bulk"
    template = SegmentConfig(models=[bulk_model], device="cpu", readers=2)
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out), probabilities=True), template, overlap_scenes=overlap)
    assert result.ok and len(result.scenes) == 3
    reader_loops = [name for name in loops if name.startswith("dualstream-reader")]
    assert len(reader_loops) >= 3 + 2  # each scene its batches, and two workers where it has tiles for them
    assert 0 < len(started) < len(reader_loops), started  # threads reused from scene to scene
    assert_single_runs_equal(bulk_scenes, template, out, tmp_path)
