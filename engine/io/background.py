"""A write done by a background thread while the caller goes on (a training's checkpoint while its next epoch runs):
one write in flight at a time; a write's error is raised in the caller's thread by the next :meth:`submit` or
:meth:`wait`, so a failed write is never lost. The thread spends its time in file writes and fsync, which release
the interpreter's lock."""

from __future__ import annotations

import threading
from typing import Callable


class BackgroundWrite:
    """Runs ``work`` in a thread of its own, one at a time."""

    def __init__(self, name: str = "dualstream-write"):
        self.name = name
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by wait()
            self._error = exc

    def submit(self, work: Callable[[], None]) -> None:
        """Wait for the write in flight (raising its error), then start ``work``."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(work,), name=self.name, daemon=False)
        self._thread.start()

    def wait(self) -> None:
        """Block until the write in flight is done; raise its error, if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
