"""Section "model_cost" of ``make bench``: see :mod:`bench.model_cost`."""

from bench.model_cost import TITLE, run

__all__ = ["TITLE", "run"]
