"""A tqdm-backed engine callback for the command line: one progress bar per stage, on stderr.

Messages and a line per epoch are written above the bars (``tqdm.write``), so bars and text do not tangle. Under
torchrun only rank 0 shows anything. Where the stream is no terminal (a SLURM job's log, ``| tee``, CI) bars would
fill the file with redraws, so a stage that runs long gets a plain line every ``LOG_SECONDS`` instead (``tiles: 40%
(200/500), about 0:03:10 left``), and its last one at its end.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..api import Callback, Stage, epoch_line, is_main_process, printable, render, time_left
from .options import flag_name

LOG_SECONDS = 30.0


def _interactive(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


# Set by the CLI's SIGTERM handler: the interrupt it raises can be swallowed (one that lands in a __del__ is only
# printed), so every callback also says "canceled" from then on and the run stops at its next check.
STOP_REQUESTED = threading.Event()


class TqdmCallback(Callback):
    """Progress bars per stage and messages on ``stream`` (stderr); ``disable_bars`` None: bars on a terminal only."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, disable_bars: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stderr
        self.quiet = quiet or not is_main_process()
        self.disable_bars = (self.quiet or not _interactive(self.stream)) if disable_bars is None else disable_bars
        self.log_lines = not self.quiet and self.disable_bars and disable_bars is None  # bars off for the stream
        self.clock = clock
        self._bars: dict[str, Any] = {}
        self._complete: dict[str, float | None] = {}  # stage -> total of its last report if that one was complete
        self._logged: dict[str, tuple[float, float, bool]] = {}  # stage -> (started, last line, a line written)

    def _bar(self, stage: str, total: float) -> Any:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            units = ({"unit": "B", "unit_scale": True, "unit_divisor": 1024} if stage == Stage.DOWNLOAD  # bytes
                     else {"unit": "step" if stage == Stage.TRAIN else "it"})
            bar = tqdm(total=total, desc=stage or "progress", file=self.stream, dynamic_ncols=True, leave=False,
                       disable=self.disable_bars, **units)
            self._bars[stage] = bar
        return bar

    def is_canceled(self) -> bool:
        return STOP_REQUESTED.is_set()

    def progress(self, done: float, total: float, stage: str = "") -> None:
        if done >= total and self._complete.get(stage) == total:
            return  # complete again (a bulk run's tile count at its last scene's end): no second, empty bar
        self._complete[stage] = total if done >= total else None
        if self.log_lines:
            if stage != Stage.SCENES:  # a bulk run writes a line per scene anyway ("[3/15] name: done ...")
                self._log_line(done, total, stage)
            return
        bar = self._bar(stage, total)
        bar.n = done
        bar.refresh() if done >= total else bar.update(0)
        if done >= total and stage != Stage.TRAIN:
            bar.close()
            del self._bars[stage]

    def _log_line(self, done: float, total: float, stage: str) -> None:
        """A plain progress line for a log file: every LOG_SECONDS while the stage runs, and at its end if it
        wrote one before (short stages stay silent: their messages say enough)."""
        now = self.clock()
        started, last, written = self._logged.get(stage, (now, now, False))
        if done <= 0 or total <= 0:
            self._logged[stage] = (now, now, False)  # the stage (again) from its start
            return
        finished = done >= total
        if now - last >= LOG_SECONDS or (finished and written):
            fraction = min(1.0, done / total)
            left = round((now - started) * (1 - fraction) / fraction) if not finished else 0
            eta = f", about {time_left(left)} left" if left else ""
            self._write(f"{stage or 'progress'}: {100 * fraction:.0f}% ({done:g}/{total:g}){eta}")
            last, written = now, True
        self._logged[stage] = (started, last, written)
        if finished:
            del self._logged[stage]

    def _write(self, text: str, even_quiet: bool = False) -> None:
        if (self.quiet and not even_quiet) or not is_main_process():
            return
        from tqdm import tqdm

        tqdm.write(printable(text, lines=True), file=self.stream)  # names from files: no terminal controls

    def info(self, message: str) -> None:
        self._write(render(message, flag_name))

    def warning(self, message: str) -> None:
        self._write(f"warning: {render(message, flag_name)}", even_quiet=True)  # never from ranks other than 0

    def metrics(self, epoch: int, values: dict[str, Any]) -> None:
        self._write(epoch_line(epoch, values))  # every figure of the epoch: --json, the metrics CSV

    def __enter__(self) -> TqdmCallback:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
