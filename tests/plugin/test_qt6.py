"""QGIS 4 / Qt6 readiness that can be checked without QGIS 4: the plugin under PyQt6.

QGIS 4's ``qgis.PyQt.QtX`` modules re-export ``PyQt6.QtX``. A throwaway ``qgis`` package that does only that (no
``qgis.core``) goes first on the path of a Python with Debian's PyQt6 (``python3-pyqt6``, installed by
``make install``), so:

- every ``from qgis.PyQt... import NAME`` of the plugin must resolve in PyQt6 (where an import sits in a
  ``try`` with an ``except ImportError`` fallback, one of the two must), and so must every ``QMetaType.Type.X``;
- the modules that need no QGIS import and work there (the engine found through the bridge included), and
  nothing imports PyQt5.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "dualstream_qgis"
SYSTEM_PYTHON = "/usr/bin/python3"
#: Plugin modules that must not need QGIS: QGIS loads the package first; the bridge and the model summary are
#: used before any QGIS class is (and by the tests without a QgsApplication).
NO_QGIS_MODULES = ["dualstream_qgis", "dualstream_qgis.engine_bridge", "dualstream_qgis.paths",
                   "dualstream_qgis.deps", "dualstream_qgis.algorithms"]
SHIM_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtXml", "QtSvg", "QtPrintSupport", "QtSql", "QtTest")


def qt_imports() -> list[list[tuple[str, str, str]]]:
    """Groups of alternatives ``(file:line, module, name)``: one group per ``from qgis.PyQt.M import N``, or
    one per try/except-ImportError pair of such imports (either may succeed)."""
    groups: list[list[tuple[str, str, str]]] = []
    for path in sorted(PLUGIN.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        handled: set[int] = set()

        def found(nodes: list[ast.stmt], where: Path = path) -> list[tuple[str, str, str]]:
            out = []
            for node in nodes:
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qgis.PyQt."):
                    handled.add(id(node))
                    rel = where.relative_to(REPO).as_posix()
                    out += [(f"{rel}:{node.lineno}", node.module.split(".")[-1], a.name) for a in node.names]
            return out

        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                    isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers):
                alternatives = found(node.body) + [i for h in node.handlers for i in found(h.body)]
                if alternatives:
                    groups.append(alternatives)
        for node in ast.walk(tree):
            if id(node) not in handled:
                groups += [[item] for item in found([node])] if isinstance(node, ast.ImportFrom) else []
    return groups


def metatype_names() -> set[str]:
    """Every ``X`` of ``QMetaType.Type.X`` in the plugin."""
    names = set()
    for path in PLUGIN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "Type" and isinstance(node.value.value, ast.Name)
                    and node.value.value.id == "QMetaType"):
                names.add(node.attr)
    return names


PROBE = r"""
import importlib, json, sys
groups, metatypes, modules = json.loads(sys.argv[1])
report = {"unresolved": [], "metatypes_missing": [], "import_errors": {}}
for group in groups:
    if not any(hasattr(importlib.import_module("qgis.PyQt." + m), n) for _, m, n in group):
        report["unresolved"].append(group)
from qgis.PyQt.QtCore import QMetaType
report["metatypes_missing"] = [n for n in metatypes if not hasattr(QMetaType.Type, n)]
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as exc:
        report["import_errors"][name] = repr(exc)
bridge = importlib.import_module("dualstream_qgis.engine_bridge")
report["engine"] = bridge.engine().__name__
report["summary"] = bridge.engine_api().__name__
try:
    import qgis.core  # noqa: F401
    report["qgis_core"] = True
except ImportError:
    report["qgis_core"] = False
report["pyqt5_loaded"] = "PyQt5" in sys.modules
import PyQt6.QtCore
report["qt"] = PyQt6.QtCore.QT_VERSION_STR
print(json.dumps(report))
"""


def probe(tmp_path: Path, groups: list, metatypes: list[str], modules: list[str]) -> dict:
    """Run PROBE in a PyQt6 Python whose ``qgis`` package is the QGIS 4-like shim; its report."""
    shim = tmp_path / "shim" / "qgis" / "PyQt"
    shim.mkdir(parents=True, exist_ok=True)
    (shim.parent / "__init__.py").write_text("", encoding="utf-8")
    (shim / "__init__.py").write_text("", encoding="utf-8")
    for name in SHIM_MODULES:
        (shim / f"{name}.py").write_text(f"from PyQt6.{name} import *  # noqa: F403\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update({"PYTHONPATH": os.pathsep.join([str(tmp_path / "shim"), str(REPO)]), "QT_QPA_PLATFORM": "offscreen"})
    command = [SYSTEM_PYTHON if Path(SYSTEM_PYTHON).exists() else sys.executable, "-c", PROBE,
               json.dumps([groups, metatypes, modules])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, (
        f"{done.stderr}\nPyQt6 is missing? `make install` installs Debian's python3-pyqt6 for this test.")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["qt"].startswith("6.") and not report["pyqt5_loaded"]
    return report


def test_plugin_resolves_its_qt_names_in_pyqt6_and_loads_without_qgis(tmp_path):
    groups = qt_imports()
    assert len(groups) >= 5, groups  # the plugin does use Qt: an empty scan would prove nothing
    assert metatype_names() >= {"Int", "QString", "Double"}  # evaluate.py's QgsField types for QGIS >= 3.38
    report = probe(tmp_path, groups, sorted(metatype_names()), NO_QGIS_MODULES)
    assert report["unresolved"] == [], "Qt names the plugin imports that PyQt6 lacks"
    assert report["metatypes_missing"] == []
    assert report["import_errors"] == {}
    assert report["engine"] == "engine" and not report["qgis_core"]


def test_probe_flags_qt5_only_names(tmp_path):
    """QAction from QtWidgets and QVariant-era type names are what Qt6 broke; the probe must catch both, and the
    scan must group plugin.py's QtGui/QtWidgets QAction fallback as one pair."""
    pairs = [g for g in qt_imports() if len(g) > 1]
    assert any({(m, n) for _, m, n in g} == {("QtGui", "QAction"), ("QtWidgets", "QAction")} for g in pairs)
    qt5_only = [[["example.py:1", "QtWidgets", "QAction"]], [["example.py:2", "QtCore", "QVariant"]]]
    report = probe(tmp_path, qt5_only, ["String", "Int"], [])
    assert report["unresolved"] == [qt5_only[0]] and report["metatypes_missing"] == ["String"]
