"""How many CPU threads a model should run with (:func:`model_threads`), and whether this CPU computes in bfloat16
natively (:func:`bf16_instructions`).

A model's intra-op threads meet at a barrier after every operator. Where they spin while they wait (torch's
OpenMP threads), other processes keeping cores busy leave some thread waiting for a core while its siblings burn
theirs (UNet light on 2 cores at load 13: 2 threads took 1.9x as long as 1): such a runtime gets the free cores.
Where waiting threads sleep (onnxruntime as the engine opens it, ``allow_spinning`` 0), a thread per core gets
more of a busy machine, not less (at load 12: 2 threads 1.12x faster than 1): it gets every core of the process.
A long run follows the machine (:func:`follow_torch_threads`, between batches: at load 7-10, 512-px tiles of a
ConvNeXt-tiny UNet took 1.9-2.3x as long with 2 threads as with 1); this process's own runnable threads are not
counted as busy elsewhere.

With AMX or AVX-512 BF16, oneDNN's bfloat16 convolutions and matrix products run at about twice the float32 rate;
without, bfloat16 is emulated and slower. torch reports both (private helpers of ``torch.cpu``, asked
defensively); Linux's ``/proc/cpuinfo`` flags answer where torch cannot.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from typing import Any

from .environment import process_cores

LOADAVG = "/proc/loadavg"
SAMPLES = 5  # snapshots of the run queue, SAMPLE_INTERVAL apart; their median (a short task is not a busy core)
SAMPLE_INTERVAL = 0.01
RECHECK_SECONDS = 10.0  # a running segmentation chooses torch's threads again this often
CPUINFO = "/proc/cpuinfo"
#: Flag in /proc/cpuinfo -> the instruction set's name as the log says it.
BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX-512 BF16"}


def _running_now() -> int | None:
    """Runnable tasks on the machine now, this thread included (/proc/loadavg's ``running/total``)."""
    try:
        with open(LOADAVG, encoding="ascii") as handle:
            return int(handle.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def _own_running() -> int:
    """This process's runnable threads now (this one included): /proc/self/task/*/stat state R; 1 if unknown."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    running = 0
    for task in tasks:
        stat = f"/proc/self/task/{task}/stat"
        with suppress(OSError, IndexError), open(stat, encoding="ascii", errors="replace") as handle:
            running += handle.read().rsplit(")", 1)[-1].split()[0] == "R"
    return max(1, running)


def busy_elsewhere() -> int:
    """Cores other processes keep busy now: the median of a few snapshots, less this process's runnable threads."""
    counts = []
    for index in range(SAMPLES):
        count = _running_now()
        if count is None:
            return 0  # not Linux: unknown, assume quiet
        counts.append(count - _own_running() + 1)
        if index + 1 < SAMPLES:
            time.sleep(SAMPLE_INTERVAL)
    return max(0, sorted(counts)[len(counts) // 2] - 1)


def _capped(cores: int) -> int:
    """``cores``, at most OMP_NUM_THREADS when the user set it (a cap the runtimes honour)."""
    try:
        cap = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return cores
    return min(cores, cap) if cap > 0 else cores


def free_cores() -> int:
    """This process's cores less those busy elsewhere now, at least 1, at most OMP_NUM_THREADS when set."""
    return _capped(max(1, process_cores() - busy_elsewhere()))


def model_threads(spinning: bool) -> int:
    """Threads for a model on the CPU: the free cores for a runtime whose threads spin between operators, else
    every core of this process; at most OMP_NUM_THREADS when set."""
    return free_cores() if spinning else _capped(process_cores())


_torch_ceiling: int | None = None  # the most threads torch may get: the user's (or a test's) setting, or its default
_torch_set: int | None = None  # what torch_cpu_threads last set


def torch_cpu_threads(torch: Any) -> int:
    """Set (and return) torch's CPU threads for a run about to start: :func:`model_threads` for spinning threads,
    never above torch's count when first asked or whatever someone else set since (a user, a test), so a process
    that met a busy machine once goes back up when it is quiet."""
    global _torch_ceiling, _torch_set
    current = torch.get_num_threads()
    if _torch_ceiling is None or current != _torch_set:
        _torch_ceiling = current
    _torch_set = min(_torch_ceiling, model_threads(spinning=True))
    torch.set_num_threads(_torch_set)
    return _torch_set


_followed_at: float | None = None  # when follow_torch_threads last chose


def follow_torch_threads(torch: Any, every: float = RECHECK_SECONDS) -> int:
    """:func:`torch_cpu_threads` again once ``every`` seconds have passed since it last chose here."""
    global _followed_at
    now = time.monotonic()
    if _followed_at is not None and now - _followed_at < every:
        return torch.get_num_threads()
    _followed_at = now
    return torch_cpu_threads(torch)


def bf16_instructions(torch: Any = None, flags: set[str] | None = None) -> str | None:
    """The name of the instruction set with which this CPU computes bfloat16 natively, or None."""
    if torch is not None:
        cpu = getattr(torch, "cpu", None)
        for name, check in (("AMX-BF16", "_is_amx_tile_supported"), ("AVX-512 BF16", "_is_avx512_bf16_supported")):
            try:
                if getattr(cpu, check)():
                    return name
            except (AttributeError, RuntimeError):
                continue
    if flags is None:  # where torch cannot tell: the first flags line of /proc/cpuinfo
        flags = set()
        with suppress(OSError), open(CPUINFO, encoding="ascii", errors="replace") as handle:
            flags = next((set(line.split(":", 1)[1].split()) for line in handle if line.startswith("flags")), set())
    return next((name for flag, name in BF16_FLAGS.items() if flag in flags), None)
