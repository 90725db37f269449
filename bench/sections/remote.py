"""Section "remote" of ``make bench``: see :mod:`bench.bench_remote`."""

from bench.bench_remote import TITLE, run

__all__ = ["TITLE", "run"]
