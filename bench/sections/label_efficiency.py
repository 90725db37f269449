"""Section "label_efficiency" of ``make bench``: see :mod:`bench.label_efficiency` and :mod:`bench.partial_labels`."""

from bench.label_efficiency import TITLE, run

__all__ = ["TITLE", "run"]
