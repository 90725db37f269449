"""How long work running in another thread holds Python's interpreter lock (GIL).

Reader threads scale only as far as the parts of their work that hold the GIL allow: whatever the core count, N
threads together deliver at most 1 / (GIL-held seconds per tile) tiles/s, and the thread driving the model needs
the lock too. This measures that share on any machine with two free cores: a pure-Python counter runs in the
calling thread while ``work`` runs in another; the counter loses the share of time the other thread holds the
lock. The switch interval is cut to 50 us for the measurement so that the counter gives the lock up almost at
once when the other thread asks for it (with Python's default 5 ms, a thread coming back from GDAL waits up to
5 ms for the counter, and the measurement becomes one of lock hand-over instead). What it cannot see: the lock
waits of several reader threads among themselves, and how fast the GPU machine's cores are.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

SWITCH_SECONDS = 50e-6


def _count_until(stop: threading.Event) -> int:
    n = 0
    while not stop.is_set():
        for _ in range(1000):
            n += 1
    return n


def _counter_rate(seconds: float) -> float:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    start = time.perf_counter()
    n = _count_until(stop)
    return n / (time.perf_counter() - start)


def lock_held_seconds(work: Callable[[], Any], idle_seconds: float = 1.0) -> tuple[float, float, Any]:
    """(seconds ``work`` held the GIL, its wall seconds, its result), ``work`` run once in another thread."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_SECONDS)
    try:
        before = _counter_rate(idle_seconds / 2)
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = work()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                outcome["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=run, name="gil-probe-work")
        start = time.perf_counter()
        thread.start()
        n = _count_until(done)
        wall = time.perf_counter() - start
        thread.join()
        # The counter's undisturbed rate taken on both sides of the work: a busy machine's slow spell in a single
        # calibration read as lock held (or not held) throughout the work.
        idle = (before + _counter_rate(idle_seconds / 2)) / 2
    finally:
        sys.setswitchinterval(previous)
    if "error" in outcome:
        raise outcome["error"]
    held_share = max(0.0, 1.0 - (n / wall) / idle)
    return held_share * wall, wall, outcome.get("result")


def _python_loop() -> int:
    total = 0
    for i in range(3_000_000):
        total += i
    return total


def calibration(rounds: int = 3) -> dict[str, float]:
    """Median lock-held shares of two known kinds of work on this machine now: a pure-Python loop (wants the lock
    throughout: about half, the counter taking the rest) and a sleep (never holds it: about 0). The probe's figures
    are trustworthy only where the first is well above the second: with fewer than two free cores the counter's
    rate follows the operating system's scheduling, not the lock."""
    shares: dict[str, list[float]] = {"python": [], "sleep": []}
    for _ in range(rounds):  # interleaved, so that a slow spell of the machine touches both
        for kind, work in (("python", _python_loop), ("sleep", lambda: time.sleep(0.3))):
            held, wall, _ = lock_held_seconds(work, idle_seconds=0.3)
            shares[kind].append(held / wall)
    python, sleep = (sorted(v)[len(v) // 2] for v in shares.values())
    return {"python_share": python, "sleep_share": sleep, "trustworthy": python > 0.3 and sleep < 0.1}
