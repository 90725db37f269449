"""`make bench`'s entry point runs and writes both result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_gil_probe_tells_lock_holding_work_from_waiting_work():
    import time

    from bench.gil_probe import lock_held_seconds

    def python_work():  # holds the lock throughout
        total = 0
        for i in range(1_500_000):
            total += i
        return total

    start = time.perf_counter()
    python_work()
    alone = time.perf_counter() - start
    held, wall, result = lock_held_seconds(python_work, idle_seconds=0.3)
    assert result == sum(range(1_500_000))
    assert 0.6 * alone < held <= wall
    held, wall, _ = lock_held_seconds(lambda: time.sleep(0.3), idle_seconds=0.3)  # waits without the lock
    assert wall >= 0.3 and held < 0.25 * wall
