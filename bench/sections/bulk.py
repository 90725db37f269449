"""Section "bulk" of ``make bench``: see :mod:`bench.bench_bulk`."""

from bench.bench_bulk import TITLE, run

__all__ = ["TITLE", "run"]
