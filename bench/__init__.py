"""DualStream benchmarks: ``python bench/run.py`` (or ``make bench``)."""
