"""Section "foundation" of ``make bench``: see :mod:`bench.foundation`."""

from bench.foundation import TITLE, run

__all__ = ["TITLE", "run"]
