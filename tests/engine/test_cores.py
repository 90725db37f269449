"""Model threads on the CPU: torch's spinning threads on the free cores, onnxruntime's sleeping ones on every core
of the process, whatever else runs; OMP_NUM_THREADS caps both."""

from __future__ import annotations

import engine.runtime.cores as cores
from engine.runtime.environment import process_cores


def _machine(monkeypatch, running: int) -> None:
    """A machine where ``running`` tasks are runnable, this one included."""
    monkeypatch.setattr(cores, "_running_now", lambda: running)
    monkeypatch.setattr(cores, "SAMPLE_INTERVAL", 0.0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_sleeping_threads_use_every_core_of_the_process_on_a_busy_machine(monkeypatch):
    _machine(monkeypatch, running=1 + 64)
    assert cores.busy_elsewhere() == 64
    assert cores.model_threads(spinning=False) == process_cores()
    assert cores.model_threads(spinning=True) == 1


def test_spinning_threads_take_the_free_cores(monkeypatch):
    _machine(monkeypatch, running=1)  # nothing else runs
    assert cores.model_threads(spinning=True) == process_cores() == cores.model_threads(spinning=False)
    _machine(monkeypatch, running=2)
    assert cores.model_threads(spinning=True) == max(1, process_cores() - 1)


def test_omp_num_threads_caps_both(monkeypatch):
    _machine(monkeypatch, running=1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cores.model_threads(spinning=False) == 1 == cores.model_threads(spinning=True)


def test_torch_threads_follow_the_machine_under_the_ceiling_someone_else_set(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # a user's (or a test's) setting: the ceiling
        _machine(monkeypatch, running=1 + 64)  # busy: one thread
        assert cores.torch_cpu_threads(torch) == 1 == torch.get_num_threads()
        _machine(monkeypatch, running=1)  # quiet again: back up to the ceiling, not stuck at the busy moment's 1
        assert cores.torch_cpu_threads(torch) == min(2, process_cores()) == torch.get_num_threads()
        torch.set_num_threads(1)  # set by someone else since: the new ceiling, even on a quiet machine
        assert cores.torch_cpu_threads(torch) == 1
    finally:
        torch.set_num_threads(before)
