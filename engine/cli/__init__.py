"""The command line: ``dualstream COMMAND`` (also ``python -m engine COMMAND``): ``main`` (the command), one module
per subcommand (``train``, ``segment``, ``compare``, ``polygons``, ``export``, ``info``, ``models``, ``imported``,
``suggest``, ``label``, ``proposals``), ``options`` (flags from the declarations), ``progress``."""

from .main import main

__all__ = ["main"]
