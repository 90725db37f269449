"""``python -m engine``, the same as the ``dualstream`` command: see :mod:`engine.cli.main`."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
