"""What every benchmark section receives, and the small helpers the benchmarks share: timing, the command line run
as a user runs it, and the spread of several seeds' figures."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, with the repository first on PYTHONPATH (kept, not
    replaced: a machine that brings packages through PYTHONPATH keeps them in the children)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)


@dataclass
class BenchContext:
    """Settings of one benchmark run, handed to every section.

    Attributes:
        output_dir: where results.json/results.md go; sections may write extra files here.
        quick: smaller sizes and fewer repeats (CI smoke runs).
        device: "auto", "cpu" or "cuda" (sections resolve it with engine.runtime.environment.resolve_device).
        seed: seed for anything random.
        realdata: folder of the real data set, or None when absent.
    """

    output_dir: Path
    quick: bool = False
    device: str = "auto"
    seed: int = 0
    realdata: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def time_call(func: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Run ``func`` ``warmup`` + ``repeats`` times; return median/min/max seconds of the timed runs."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": len(times)}


def cli(*args: str) -> dict[str, Any]:
    """Run ``python -m engine ARGS`` in a fresh process (as a user would); its JSON result (``{}`` when it prints
    none), or RuntimeError with its output."""
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dualstream {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    text = done.stdout.strip()
    return json.loads(text[text.index("{"):]) if "{" in text else {}


def spread(values: list[Any], key: str | None = None) -> str:
    """``mean (min-max)`` of the seeds' figures: ``values`` numbers, or results whose ``key`` is the figure."""
    figures = [v[key] for v in values] if key else list(values)
    return f"{statistics.mean(figures):.3f} ({min(figures):.3f}-{max(figures):.3f})"

