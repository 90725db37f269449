"""Nothing left behind on a failure or a signal (issue 24, item 8), through the real command line: a full disk
before training's first checkpoint, SIGTERM during training (before and after its first checkpoint), SIGTERM
while a segmentation finishes its outputs.

Each check is recorded in the suite's ledger (section "cli") like the table's cases.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from ..cases import seg, train
from ..workspace import file_limit, start_cli, wait_for

pytestmark = pytest.mark.timeout(600, func_only=True)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _stop(proc: Any) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=240)


def test_disk_full_before_the_first_checkpoint_leaves_nothing(workspace: dict, tmp_path: Path, ledger: Any) -> None:
    """The best bundle so far (~4 MiB) fits under the limit, the checkpoint (~13 MiB) does not: the .partial
    that no checkpoint refers to must go."""
    from ..workspace import run_cli

    done = run_cli(*train(workspace, tmp_path), preexec=file_limit(8_000_000))
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    left = _files(tmp_path)
    ok = done.returncode == 2 and len(errors) == 1 and "nothing is kept" in errors[0] and left == []
    ledger.record("cli", "train_disk_full_before_first_checkpoint_leaves_nothing", clear_error=ok,
                  left_behind=bool(left), ok=ok)
    assert ok, (left, done.stdout + done.stderr)


def test_sigterm_in_training_names_the_checkpoint_and_resume(workspace: dict, tmp_path: Path,
                                                            ledger: Any) -> None:
    ckpt = tmp_path / "m.dsmodel.ckpt"
    proc = start_cli(*train(workspace, tmp_path, "--epochs", "20", "--tiles-per-epoch", "4"))
    wait_for(ckpt.exists, proc, "the first checkpoint")
    out, err = _stop(proc)
    lines = [line for line in err.splitlines() if line.startswith("canceled:")]
    left = _files(tmp_path)
    ok = (proc.returncode == 130 and len(lines) == 1 and str(ckpt) in lines[0] and "--resume" in lines[0]
          and "Traceback" not in err and "m.dsmodel" not in left and "m.dsmodel.lock" not in left
          and "m.dsmodel.partial" not in left)  # issue 40, item 12: the checkpoint holds the best bundle
    ledger.record("cli", "train_sigterm_names_checkpoint_and_resume", clear_error=ok, traceback="Traceback" in err,
                  left_behind="m.dsmodel" in left or "m.dsmodel.partial" in left, ok=ok)
    assert ok, (proc.returncode, left, out + err)


def test_sigterm_before_the_first_checkpoint_says_nothing_was_kept(workspace: dict, tmp_path: Path,
                                                                   ledger: Any) -> None:
    lock = tmp_path / "m.dsmodel.lock"
    proc = start_cli(*train(workspace, tmp_path))
    wait_for(lock.exists, proc, "the training's lock")
    out, err = _stop(proc)
    lines = [line for line in err.splitlines() if line.startswith("canceled:")]
    left = _files(tmp_path)
    finished = proc.returncode == 0  # the machine trained the one short epoch before the signal came
    ok = finished or (proc.returncode == 130 and len(lines) == 1 and "nothing was kept" in lines[0] and left == [])
    ledger.record("cli", "train_sigterm_before_checkpoint_leaves_nothing", clear_error=ok and not finished,
                  worked=ok and finished, left_behind=not finished and bool(left), ok=ok)
    assert ok, (proc.returncode, left, out + err)


def test_sigterm_while_outputs_are_finished_leaves_nothing(workspace: dict, tmp_path: Path, ledger: Any) -> None:
    """SIGTERM once the class raster's temp file has its sidecar (category names): finishing (overviews,
    polygons) is interrupted; no temp file, sidecar, lock or output may stay, and no traceback."""
    from osgeo import gdal

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    big = inputs / "big.vrt"
    gdal.Translate(str(big), workspace["image"], format="VRT", width=1024, height=1024)
    out = tmp_path / "out"
    out.mkdir()
    proc = start_cli(*seg(workspace, out, "--tile-size", "256", "--polygons", str(out / "out.gpkg"), image=str(big)))
    wait_for(lambda: any(p.name.endswith(".tif.aux.xml") for p in out.iterdir()), proc, "the temp file's sidecar",
              timeout=400)
    stdout, err = _stop(proc)
    left = _files(out)
    # all published (the signal came while the outputs were renamed into place, which it waits for, or after
    # the run) or none, and nothing else: no temp file, sidecar or lock
    published = {"out.tif", "out.tif.aux.xml", "out.qml", "out.gpkg"}
    finished = set(left) == published
    clean = proc.returncode == 130 and left == []
    ok = (finished or clean) and "Traceback" not in err and "error" not in err.lower()
    ledger.record("cli", "segment_sigterm_while_finishing_leaves_nothing", worked=ok, traceback="Traceback" in err,
                  left_behind=not finished and bool(left), ok=ok)
    assert ok, (proc.returncode, left, stdout + err)
