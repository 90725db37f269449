"""The engine never imports qgis: every engine module imports in a Python where qgis is blocked.

(``make test`` also runs the whole tests/engine suite with qgis blocked, see tests/conftest.py.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_engine_module_imports_without_qgis():
    script = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.qgis_blocker import install
        install()
        try:
            import qgis.core
        except ImportError as exc:
            assert "blocked" in str(exc)
        else:
            raise SystemExit("the blocker did not block qgis")
        import engine
        names = [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")]
        for name in names:
            importlib.import_module(name)
        assert not [m for m in sys.modules if m == "qgis" or m.startswith("qgis.")]
        print("IMPORTED", len(names))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IMPORTED" in done.stdout
    assert int(done.stdout.split("IMPORTED")[1]) >= 3



def test_the_api_imports_without_torch():
    """The plugin imports ``engine.api`` to say what is missing, before torch is installed: the api's modules load
    torch only inside the jobs."""
    script = ("import sys, engine.api, engine.cli.main; "
              "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOADED []" in done.stdout
