"""Section "label_efficiency_s2" of ``make bench``: see :mod:`bench.label_efficiency_s2`."""

from bench.label_efficiency_s2 import TITLE, run

__all__ = ["TITLE", "run"]
