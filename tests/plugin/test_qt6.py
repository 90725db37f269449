"""QGIS 4 / Qt6 readiness that can be checked without QGIS 4: the plugin's Qt names under PyQt6, its QGIS names
against QGIS 4's API table.

No QGIS 4 build installs on these machines (README, Install). QGIS 4's ``qgis.PyQt.QtX`` modules re-export
``PyQt6.QtX`` (QtWidgets adds QAction and QShortcut from QtGui, as QGIS's python/PyQt/PyQt/QtWidgets.py.in does).
A throwaway ``qgis`` package that does just that (no ``qgis.core``) goes first on the path of a Python with Debian's
PyQt6 (``python3-pyqt6``, installed by ``make install``), so:

- every ``from qgis.PyQt... import NAME`` of the plugin must resolve in PyQt6, with no try/except-ImportError
  Qt5 fallback left, and so must every attribute chain on those names (``Qt.TextFormat.RichText``,
  ``QMetaType.Type.Int``); ``QVariant.X`` only in compat.field_types, which QGIS 4 never reaches;
- the modules that need no QGIS import and work there (the engine found through the bridge included), and
  nothing imports PyQt5;
- every QGIS name the plugin uses (classes it imports, attribute chains on them, compat.py's QGIS 4 spellings) is
  in tests/data/qgis4_api.json, which says where in QGIS's Qt6 bindings each was read.
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
#: What QGIS 4's qgis.PyQt modules add to PyQt6's (python/PyQt/PyQt/QtWidgets.py.in in QGIS): Qt5's QtWidgets names
#: that Qt6 moved to QtGui.
SHIM_EXTRAS = {"QtWidgets": "from PyQt6.QtGui import QAction, QShortcut  # noqa: F401\n"}
QGIS4_API = REPO / "tests" / "data" / "qgis4_api.json"
#: Plugin imports from these modules are QGIS's API (qgis.PyQt is Qt's, checked in PyQt6).
QGIS_MODULES = ("qgis.core", "qgis.gui", "qgis.utils", "processing")


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


def _chains(tree: ast.AST, roots: set[str]) -> list[tuple[int, str]]:
    """``(line, "A.b.c")`` for every longest attribute chain that starts at a name in ROOTS."""
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            base = node
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in roots:
                found.append((node.lineno, ast.unparse(node)))
    return found


def _imported(tree: ast.AST, prefixes: tuple[str, ...]) -> dict[str, str]:
    """``{name: module}`` for every ``from MODULE import name`` with MODULE under one of PREFIXES."""
    return {alias.asname or alias.name: node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefixes) for alias in node.names}


def qt_chains() -> dict[str, list[str]]:
    """``{"Qt.TextFormat.RichText": ["file:line", ...]}``: attribute chains on the plugin's qgis.PyQt names."""
    found: dict[str, list[str]] = {}
    for path in sorted(PLUGIN.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, chain in _chains(tree, set(_imported(tree, ("qgis.PyQt.",)))):
            found.setdefault(chain, []).append(f"{path.relative_to(REPO).as_posix()}:{line}")
    return found


def qgis_names() -> dict[str, list[str]]:
    """``{name: ["file:line", ...]}``: every QGIS name the plugin uses. Classes and objects it imports from
    qgis.core/qgis.gui by name (``QgsProject``), others module-qualified (``qgis.utils.iface``), attribute chains on
    them (``QgsProject.instance``, ``Qgis.MessageLevel.Warning``) and compat.py's QGIS 4 spellings."""
    found: dict[str, list[str]] = {}
    for path in sorted(PLUGIN.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = _imported(tree, QGIS_MODULES)
        for name, module in imported.items():
            key = name if module in ("qgis.core", "qgis.gui") else f"{module}.{name}"
            found.setdefault(key, []).append(rel)
        for line, chain in _chains(tree, set(imported)):
            found.setdefault(chain, []).append(f"{rel}:{line}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "pick" and path.name == "compat.py":
                found.setdefault(node.args[0].value, []).append(f"{rel}:{node.lineno}")
    return found


PROBE = r"""
import importlib, json, sys
groups, chains, modules = json.loads(sys.argv[1])
report = {"unresolved": [], "chains_missing": [], "import_errors": {}}
names = {}
for group in groups:
    hits = [(m, n) for _, m, n in group if hasattr(importlib.import_module("qgis.PyQt." + m), n)]
    if not hits:
        report["unresolved"].append(group)
    for m, n in hits:
        names[n] = getattr(importlib.import_module("qgis.PyQt." + m), n)
for chain in chains:
    head, *rest = chain.split(".")
    value = names.get(head)
    for part in rest:
        value = getattr(value, part, None)
    if value is None:
        report["chains_missing"].append(chain)
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


def probe(tmp_path: Path, groups: list, chains: list[str], modules: list[str]) -> dict:
    """Run PROBE in a PyQt6 Python whose ``qgis`` package is the QGIS 4-like shim; its report."""
    shim = tmp_path / "shim" / "qgis" / "PyQt"
    shim.mkdir(parents=True, exist_ok=True)
    (shim.parent / "__init__.py").write_text("", encoding="utf-8")
    (shim / "__init__.py").write_text("", encoding="utf-8")
    for name in SHIM_MODULES:
        (shim / f"{name}.py").write_text(f"from PyQt6.{name} import *  # noqa: F403\n" + SHIM_EXTRAS.get(name, ""),
                                         encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update({"PYTHONPATH": os.pathsep.join([str(tmp_path / "shim"), str(REPO)]), "QT_QPA_PLATFORM": "offscreen"})
    command = [SYSTEM_PYTHON if Path(SYSTEM_PYTHON).exists() else sys.executable, "-c", PROBE,
               json.dumps([groups, chains, modules])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, (
        f"{done.stderr}\nPyQt6 is missing? `make install` installs Debian's python3-pyqt6 for this test.")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["qt"].startswith("6.") and not report["pyqt5_loaded"]
    return report


def test_plugin_resolves_its_qt_names_in_pyqt6_and_loads_without_qgis(tmp_path):
    groups = qt_imports()
    assert len(groups) >= 5, groups  # the plugin does use Qt: an empty scan would prove nothing
    assert [g for g in groups if len(g) > 1] == [], "a try/except-ImportError Qt5 fallback is left"
    chains = qt_chains()
    assert {"QMetaType.Type.Int", "Qt.TextFormat.RichText"} <= set(chains), sorted(chains)
    qvariant = {chain: where for chain, where in chains.items() if chain.startswith("QVariant.")}
    assert all(w.startswith("dualstream_qgis/compat.py:") for where in qvariant.values() for w in where), qvariant
    checked = sorted(set(chains) - set(qvariant))  # QVariant.X: compat.field_types' QGIS < 3.38 branch (Qt5)
    report = probe(tmp_path, groups, checked, NO_QGIS_MODULES)
    assert report["unresolved"] == [], "Qt names the plugin imports that PyQt6 lacks"
    assert report["chains_missing"] == [], "Qt attributes the plugin uses that PyQt6 lacks"
    assert report["import_errors"] == {}
    assert report["engine"] == "engine" and not report["qgis_core"]


def test_probe_flags_qt5_only_names(tmp_path):
    """QDesktopWidget and QVariant-era type names are what Qt6 broke; the probe must catch both, and must find
    QAction in QtWidgets as QGIS 4 gives it there."""
    qt5_only = [[["example.py:1", "QtWidgets", "QDesktopWidget"]], [["example.py:2", "QtCore", "QMetaType"]],
                [["example.py:3", "QtWidgets", "QAction"]]]
    report = probe(tmp_path, qt5_only, ["QMetaType.Type.String", "QMetaType.Type.QString"], [])
    assert report["unresolved"] == [qt5_only[0]] and report["chains_missing"] == ["QMetaType.Type.String"]


def test_plugin_uses_only_qgis_names_in_qgis4s_api():
    table = json.loads(QGIS4_API.read_text(encoding="utf-8"))
    used = qgis_names()
    assert {"QgsProcessingAlgorithm", "Qgis.ProcessingSourceType.Raster", "QgsProject.instance"} <= set(used)
    assert set(table["names"].values()) <= set(table["sources"]), "every name says where it was read"
    missing = {name: where for name, where in used.items() if name not in table["names"]}
    assert missing == {}, (
        "QGIS names the plugin uses that tests/data/qgis4_api.json does not list: look each up in QGIS 4's "
        "python/PyQt6 bindings (or use its QGIS 4 spelling through compat.py) and add it with its source")
