"""The command line: ``dualstream COMMAND`` (``python -m engine``), one module per subcommand."""

from .main import main

__all__ = ["main"]
