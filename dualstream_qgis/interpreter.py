"""The Python program behind the Python that QGIS embeds, and where ``pip --user`` puts packages for it.

Inside QGIS ``sys.executable`` is the QGIS program (``qgis-bin.exe``, ``QGIS.app/Contents/MacOS/QGIS``,
``/usr/bin/qgis``) or a shim first on PATH, not a Python that pip can run. Where the interpreter is:

=============================  ===============================  ================================================
installation                   ``sys.base_prefix``              interpreter
=============================  ===============================  ================================================
Debian/Ubuntu packages         ``/usr``                         ``/usr/bin/python3.X``
OSGeo4W                        ``C:\\OSGeo4W\\apps\\Python3X``  ``apps\\Python3X\\python.exe`` (``bin\\python-qgis.bat``
                                                                sets up QGIS's environment and runs it)
Windows standalone installer   ``...\\QGIS 3.40.x\\apps\\Python3X``  the same, inside ``C:\\Program Files\\QGIS 3.40.x``
QGIS.app up to 3.40            ``QGIS.app/Contents/MacOS``      ``Contents/MacOS/bin/python3``
QGIS.app 3.44 and 4.x          ``QGIS.app/Contents/Frameworks``  ``Contents/MacOS/bin/python3.X`` (also searched:
                                                                ``Contents/Frameworks/bin``, ``Python.framework``)
=============================  ===============================  ================================================

Each candidate that exists is run once and asked (:data:`PROBE`) for its version, its base prefix and its user
site folder with ``PYTHONUSERBASE`` set to the per-profile folder: the child answers with its own scheme
(``nt_user``, ``posix_user``, ``osx_framework_user`` for a framework build), which is where its pip will put the
packages. The same version with the same prefix, compared after ``realpath`` (``/Applications`` may be a link,
Windows paths differ in case), is QGIS's Python; failing that, the same version inside QGIS's own installation
(an app bundle's launcher that reports another prefix) is taken, and says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import subproc

#: Run by each candidate: what it is and where its pip --user installs (PYTHONUSERBASE set by the caller).
PROBE = (
    "import importlib.util, json, os, site, sys, sysconfig\n"
    "scheme = sysconfig.get_preferred_scheme('user') if hasattr(sysconfig, 'get_preferred_scheme') else None\n"
    "print(json.dumps({'version': list(sys.version_info[:2]), 'base_prefix': os.path.realpath(sys.base_prefix),\n"
    "                  'scheme': scheme or 'site', 'pip': importlib.util.find_spec('pip') is not None,\n"
    "                  'site': sysconfig.get_path('purelib', scheme) if scheme else site.getusersitepackages()}))\n"
)
#: Seconds a candidate may take to answer (a cold start from a network drive can be slow).
PROBE_TIMEOUT_S = 60.0


class NotFound(RuntimeError):
    """No candidate is QGIS's Python; the message lists what was tried."""


@dataclass(frozen=True)
class Running:
    """What the Python inside QGIS says about itself (``Running.here()``); tests build others."""

    executable: str
    prefixes: tuple[str, ...]
    base_prefix: str
    version: tuple[int, int]
    os_name: str

    @classmethod
    def here(cls) -> Running:
        prefixes = (sys.base_exec_prefix, sys.exec_prefix, sys.base_prefix, sys.prefix)
        return cls(sys.executable or "", tuple(dict.fromkeys(prefixes)), sys.base_prefix,
                   (sys.version_info[0], sys.version_info[1]), os.name)


@dataclass(frozen=True)
class Interpreter:
    """QGIS's Python as a program, and where its ``pip install --user`` puts packages."""

    program: str
    site: str
    scheme: str
    prefix: str
    pip: bool
    note: str = ""


def _bundles(paths: list[str]) -> list[Path]:
    """The macOS app bundles (``X.app``) the paths lie in."""
    found = []
    for path in paths:
        parts = Path(path).parts
        for index, part in enumerate(parts):
            if part.endswith(".app"):
                found.append(Path(*parts[: index + 1]))
                break
    return list(dict.fromkeys(found))


def candidates(running: Running) -> list[Path]:
    """Programs that may be QGIS's Python, most likely first (they need not exist)."""
    major, minor = running.version
    exe_dir = Path(running.executable).parent
    if running.os_name == "nt":
        names = ["python.exe", f"python{major}.exe", f"python{major}{minor}.exe"]
        folders = [Path(p) for p in running.prefixes] + [exe_dir, exe_dir.parent / "apps" / f"Python{major}{minor}"]
        # OSGeo4W and the standalone installer: ROOT\apps\Python3X is the prefix, ROOT\bin has the launchers
        roots = [Path(p).parent.parent for p in running.prefixes if Path(p).parent.name.lower() == "apps"]
        folders += [root / "bin" for root in roots]
        launchers = [folder / name for folder in folders for name in ("python-qgis.bat", "python-qgis-ltr.bat")]
    else:
        names = [f"python{major}.{minor}", f"python{major}", "python"]
        folders = [Path(p) / "bin" for p in running.prefixes] + [exe_dir, exe_dir / "bin"]
        for app in _bundles([running.executable, *running.prefixes]):
            contents = app / "Contents"
            framework = contents / "Frameworks" / "Python.framework" / "Versions"
            folders += [contents / "MacOS" / "bin", contents / "Frameworks" / "bin",
                        framework / f"{major}.{minor}" / "bin", framework / "Current" / "bin"]
        launchers = []
    programs = [folder / name for folder in folders for name in names] + launchers
    unique: dict[str, Path] = {}
    for program in programs:
        unique.setdefault(os.path.normcase(os.path.abspath(program)), program)
    return list(unique.values())


def probe_env(base: Path) -> dict[str, str]:
    """The environment a child Python gets: user site in ``base``, nothing of QGIS's own module path."""
    env = dict(os.environ, PYTHONUSERBASE=str(base))
    for key in ("PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONSTARTUP", "PYTHONSAFEPATH"):
        env.pop(key, None)
    return env


def probe(program: Path, base: Path) -> dict | None:
    """What ``program`` says of itself with ``PYTHONUSERBASE=base`` (:data:`PROBE`); None when it cannot say."""
    try:
        done = subproc.run([str(program), "-c", PROBE], timeout=PROBE_TIMEOUT_S, env=probe_env(base))
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    try:
        facts = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None


def same_path(a: str, b: str) -> bool:
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _inside(program: Path, running: Running) -> bool:
    """Whether ``program`` lies inside QGIS's installation (its app bundle, else its Python prefix)."""
    roots = _bundles([running.executable, *running.prefixes]) or [Path(running.base_prefix)]
    real = os.path.normcase(os.path.realpath(program))
    return any(real.startswith(os.path.normcase(os.path.realpath(root)) + os.sep) for root in roots)


def find(base: Path, running: Running | None = None) -> Interpreter:
    """QGIS's Python as a program, with its user site folder for ``PYTHONUSERBASE=base``; NotFound otherwise."""
    running = running or Running.here()
    tried: list[str] = []
    fallback: Interpreter | None = None
    for program in candidates(running):
        if not program.is_file():
            continue
        facts = probe(program, base)
        if facts is None:
            tried.append(f"{program} (does not run)")
            continue
        version = tuple(facts.get("version", ()))
        if version != running.version:
            tried.append(f"{program} (Python {'.'.join(map(str, version))})")
            continue
        found = Interpreter(str(program), str(facts["site"]), str(facts["scheme"]), str(facts["base_prefix"]),
                            bool(facts["pip"]))
        if same_path(found.prefix, running.base_prefix):
            return found
        tried.append(f"{program} (prefix {found.prefix})")
        if fallback is None and _inside(program, running):
            fallback = Interpreter(found.program, found.site, found.scheme, found.prefix, found.pip,
                                   note=f"its prefix {found.prefix} is not QGIS's {running.base_prefix}, but it "
                                        "lies inside QGIS's installation")
    if fallback is not None:
        return fallback
    looked = ", ".join(dict.fromkeys(str(p.parent) for p in candidates(running)))
    raise NotFound(f"QGIS's Python {running.version[0]}.{running.version[1]} (prefix {running.base_prefix}) was not "
                   f"found as a program. Looked in {looked}"
                   + (f"; found but not it: {'; '.join(tried)}" if tried else "") + ".")
