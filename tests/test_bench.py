"""`make bench`'s entry point runs and writes both result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_bench_quick_environment_section_writes_results(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "environment",
                           "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    section = doc["sections"]["environment"]
    assert section["status"] == "ok"
    assert section["results"]["metrics"]["matmul_median_s"] > 0
    assert section["results"]["environment"]["torch"]
    assert "## Environment and reference timing" in (tmp_path / "results.md").read_text()


def test_gil_probe_runs_the_work_and_reports_its_share_of_the_lock():
    """What the probe must do on any machine: run the work once in another thread, return its result, re-raise its
    error, restore the switch interval and report a held time within the work's wall time. Whether the shares tell
    lock-holding work from waiting work needs two free cores (a busy 2-core machine read 0.0 for a pure-Python
    loop): ``bench.gil_probe.calibration`` measures that beside the bench's own figures instead."""
    import time

    from bench.gil_probe import calibration, lock_held_seconds

    interval = sys.getswitchinterval()
    held, wall, result = lock_held_seconds(lambda: sum(range(300_000)), idle_seconds=0.1)
    assert result == sum(range(300_000)) and 0 <= held <= wall
    held, wall, result = lock_held_seconds(lambda: time.sleep(0.2), idle_seconds=0.1)
    assert result is None and wall >= 0.2 and 0 <= held <= wall
    with pytest.raises(ZeroDivisionError):
        lock_held_seconds(lambda: 1 / 0, idle_seconds=0.1)
    assert sys.getswitchinterval() == interval
    probe = calibration(rounds=1)
    assert 0 <= probe["sleep_share"] <= 1 and 0 <= probe["python_share"] <= 1
    assert probe["trustworthy"] == (probe["python_share"] > 0.3 and probe["sleep_share"] < 0.1)
