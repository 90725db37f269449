"""Bulk segmentation's reader workers (``--readers N``, threads or processes): identical outputs, even shares,
cancel, errors and dead workers, shared memory, warnings; moved out of ``test_segment_bulk.py``.

Scenes and bundle as there (``bulk_scenes``, ``bulk_model`` in tests/engine/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli.options import flag_name
from engine.config import SegmentConfig
from engine.segment import segment
from tests.helpers import RecordingCallback, read_pixels

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("readers", "processes"), [(2, False), (3, False), (2, True), (3, True)])
def test_several_reader_workers_give_identical_outputs(bulk_scenes, bulk_model, tmp_path, readers, processes):
    """Runs of tiles go round-robin to worker threads or processes, each with its own GDAL handles and aux caches;
    batches are assembled in tile order, so the outputs are those of one reader."""
    cfg = SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")], models=[bulk_model],
                        device="cpu", batch_size=3,
                        overlap=0.5)  # 150x190 at 64 px, stride 32: 4 x 5 tiles, batches across rows
    one = segment(cfg.replace(output=str(tmp_path / "one.tif"), probabilities=str(tmp_path / "one_p.tif"),
                              readers=1))
    many = segment(cfg.replace(output=str(tmp_path / "many.tif"), probabilities=str(tmp_path / "many_p.tif"),
                               readers=readers, reader_processes=processes))
    assert one.tiles == many.tiles == 20
    assert np.array_equal(read_pixels(tmp_path / "one.tif"), read_pixels(tmp_path / "many.tif"))
    assert np.array_equal(read_pixels(tmp_path / "one_p.tif"), read_pixels(tmp_path / "many_p.tif"), equal_nan=True)
    assert many.timings["read"] > 0


@pytest.mark.parametrize("processes", [False, True])
def test_cancel_with_several_reader_workers_leaves_nothing(bulk_scenes, bulk_model, tmp_path, processes):
    from engine.errors import CanceledError

    out = tmp_path / "out"
    out.mkdir()
    cfg = SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")], models=[bulk_model],
                        device="cpu", batch_size=1, overlap=0.5, readers=2, reader_processes=processes,
                        output=str(out / "x.tif"))
    with pytest.raises(CanceledError):
        segment(cfg, RecordingCallback(cancel_after=4))
    assert list(out.iterdir()) == []
    # the reader processes were stopped mid-scene and wound down: the next scene uses them and gets every tile
    again = segment(cfg.replace(output=str(tmp_path / "again.tif")))
    segment(cfg.replace(output=str(tmp_path / "single.tif"), readers=1))
    assert again.tiles == 20
    assert np.array_equal(read_pixels(tmp_path / "again.tif"), read_pixels(tmp_path / "single.tif"))


def test_reader_workers_keep_their_columns_and_even_shares():
    from engine.segment.reader import reader_shares

    # 5 rows of 5 tiles over 2 workers: bands of 3:2 then 2:3 ... = 13:12; columns 0-1 always worker 0 and
    # 3-4 always worker 1 (the blocks shared with the tile above are in that worker's cache); only column 2 moves
    owners = reader_shares(5, 5, 2)
    rows = [owners[r * 5:(r + 1) * 5] for r in range(5)]
    assert rows[0] == [0, 0, 0, 1, 1] and rows[1] == [0, 0, 1, 1, 1]
    assert [owners.count(w) for w in (0, 1)] == [13, 12]
    assert all(row[:2] == [0, 0] and row[3:] == [1, 1] for row in rows)
    # in each row a worker's tiles are adjacent (one band), in worker order
    assert all(row == sorted(row) for row in rows)
    shares = reader_shares(9, 9, 8)  # the GPU bench's 4096 px scenes: 81 tiles over 8 workers, 10 or 11 each
    assert sorted(shares.count(w) for w in range(8)) == [10] * 7 + [11]
    assert reader_shares(2, 3, 4) == [0, 1, 2, 3, 0, 1]  # more workers than columns: round-robin
    assert reader_shares(4, 5, 1) == [0] * 20


@pytest.mark.parametrize("processes", [False, True])
def test_a_reader_worker_error_reaches_the_caller(bulk_scenes, bulk_model, tmp_path, processes):
    """A file that breaks after planning (truncated): the worker's clear DataError is raised in the caller."""
    from engine.callbacks import QuietCallback
    from engine.errors import DataError
    from engine.segment import TileReader, plan_segmentation

    image = tmp_path / "c.tif"
    shutil.copy(bulk_scenes / "c.tif", image)
    plan = plan_segmentation(SegmentConfig(image=str(image), aux=[str(bulk_scenes / "c_aux.tif")], models=[bulk_model],
                                           device="cpu", overlap=0.5, output=str(tmp_path / "x.tif")),
                             QuietCallback())
    plan.reader.close()
    with open(image, "r+b") as handle:
        handle.truncate(image.stat().st_size // 3)
    reader = TileReader(plan, 2, 2, readers=2, processes=processes).start()
    try:
        with pytest.raises(DataError, match="truncated"):
            list(reader)
    finally:
        reader.close()


def test_a_dead_reader_process_is_a_clear_error_and_the_pool_restarts(bulk_scenes, bulk_model, tmp_path):
    import signal

    from engine.callbacks import QuietCallback
    from engine.segment import TileReader, plan_segmentation
    from engine.segment.reader_pool import shared_pool

    cfg = SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")], models=[bulk_model],
                        device="cpu", overlap=0.5, readers=2, reader_processes=True, output=str(tmp_path / "x.tif"))
    plan = plan_segmentation(cfg, QuietCallback())
    reader = TileReader(plan, 1, 1, readers=2, processes=True).start()
    try:
        batches = iter(reader)
        next(batches)
        pool = shared_pool(2)
        os.kill(pool._processes[1].pid, signal.SIGKILL)  # as the OOM killer would
        with pytest.raises(RuntimeError, match="Reader process 1 died"):
            list(batches)
    finally:
        reader.close()
        plan.reader.close()
    assert segment(cfg).tiles == 20 and shared_pool(2) is not pool  # the next run starts a fresh pool


def test_too_little_shared_memory_is_a_clear_error_before_any_worker_writes(bulk_scenes, bulk_model, tmp_path,
                                                                            monkeypatch):
    """Docker's default /dev/shm is 64 MB: the workers would die of SIGBUS; the run says what to do instead."""
    from engine.runtime.resources import ResourceError
    from engine.segment import reader_pool

    monkeypatch.setattr(reader_pool, "shared_memory_free", lambda: 1024)
    cfg = SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")], models=[bulk_model],
                        device="cpu", overlap=0.5, readers=2, reader_processes=True, output=str(tmp_path / "x.tif"))
    with pytest.raises(ResourceError, match=r"shared memory.*reader_processes.*shm-size") as raised:
        segment(cfg)
    assert "leave out --reader-processes" in raised.value.render(flag_name)  # as the command line says it
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert segment(cfg).tiles == 20  # the pool was left usable
    assert reader_pool.shared_memory_free() is None or reader_pool.shared_memory_free() > 0


def test_reader_threads_pass_on_no_warning_from_rasterio_internals(bulk_scenes, bulk_model, tmp_path):
    """rasterio hides a NotGeoreferencedWarning about its in-memory warp (and AOI rasterize) datasets with
    catch_warnings(), which races between threads: about one per run leaked to the user (CI, qgis_process) until
    the reader set one filter before starting its threads. The race shows in most runs, not all, so the filter is
    also checked directly: it drops that warning from rasterio.warp and rasterio.features, and not the same text
    from elsewhere."""
    import warnings

    import rasterio.warp
    from rasterio.errors import NotGeoreferencedWarning

    from engine.callbacks import QuietCallback
    from engine.segment import TileReader, plan_segmentation

    def plan() -> object:
        return plan_segmentation(SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")],
                                               models=[bulk_model], device="cpu", overlap=0.5,
                                               output=str(tmp_path / "x.tif")), QuietCallback())

    text = "Dataset has no geotransform, gcps, or rpcs. The identity matrix will be returned."
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()  # no filters: every warning is recorded unless the reader's filter drops it
        first = plan()
        TileReader(first, 2, 2, readers=3)  # sets the filter; no thread started yet
        first.reader.close()
        warnings.warn_explicit(text, NotGeoreferencedWarning, rasterio.warp.__file__, 344, module="rasterio.warp")
        warnings.warn_explicit(text, NotGeoreferencedWarning, "features.py", 362, module="rasterio.features")
        warnings.warn_explicit(text, NotGeoreferencedWarning, "/data/user.py", 1, module="user")
        assert [w.filename for w in caught] == ["/data/user.py"]
        for _ in range(4):
            scene = plan()
            reader = TileReader(scene, 2, 2, readers=3).start()
            try:
                assert sum(len(batch.tiles) for batch in reader) == len(scene.grid)
            finally:
                reader.close()
                scene.reader.close()
    assert [str(w.message) for w in caught[1:] if "geotransform" in str(w.message)] == []


def test_a_tile_larger_than_its_slot_still_arrives_whole(bulk_scenes, bulk_model, tmp_path):
    """The worker loop (run here, in this process): a tile that does not fit its shared-memory slot goes through
    the result queue instead; packed or not, the main side gets the arrays ``prepare_tile`` made."""
    import multiprocessing
    import queue
    import signal
    from multiprocessing import shared_memory

    from engine.callbacks import QuietCallback
    from engine.segment import TileReader, plan_segmentation
    from engine.segment.prepare import prepare_tile
    from engine.segment.reader_pool import ReadJob, _unpack, _worker_main, slot_bytes

    plan = plan_segmentation(SegmentConfig(image=str(bulk_scenes / "c.tif"), aux=[str(bulk_scenes / "c_aux.tif")],
                                           models=[bulk_model], device="cpu", overlap=0.5,
                                           output=str(tmp_path / "x.tif")),
                             QuietCallback())
    stats = TileReader(plan, 2, 2).stats
    tiles = list(plan.grid)[:3]
    expected = [prepare_tile(t, plan.reader, stats, plan.use_region_mask) for t in tiles]
    size = slot_bytes(plan.tile, plan.aux_ratio, stats)
    memory = shared_memory.SharedMemory(create=True, size=len(tiles) * size)  # a slot per tile: run synchronously
    handler = signal.getsignal(signal.SIGINT)  # the worker ignores Ctrl-C: restored below
    try:
        for capacity, kind in ((64, "pickled"), (size, "tile")):
            jobs, results, free = queue.Queue(), queue.Queue(), queue.Queue()
            for slot in range(len(tiles)):
                free.put(slot)
            jobs.put((7, ReadJob(plan.reader.portable(), stats, plan.use_region_mask, tiles, memory.name, capacity)))
            jobs.put(None)
            _worker_main(jobs, results, free, multiprocessing.RawValue("b", 0))
            messages = [results.get_nowait() for _ in range(results.qsize())]
            assert [m[0] for m in messages] == [kind] * 3 + ["end"]
            for message, want in zip(messages, expected):
                got = message[3] if kind == "pickled" else _unpack(message[4], memory.buf, list(stats))
                assert np.array_equal(got[0], want[0])
                assert all(np.array_equal(got[1][k], want[1][k]) and np.array_equal(got[2][k], want[2][k])
                           for k in stats)
    finally:
        signal.signal(signal.SIGINT, handler)
        memory.close()
        memory.unlink()
        plan.reader.close()


def test_reader_processes_start_from_a_script_without_a_main_guard(bulk_scenes, bulk_model, tmp_path):
    """The workers do not re-import ``__main__``: a plain script works (multiprocessing's spawn would rerun it)."""
    script = tmp_path / "plain.py"
    script.write_text(
        "from engine.config import SegmentConfig\nfrom engine.segment import segment\n"
        f"r = segment(SegmentConfig(image={str(bulk_scenes / 'c.tif')!r}, aux=[{str(bulk_scenes / 'c_aux.tif')!r}], "
        f"models=[{bulk_model!r}], device='cpu', overlap=0.5, readers=2, reader_processes=True, "
        f"output={str(tmp_path / 'x.tif')!r}))\nprint('tiles', r.tiles)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("tiles 20") == 1 and "bootstrapping" not in done.stderr
