"""The one way the plugin starts programs (QGIS's Python, pip, nvidia-smi).

* Windows: no console window flashes up for each call (``CREATE_NO_WINDOW``).
* Output is read by a thread and handed over in pieces, so the caller polls ``canceled()`` at least every
  :data:`POLL_S` seconds even while the program prints nothing (a long download): Cancel stops it within
  seconds, first politely (terminate), then for sure (kill), with any programs it started itself.
* Text is UTF-8 both ways whatever the system's code page is (pip prints package names and paths).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from typing import Callable

#: How often a running program's caller looks at Cancel and its progress (seconds).
POLL_S = 0.25
#: How long a program gets to end after terminate before it is killed (seconds).
GRACE_S = 3.0


class Canceled(RuntimeError):
    """The user canceled: the program was stopped."""


def window_flags() -> dict:
    """Popen arguments that keep a console program without a window on Windows, and in a process group of its
    own elsewhere (so that stopping it also stops what it started)."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NO_WINDOW | subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the child's Python talking UTF-8."""
    return dict(os.environ if env is None else env, PYTHONIOENCODING="utf-8", PYTHONUTF8="1")


def run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``command`` to its end and capture its output (stdout and stderr apart); raises OSError when it cannot
    start and subprocess.TimeoutExpired (after stopping it) when it runs past ``timeout`` seconds."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=child_env(env), encoding="utf-8", errors="replace", **window_flags())
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def stream(command: list[str], *, env: dict[str, str] | None, on_line: Callable[[str], None],
           canceled: Callable[[], bool], on_tick: Callable[[], None] | None = None) -> int:
    """Run ``command``, giving each line it prints (stdout and stderr together) to ``on_line`` as it comes and
    calling ``on_tick`` at least every :data:`POLL_S` seconds; returns its exit code. When ``canceled()``
    becomes true the program is stopped and :class:`Canceled` raised."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=child_env(env), encoding="utf-8", errors="replace", **window_flags())
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, name="dualstream-output", daemon=True)
    reader.start()
    try:
        while True:
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                on_line(line.rstrip("\r\n"))
            if canceled():
                stop(process)
                raise Canceled(f"{os.path.basename(command[0])} was stopped (exit code {process.returncode})")
            if on_tick is not None:
                on_tick()
        return process.wait()
    finally:
        if process.poll() is None:
            stop(process)
        reader.join(timeout=GRACE_S)  # the pipe ends with the program (unless something it started holds it)
        if not reader.is_alive():
            process.stdout.close()


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process`` (and its process group), then kill it if it has not ended after :data:`GRACE_S`."""
    if process.poll() is not None:
        return
    _signal(process, signal.SIGTERM)
    try:
        process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        _signal(process, getattr(signal, "SIGKILL", signal.SIGTERM))
        process.wait()


def _signal(process: subprocess.Popen, number: int) -> None:
    try:
        if os.name == "nt":
            process.kill()  # TerminateProcess: Windows has no polite signal for a program without a window
        else:
            os.killpg(process.pid, number)  # the session window_flags started: pip and its children
    except (ProcessLookupError, PermissionError):
        pass
