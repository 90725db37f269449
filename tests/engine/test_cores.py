"""Model threads on the CPU: torch's spinning threads on the free cores, onnxruntime's sleeping ones on every core
of the process, whatever else runs; OMP_NUM_THREADS caps both."""

from __future__ import annotations

import engine.runtime.cores as cores
from engine.runtime.environment import process_cores


def _machine(monkeypatch, running: int) -> None:
    """A machine where ``running`` tasks are runnable, this one included."""
    monkeypatch.setattr(cores, "_running_now", lambda: running)
    monkeypatch.setattr(cores, "_own_running", lambda: 1)  # this thread alone
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


def test_this_process_own_running_threads_are_not_busy_elsewhere(monkeypatch):
    _machine(monkeypatch, running=3)
    monkeypatch.setattr(cores, "_own_running", lambda: 3)  # this thread, a reader and a spinning torch worker
    assert cores.busy_elsewhere() == 0
    monkeypatch.setattr(cores, "_own_running", lambda: 1)
    assert cores.busy_elsewhere() == 2


def test_a_long_run_follows_the_machine_between_batches(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(cores, "_followed_at", None)
        _machine(monkeypatch, running=1)  # quiet when the run starts
        assert cores.follow_torch_threads(torch) == min(2, process_cores())
        _machine(monkeypatch, running=1 + 64)  # others start working
        assert cores.follow_torch_threads(torch, every=3600) == min(2, process_cores())  # not yet looked again
        assert cores.follow_torch_threads(torch, every=0) == 1 == torch.get_num_threads()
        _machine(monkeypatch, running=1)
        assert cores.follow_torch_threads(torch, every=0) == min(2, process_cores())
    finally:
        torch.set_num_threads(before)


def test_own_running_threads_are_read_from_proc():
    assert cores._own_running() >= 1  # at least this thread, which is running
