"""How many CPU threads a model should run with: the cores no other process is using right now.

A model's intra-op threads meet at a barrier after every operator. On a machine where other processes keep
cores busy (a desktop in use, other jobs), a thread per core means some thread always waits for a core, and its
siblings wait (or spin) for it: the run slows far beyond its fair share. Running on the cores that are free
keeps every thread on a core.
"""

from __future__ import annotations

import os
import time

from .environment import process_cores

LOADAVG = "/proc/loadavg"
SAMPLES = 5  # snapshots of the run queue, SAMPLE_INTERVAL apart; their median (a short task is not a busy core)
SAMPLE_INTERVAL = 0.01


def _running_now() -> int | None:
    """Runnable tasks on the machine now, this thread included (/proc/loadavg's ``running/total``)."""
    try:
        with open(LOADAVG, encoding="ascii") as handle:
            return int(handle.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def busy_elsewhere() -> int:
    """Cores other tasks keep busy now: the median runnable count of a few snapshots, less this thread."""
    counts = []
    for index in range(SAMPLES):
        count = _running_now()
        if count is None:
            return 0  # not Linux: unknown, assume quiet
        counts.append(count)
        if index + 1 < SAMPLES:
            time.sleep(SAMPLE_INTERVAL)
    return max(0, sorted(counts)[len(counts) // 2] - 1)


def env_threads() -> int | None:
    """OMP_NUM_THREADS when the user set it (a cap the runtimes honour)."""
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def free_cores() -> int:
    """Threads for a model on the CPU: this process's cores less those busy elsewhere, at least 1, at most
    OMP_NUM_THREADS when set."""
    free = max(1, process_cores() - busy_elsewhere())
    cap = env_threads()
    return min(free, cap) if cap else free
