"""Faults through the real command line: a second writer on the same output, ``kill -9`` mid-run and the run
after it, and a full disk (``RLIMIT_FSIZE``; a real full tmpfs too where this machine lets us mount one).

Each check is recorded in the suite's ledger (section "cli") like the table's cases.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ..cases import seg, train
from ..conftest import digest
from ..workspace import file_limit, run_cli, start_cli, wait_for

# each fault sequence is one test item with its own limit (the shared workspace is built outside it)
pytestmark = pytest.mark.timeout(600, func_only=True)


def _visible(folder: Path) -> list[str]:
    """Files a user would take for results: not hidden temp files, not lock files."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and not p.name.endswith(".lock"))


def _one_error(done: Any) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return lines[0]


def test_training_second_writer_kill_disk_full_and_resume(workspace: dict, tmp_path: Path, ledger: Any) -> None:
    d = tmp_path
    bundle = d / "m.dsmodel"
    ckpt = Path(str(bundle) + ".ckpt")
    argv = train(workspace, d, "--epochs", "3", "--tiles-per-epoch", "4")
    first = start_cli(*argv)
    try:
        # 1. a second training onto the same bundle while the first holds the lock: refused at once
        wait_for(lambda: Path(str(bundle) + ".lock").exists(), first, "the first run's lock")
        second = run_cli(*argv)
        message = _one_error(second)
        ok = second.returncode == 2 and "another dualstream run" in message.lower() and "m.dsmodel" in message
        ledger.record("cli", "concurrent_train_refused", clear_error=ok, ok=ok)
        assert ok, message
        # 2. kill -9 after the first epoch's checkpoint: no bundle at the finished name
        wait_for(ckpt.exists, first, "the first checkpoint")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    ckpt_epoch = _checkpoint_epoch(ckpt)
    ok = not bundle.exists() and ckpt_epoch >= 1
    ledger.record("cli", "train_sigkill_leaves_no_bundle", worked=ok, left_behind=bundle.exists(), ok=ok)
    assert ok, _visible(d)

    # 3. resume on a "full disk" with a previous bundle at the destination: clear error, both files untouched
    bundle.write_bytes(Path(workspace["bundle"]).read_bytes())
    hashes = {p: digest(p) for p in (bundle, ckpt)}
    listing = _visible(d)
    full = run_cli(*argv, "--resume", preexec=file_limit(1_000_000))
    message = _one_error(full)
    unchanged = {p: digest(p) for p in (bundle, ckpt)} == hashes and _visible(d) == listing
    ok = full.returncode == 2 and "could not write" in message.lower() and "--resume" in message and unchanged
    ledger.record("cli", "train_disk_full_keeps_checkpoint_and_bundle", clear_error=ok,
                  input_changed=not unchanged, ok=ok)
    assert ok, message

    # 4. resume for real: it goes on from the checkpoint, losing at most the epoch that was running
    done = run_cli(*argv, "--resume", "--json")
    result = json.loads(done.stdout) if done.returncode == 0 else {}
    ok = (done.returncode == 0 and result.get("epochs_run") == 3 - ckpt_epoch
          and [h["epoch"] for h in result["history"]] == [1, 2, 3] and digest(bundle) != hashes[bundle])
    ledger.record("cli", "train_resume_after_sigkill", worked=ok, ok=ok)
    assert ok, done.stdout + done.stderr
    assert not list(d.glob("*.lock")), "the finished run must remove its lock file"


def _checkpoint_epoch(path: Path) -> int:
    from engine.training.checkpoint import load_checkpoint

    return int(load_checkpoint(path)["epoch"])


def _partial_raster(path: Path) -> bool:
    return path.name.startswith(".out.tmp-") and path.suffix == ".tif"


def test_segmentation_second_writer_kill_rerun_and_disk_full(workspace: dict, tmp_path: Path,
                                                             ledger: Any) -> None:
    d = tmp_path
    out = d / "out.tif"
    # a 1024 x 1024 view of the scene (a VRT: nothing to write) gives a run of a few hundred tiles
    from osgeo import gdal

    big = d / "inputs" / "big.vrt"
    big.parent.mkdir()
    gdal.Translate(str(big), workspace["image"], format="VRT", width=1024, height=1024)
    # torch on purpose: the onnxruntime default finishes these tiles before a second run could start
    argv = seg(workspace, d, "--tile-size", "64", "--batch-size", "1", "--backend", "torch", image=str(big))
    first = start_cli(*argv)
    try:
        # the raster's own temporary file, not the writability probe (.out.tmp-*.probe), which comes and goes first
        wait_for(lambda: any(_partial_raster(p) for p in d.iterdir()), first, "the first tiles")
        second = run_cli(*argv)
        message = _one_error(second)
        ok = second.returncode == 2 and "another dualstream run" in message.lower() and "out.tif" in message
        ledger.record("cli", "concurrent_segment_refused", clear_error=ok, ok=ok)
        assert ok, message
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    ok = first.returncode == -signal.SIGKILL and not out.exists() and "out.qml" not in _visible(d)
    ledger.record("cli", "segment_sigkill_leaves_no_output", worked=ok, left_behind=out.exists(), ok=ok)
    assert ok, (first.returncode, _visible(d))

    abandoned = sorted(p.name for p in d.iterdir() if _partial_raster(p))
    assert abandoned  # the killed run's hidden partial raster
    rerun = run_cli(*argv)
    left = sorted(p.name for p in d.iterdir() if ".tmp-" in p.name)
    ok = rerun.returncode == 0 and out.exists() and not list(d.glob("*.lock"))
    ledger.record("cli", "segment_rerun_after_sigkill", worked=ok, ok=ok)
    assert ok, rerun.stdout + rerun.stderr
    # the rerun holds the output's lock, so the killed run's partial files are litter: removed
    ok = left == []
    ledger.record("cli", "segment_rerun_removes_killed_runs_partial_files", worked=ok, ok=ok)
    assert ok, (abandoned, left, rerun.stdout + rerun.stderr)
    import rasterio

    with rasterio.open(out) as ds:
        assert ds.read(1).shape == (1024, 1024)

    # a full disk while writing over that result: the previous file stays byte for byte, no temp file stays
    before, listing = digest(out), sorted(p.name for p in d.iterdir())
    full = run_cli(*seg(workspace, d, "--probabilities", str(d / "p.tif"), image=str(big)),
                   preexec=file_limit(64 * 1024))
    message = _one_error(full)
    after = sorted(p.name for p in d.iterdir())
    ok = (full.returncode == 2 and "could not write" in message.lower() and "free" in message
          and digest(out) == before and after == listing)
    ledger.record("cli", "segment_disk_full_keeps_previous_output", clear_error=ok,
                  input_changed=digest(out) != before, left_behind=after != listing, ok=ok)
    assert ok, f"{message}\n{listing}\n{after}"


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 256 KiB tmpfs (root only; elsewhere this variant does not run, the RLIMIT ones above always do)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the RLIMIT_FSIZE faults cover "
                    f"disk-full")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_segmentation_on_a_really_full_disk(workspace: dict, small_tmpfs: Path, ledger: Any) -> None:
    (small_tmpfs / "out.tif").write_bytes(b"previous result")
    filler = small_tmpfs / "filler.bin"
    filler.write_bytes(b"\0" * (240 * 1024))  # leave ~12 KiB: too little for the probabilities
    before = digest(small_tmpfs / "out.tif")
    done = run_cli(*seg(workspace, small_tmpfs, "--probabilities", str(small_tmpfs / "p.tif"),
                        image=workspace["float64"]))
    message = _one_error(done)
    left = sorted(p.name for p in small_tmpfs.iterdir())
    ok = (done.returncode == 2 and "no space left" in message.lower() and digest(small_tmpfs / "out.tif") == before
          and left == ["filler.bin", "out.tif"])
    ledger.record("cli", "segment_enospc_on_tmpfs", clear_error=ok, left_behind=left != ["filler.bin", "out.tif"],
                  ok=ok)
    assert ok, f"{message}\n{left}"
