"""A tqdm-backed engine callback for the command line: one progress bar per stage, on stderr.

Messages and per-epoch metrics are written above the bars (``tqdm.write``), so bars and text do not tangle.
Under torchrun only rank 0 shows anything.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from .callbacks import Callback


class TqdmCallback(Callback):
    """Progress bars per stage ("train", "validate", "segment", ...) and messages on ``stream`` (stderr)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, disable_bars: bool | None = None):
        self.stream = stream or sys.stderr
        self.quiet = quiet or int(os.environ.get("RANK", "0")) != 0
        self.disable_bars = self.quiet if disable_bars is None else disable_bars
        self._bars: dict[str, Any] = {}
        self._complete: dict[str, float] = {}  # stage -> total of its last report, when that one was complete

    def _bar(self, stage: str, total: float) -> Any:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=stage or "progress", file=self.stream, dynamic_ncols=True, leave=False,
                       disable=self.disable_bars, unit="step" if stage == "train" else "it")
            self._bars[stage] = bar
        return bar

    def progress(self, done: float, total: float, stage: str = "") -> None:
        if done >= total and self._complete.get(stage) == total:
            return  # complete again (a bulk run's tile count at its last scene's end): no second, empty bar
        if done >= total:
            self._complete[stage] = total
        else:
            self._complete.pop(stage, None)
        bar = self._bar(stage, total)
        bar.n = done
        bar.refresh() if done >= total else bar.update(0)
        if done >= total and stage != "train":
            bar.close()
            del self._bars[stage]

    def _write(self, text: str) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        tqdm.write(text, file=self.stream)

    def info(self, message: str) -> None:
        self._write(message)

    def warning(self, message: str) -> None:
        # Warnings are shown even when quiet (but never from ranks other than 0).
        if int(os.environ.get("RANK", "0")) != 0:
            return
        from tqdm import tqdm

        tqdm.write(f"warning: {message}", file=self.stream)

    def metrics(self, epoch: int, values: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
                          if k not in ("epoch",))
        self._write(f"epoch {epoch}: {shown}")

    def __enter__(self) -> TqdmCallback:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
