"""One module per benchmark section; each defines ``TITLE`` and ``run(ctx) -> dict`` (see bench/run.py)."""
