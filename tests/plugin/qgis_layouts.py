"""QGIS installations rebuilt as folder trees (the real file names) whose Python really runs: a copy of this
machine's Python (its standard library linked in as ``lib/python3.X``, the landmark by which Python finds its
prefix), or, where the real bundle's interpreter reports another folder than its own as its prefix (QGIS.app 3.44
and 4.x: ``Contents/MacOS/bin`` with the prefix ``Contents/Frameworks``), a small launcher that runs this machine's
Python with that prefix as ``PYTHONHOME``. Each builder returns the ``Running`` QGIS's embedded Python would
report there and the interpreter the search must find."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from dualstream_qgis.interpreter import Running

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
NODOT = VERSION.replace(".", "")
REAL_PYTHON = Path(os.path.realpath(sys._base_executable if hasattr(sys, "_base_executable") else sys.executable))
STDLIB = Path(sysconfig.get_path("stdlib"))


def python_copy(program: Path, prefix: Path) -> Path:
    """This machine's Python as ``program``, with ``prefix`` as its prefix (stdlib linked in as the landmark)."""
    program.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(REAL_PYTHON, program)
    except OSError:
        shutil.copy2(REAL_PYTHON, program)
    (prefix / "lib").mkdir(parents=True, exist_ok=True)
    if not (prefix / "lib" / f"python{VERSION}").exists():
        (prefix / "lib" / f"python{VERSION}").symlink_to(STDLIB, target_is_directory=True)
    return program


def launcher(program: Path, home: Path) -> Path:
    """A launcher at ``program`` running this machine's Python with ``home`` as its prefix."""
    (home / "lib").mkdir(parents=True, exist_ok=True)
    if not (home / "lib" / f"python{VERSION}").exists():
        (home / "lib" / f"python{VERSION}").symlink_to(STDLIB, target_is_directory=True)
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text(f'#!/bin/sh\nPYTHONHOME="{home}" exec "{REAL_PYTHON}" "$@"\n', encoding="utf-8")
    program.chmod(0o755)
    return program


def make_file(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def debian(root: Path) -> tuple[Running, Path]:
    usr = root / "usr"
    qgis = make_file(usr / "bin" / "qgis", "#!/bin/sh\n")
    python = python_copy(usr / "bin" / f"python{VERSION}", usr)
    (usr / "bin" / "python3").symlink_to(python.name)
    return Running(str(qgis), (str(usr),), str(usr), sys.version_info[:2], "posix"), python


def osgeo4w(root: Path) -> tuple[Running, Path]:
    home = root / "OSGeo4W"
    prefix = home / "apps" / f"Python{NODOT}"
    qgis = make_file(home / "bin" / "qgis-bin.exe")
    make_file(home / "bin" / "python-qgis.bat", "@echo off\ncall \"%~dp0\\o4w_env.bat\"\npython %*\n")
    python = python_copy(prefix / "python.exe", prefix)
    return Running(str(qgis), (str(prefix),), str(prefix), sys.version_info[:2], "nt"), python


def windows_installer(root: Path) -> tuple[Running, Path]:
    home = root / "Program Files" / "QGIS 3.40.5"
    prefix = home / "apps" / f"Python{NODOT}"
    qgis = make_file(home / "bin" / "qgis-ltr-bin.exe")
    make_file(home / "bin" / "python-qgis-ltr.bat", "@echo off\npython %*\n")
    python = python_copy(prefix / "python.exe", prefix)
    return Running(str(qgis), (str(prefix),), str(prefix), sys.version_info[:2], "nt"), python


def app_3_40(root: Path) -> tuple[Running, Path]:
    macos = root / "QGIS.app" / "Contents" / "MacOS"
    qgis = make_file(macos / "QGIS")
    python = python_copy(macos / "bin" / "python3", macos)
    return Running(str(qgis), (str(macos),), str(macos), sys.version_info[:2], "posix"), python


def app_3_44(root: Path) -> tuple[Running, Path]:
    contents = root / "QGIS-LTR.app" / "Contents"
    frameworks = contents / "Frameworks"
    qgis = make_file(contents / "MacOS" / "QGIS")
    python = launcher(contents / "MacOS" / "bin" / f"python{VERSION}", frameworks)
    (contents / "MacOS" / "bin" / "python").symlink_to(python.name)
    return Running(str(qgis), (str(frameworks),), str(frameworks), sys.version_info[:2], "posix"), python


def app_4(root: Path) -> tuple[Running, Path]:
    contents = root / "QGIS-final-4_2_1.app" / "Contents"
    frameworks = contents / "Frameworks"
    qgis = make_file(contents / "MacOS" / "QGIS")
    python = launcher(contents / "MacOS" / "bin" / "python", frameworks)  # only the plain name
    return Running(str(qgis), (str(frameworks),), str(frameworks), sys.version_info[:2], "posix"), python


def app_through_link(root: Path) -> tuple[Running, Path]:
    """QGIS.app reached through a linked folder: QGIS reports the link, the child its real path."""
    running, python = app_3_40(root / "Volumes" / "Apps")
    (root / "Applications").symlink_to(root / "Volumes" / "Apps", target_is_directory=True)
    linked = str(root / "Applications" / Path(running.base_prefix).relative_to(root / "Volumes" / "Apps"))
    exe = str(root / "Applications" / Path(running.executable).relative_to(root / "Volumes" / "Apps"))
    return Running(exe, (linked,), linked, running.version, "posix"), Path(exe).parent / "bin" / "python3"


def app_framework(root: Path) -> tuple[Running, Path]:
    """Older QGIS.app with Python.framework inside Contents/Frameworks."""
    contents = root / "QGIS3.10.app" / "Contents"
    prefix = contents / "Frameworks" / "Python.framework" / "Versions" / VERSION
    qgis = make_file(contents / "MacOS" / "QGIS")
    python = python_copy(prefix / "bin" / "python3", prefix)
    return Running(str(qgis), (str(prefix),), str(prefix), sys.version_info[:2], "posix"), python


LAYOUTS = {
    "Debian/Ubuntu packages (QGIS 3.x, 4.x)": debian,
    "Windows OSGeo4W": osgeo4w,
    "Windows standalone installer 3.40": windows_installer,
    "QGIS.app up to 3.40": app_3_40,
    "QGIS.app 3.44 (prefix Contents/Frameworks)": app_3_44,
    "QGIS 4.2 .app (only bin/python)": app_4,
    "QGIS.app through a linked folder": app_through_link,
    "QGIS.app with Python.framework": app_framework,
}


