"""Section "train_speed" of ``make bench``: see :mod:`bench.train_speed`."""

from bench.train_speed import TITLE, run

__all__ = ["TITLE", "run"]
