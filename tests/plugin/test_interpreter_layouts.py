"""The search for QGIS's Python over the real installation layouts, each rebuilt as a folder tree under tmp_path
(tests/plugin/qgis_layouts.py: the real file names, interpreters that really run).

The Windows trees are searched with Windows' rules (``python.exe`` at the prefix, ``ROOT\\bin`` launchers); the
Linux program standing in for ``python.exe`` answers with its own user scheme (on Windows it is
``<folder>\\Python3X\\site-packages``), which is the point: the site folder is what the child Python says.

``pytest -s`` prints the table (layout, interpreter found, site folder).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dualstream_qgis import interpreter
from dualstream_qgis.interpreter import Running

from .qgis_layouts import LAYOUTS, VERSION, launcher, make_file, python_copy


def test_interpreter_search_over_each_layout(tmp_path):
    rows = []
    for index, (name, build) in enumerate(LAYOUTS.items()):
        running, expected = build(tmp_path / f"layout{index}")
        base = tmp_path / f"profile{index}" / "dualstream"
        found = interpreter.find(base, running)
        assert found.program == str(expected), f"{name}: {found}"
        assert interpreter.same_path(found.prefix, running.base_prefix), f"{name}: {found}"
        # the site folder is the child's own answer for PYTHONUSERBASE=base (posix_user here)
        assert found.site == str(base / "lib" / f"python{VERSION}" / "site-packages"), f"{name}: {found}"
        assert found.note == "", f"{name}: {found.note}"
        rows.append((name, str(Path(found.program).relative_to(tmp_path)),
                     str(Path(found.site).relative_to(tmp_path)), found.scheme))
    width = [max(len(row[i]) for row in rows) for i in range(4)]
    print("\n| layout | interpreter found | site folder | scheme |")
    for row in rows:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, width)) + " |")


def test_another_python_first_in_the_list_is_passed_over(tmp_path):
    """/usr/bin/python3.X runs with another prefix (another installation's): python3, QGIS's own, is taken."""
    usr = tmp_path / "usr"
    qgis = make_file(usr / "bin" / "qgis")
    launcher(usr / "bin" / f"python{VERSION}", tmp_path / "other")
    own = python_copy(usr / "bin" / "python3", usr)
    running = Running(str(qgis), (str(usr),), str(usr), sys.version_info[:2], "posix")
    found = interpreter.find(tmp_path / "base", running)
    assert found.program == str(own) and found.note == ""


def test_a_bundle_launcher_with_a_foreign_prefix_is_taken_and_said(tmp_path):
    """A launcher inside QGIS.app that reports another prefix (the bundle's build folder) is the only Python of
    the bundle: taken, with a note naming both prefixes; a Python outside the bundle never is."""
    contents = tmp_path / "QGIS.app" / "Contents"
    qgis = make_file(contents / "MacOS" / "QGIS")
    python = launcher(contents / "MacOS" / "bin" / f"python{VERSION}", tmp_path / "build-prefix")
    frameworks = contents / "Frameworks"
    running = Running(str(qgis), (str(frameworks),), str(frameworks), sys.version_info[:2], "posix")
    found = interpreter.find(tmp_path / "base", running)
    assert found.program == str(python)
    assert "build-prefix" in found.note and "inside QGIS's installation" in found.note

    outside = Running(str(make_file(tmp_path / "elsewhere" / "qgis")), (str(tmp_path / "qgis-prefix"),),
                      str(tmp_path / "qgis-prefix"), sys.version_info[:2], "posix")
    launcher(tmp_path / "elsewhere" / f"python{VERSION}", tmp_path / "build-prefix")
    with pytest.raises(interpreter.NotFound, match=r"was not found as a program\. Looked in .*elsewhere.*found but "
                                                    r"not it: .*elsewhere/python3\.\d+ \(prefix .*build-prefix\)"):
        interpreter.find(tmp_path / "base", outside)
