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
