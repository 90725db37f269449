"""Make ``qgis`` unimportable in this process, to prove that the engine never imports it.

Used by tests/conftest.py when ``DUALSTREAM_BLOCK_QGIS=1`` (``make test`` sets it for tests/engine) and by
tests/engine/test_no_qgis.py in a subprocess.
"""

from __future__ import annotations

import importlib.abc
import sys

MESSAGE = "qgis is blocked in this process: the DualStream engine must never import qgis"


class QgisBlocker(importlib.abc.MetaPathFinder):
    """Meta-path finder that refuses ``qgis`` and its submodules."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib protocol
        if fullname == "qgis" or fullname.startswith("qgis."):
            raise ImportError(f"{MESSAGE} (import of '{fullname}')", name=fullname)
        return None


def install() -> None:
    """Block ``qgis`` from now on; fail if it was already imported (then blocking would prove nothing)."""
    loaded = sorted(name for name in sys.modules if name == "qgis" or name.startswith("qgis."))
    if loaded:
        raise RuntimeError(f"qgis was imported before the blocker was installed: {loaded}")
    if not any(isinstance(finder, QgisBlocker) for finder in sys.meta_path):
        sys.meta_path.insert(0, QgisBlocker())
