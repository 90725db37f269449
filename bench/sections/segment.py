"""Section "segment" of ``make bench``: see :mod:`bench.bench_segment`."""

from bench.bench_segment import TITLE, run

__all__ = ["TITLE", "run"]
