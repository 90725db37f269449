"""Section "cpu_default" of ``make bench``: see :mod:`bench.cpu_default`."""

from bench.cpu_default import TITLE, run

__all__ = ["TITLE", "run"]
