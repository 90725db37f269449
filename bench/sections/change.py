"""Section "change" of ``make bench``: see :mod:`bench.change`."""

from bench.change import TITLE, run

__all__ = ["TITLE", "run"]
