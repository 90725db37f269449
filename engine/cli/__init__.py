"""The command line: ``dualstream COMMAND`` (also ``python -m engine COMMAND``), one module per subcommand."""

from .main import main

__all__ = ["main"]
