"""Section "onnx" of ``make bench``: see :mod:`bench.bench_onnx`."""

from bench.bench_onnx import TITLE, run

__all__ = ["TITLE", "run"]
