"""The time budget of a training: the seconds spent in epochs (of this run and of the runs it resumes), whether
the budget is used up, and the share of it spent (which the cosine learning-rate schedule follows)."""

from __future__ import annotations

import time
from typing import Callable


class TimeBudget:
    """``minutes`` of epochs (None: no limit), counted by ``clock`` from :meth:`start`, plus ``spent_before``
    seconds of earlier runs."""

    def __init__(self, minutes: float | None, clock: Callable[[], float] = time.monotonic):
        self.minutes = minutes
        self.seconds = None if minutes is None else 60.0 * minutes
        self.clock = clock
        self.spent_before = 0.0
        self.started: float | None = None

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def start(self, spent_before: float = 0.0) -> None:
        self.spent_before = spent_before
        self.started = self.clock()

    def spent(self) -> float:
        """Seconds spent so far."""
        return self.spent_before + (0.0 if self.started is None else self.clock() - self.started)

    def fraction(self) -> float:
        """Share of the budget spent, in [0, 1] (0 without a budget)."""
        return 0.0 if self.seconds is None else min(1.0, self.spent() / self.seconds)

    def used_up(self, reserve: float = 0.0) -> bool:
        """Whether the budget is spent, keeping ``reserve`` seconds back (for the validation still to come)."""
        return self.seconds is not None and self.spent() + reserve >= self.seconds

    def describe(self) -> str:
        return "no time budget" if self.minutes is None else f"time budget of {self.minutes:.3g} min"
