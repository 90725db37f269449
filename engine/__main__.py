"""``python -m engine``, the same as the ``dualstream`` command: see :mod:`engine.cli.main`."""

from .cli.main import run

if __name__ == "__main__":
    run()
