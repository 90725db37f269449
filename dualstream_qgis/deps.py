"""Installing what the engine imports into the Python that QGIS runs, from inside QGIS.

Packages go into a per-profile folder (:func:`packages_dir`), never into QGIS's or the system's Python: pip runs
as QGIS's own Python (:mod:`.interpreter` finds it on Linux, OSGeo4W, the Windows installer, QGIS.app and
QGIS 4) with ``--user`` and ``PYTHONUSERBASE`` pointing at that folder, so what QGIS's Python already has (numpy,
GDAL; Debian's rasterio, ABI-matched to QGIS) satisfies requirements and is not installed again; numpy is pinned
to QGIS's version so pip can never replace it. ``engine_bridge`` adds the folder's site-packages to ``sys.path``
when the plugin loads. Deleting the folder undoes everything.

What is installed: :data:`DEFAULT_PACKAGES` (requirements.txt and requirements-onnx.txt), plus rasterio where
QGIS's Python has none (Windows and macOS QGIS do not ship it); the torch build follows the GPU and system
(:mod:`.torch_build`). pip itself is added first where a bundle has none (:func:`.pip_runner.ensure_pip`).

Offline (air-gapped computers): ``--no-index --find-links WHEELS`` with a folder of wheels downloaded elsewhere
(:func:`download_command` gives the exact ``pip download``). Online, the package index is probed first (a few
seconds), so a computer without network is told so at once instead of after pip's retries.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from . import interpreter, pip_runner, subproc
from .pip_runner import InstallError

#: What the engine imports (the pins of requirements.txt and requirements-onnx.txt; a test keeps them equal).
DEFAULT_PACKAGES = ("torch==2.13.0", "transformers>=5.0,<6", "safetensors>=0.4", "tqdm>=4.60", "onnx==1.23.2",
                    "onnxruntime==1.32.0")
#: Installed only where QGIS's Python cannot import them already (Debian's are built against QGIS's GDAL).
SYSTEM_FIRST = ("rasterio",)
PACKAGES_ENV = "DUALSTREAM_PACKAGES_DIR"
#: File in the package folder naming the site-packages folder QGIS's Python reported for it.
SITE_RECORD = "site-packages-folder.txt"
#: Seconds to wait for a package index to accept a connection before saying there is no network.
PROBE_TIMEOUT_S = 3.0
#: The Visual C++ runtime torch's DLLs need on Windows.
VC_REDIST_URL = "https://aka.ms/vs/17/release/vc_redist.x64.exe"


def packages_dir() -> Path:
    """The per-user folder the installer fills: ``$DUALSTREAM_PACKAGES_DIR``, else ``<QGIS profile>/dualstream``."""
    if os.environ.get(PACKAGES_ENV):
        return Path(os.environ[PACKAGES_ENV]).expanduser()
    from qgis.core import QgsApplication

    return Path(QgsApplication.qgisSettingsDirPath()) / "dualstream"


def site_dir(base: Path) -> Path:
    """The site-packages folder inside a ``PYTHONUSERBASE``: what QGIS's Python reported when packages were
    installed there, else what this Python's own user scheme says (posix_user, nt_user, osx_framework_user)."""
    record = base / SITE_RECORD
    if record.is_file():
        recorded = record.read_text(encoding="utf-8").strip()
        if recorded:
            return Path(recorded)
    import sysconfig

    scheme = (sysconfig.get_preferred_scheme("user") if hasattr(sysconfig, "get_preferred_scheme")
              else "nt_user" if os.name == "nt" else "posix_user")
    return Path(sysconfig.get_path("purelib", scheme, vars={"userbase": str(base)}))


_found: dict[str, interpreter.Interpreter] = {}


def find_python(base: Path) -> interpreter.Interpreter:
    """QGIS's Python as a program with its site folder for ``base`` (asked once per folder and session)."""
    key = str(base)
    if key not in _found:
        try:
            _found[key] = interpreter.find(base)
        except interpreter.NotFound as exc:
            raise InstallError(f"{exc} Install the packages by hand with that Python's pip (see docs/install.md)."
                               ) from exc
    return _found[key]


def qgis_python() -> str:
    """The Python interpreter QGIS embeds, as a program pip can run."""
    return find_python(packages_dir()).program


def with_system_packages(packages: list[str], log: Callable[[str], None]) -> list[str]:
    """``packages`` plus each of :data:`SYSTEM_FIRST` QGIS's Python cannot import (and the list does not name)."""
    named = {re.split(r"[<>=!~;\[ ]", p, maxsplit=1)[0].lower() for p in packages}
    added = []
    for name in SYSTEM_FIRST:
        if name in named:
            continue
        if importlib.util.find_spec(name) is not None:
            log(f"{name}: QGIS's Python has it already; it is kept (not installed again)")
            continue
        log(f"{name}: QGIS's Python has none (Windows and macOS QGIS do not ship it); installing it from the package "
            "index (its wheel brings its own GDAL libraries)")
        added.append(name)
    return list(packages) + added


def constraints_text() -> str:
    """Keep QGIS's numpy: GDAL (and rasterio) are built against it."""
    try:
        import numpy
    except ImportError:
        return ""
    return f"numpy=={numpy.__version__}\n"


def package_locations(names: tuple[str, ...]) -> dict[str, str]:
    """Folder each importable package is used from (what Check environment shows); missing ones are left out."""
    found = {}
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            found[name] = str(Path(spec.origin).parent)
    return found


def load_failure(name: str) -> str | None:
    """Why the top-level package ``name`` is found but cannot be imported ('ErrorType: message'); None when it
    imports or is missing. Imported as the import statement does (spec, module, sys.modules, exec)."""
    if name in sys.modules:
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever the package raises is the finding
        for loaded in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
            del sys.modules[loaded]  # as a failed import leaves nothing behind
        return f"{type(exc).__name__}: {exc}"
    return None


def load_failure_advice(name: str, error: str, folder: str | None) -> str:
    """What to do about ``name`` failing to load with ``error`` (from ``folder``)."""
    if re.search(r"WinError (1114|126)|\.dll", error):
        return (f"A DLL {name} needs did not load: install Microsoft's Visual C++ runtime ({VC_REDIST_URL}), "
                "restart Windows and QGIS, then run Check environment again. Installing the package again does "
                "not help.")
    try:
        ours = folder is not None and Path(folder).resolve().is_relative_to(packages_dir().resolve())
    except Exception:  # noqa: BLE001 - no QGIS settings (plain Python): the folder cannot be ours
        ours = False
    if ours:
        return (f"Delete the folder {packages_dir()} and run Install dependencies again (a download that broke "
                "off can leave a package half-written).")
    return f"Reinstall {name} where it is installed ({folder}), or remove it so that Install dependencies can add it."


def download_command(packages: list[str], index_url: str | None) -> str:
    """The exact ``pip download`` that fills a wheel folder for this Python and system on another computer."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    where = ""
    machine = platform.machine().lower()
    if os.name == "nt":
        where = f" --platform win_amd64 --python-version {version} --only-binary=:all:"
    elif sys.platform == "darwin":
        mac = (platform.mac_ver()[0] or "11.0").split(".")[0]
        where = f" --platform macosx_{mac}_0_{machine} --python-version {version} --only-binary=:all:"
    index = f" --extra-index-url {index_url}" if index_url else ""
    quoted = " ".join(f'"{p}"' if re.search(r"[<>,]", p) else p for p in [*packages, "pip"])
    return f"pip download{where}{index} -d WHEELS {quoted}"


def offline_hint(packages: list[str] | None = None, index_url: str | None = None) -> str:
    """How to get the wheels on a computer with internet, for this one without."""
    return (f"on a computer with internet (Python {sys.version_info.major}.{sys.version_info.minor}"
            + ("" if os.name == "nt" or sys.platform == "darwin" else f", the same system ({platform.platform()})")
            + f") run {download_command(list(packages or DEFAULT_PACKAGES), index_url)}, copy the WHEELS folder "
            "here and give it as 'Wheel folder'")


def configured_index(python: str, env: dict[str, str]) -> str:
    """The package index pip uses: ``PIP_INDEX_URL``, else pip's configuration, else PyPI."""
    if env.get("PIP_INDEX_URL"):
        return env["PIP_INDEX_URL"]
    try:
        listed = subproc.run([python, "-m", "pip", "config", "list"], timeout=60, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".index-url") and value.strip().strip("'\""):
            return value.strip().strip("'\"")
    return "https://pypi.org/simple"


def unreachable(urls: list[str], timeout: float = PROBE_TIMEOUT_S) -> list[str]:
    """``url (reason)`` for each package index that gives no HTTP answer within ``timeout`` seconds (through the
    proxy the environment names, as pip would); empty as soon as one answers, whatever its status. pip itself
    would retry each for half a minute."""
    failures = []
    for url in urls:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            return []
        except urllib.error.HTTPError:
            return []  # it answered (401 of a private mirror, 404, ...): pip can talk to it
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused and reset connections
            failures.append(f"{url} ({getattr(exc, 'reason', None) or exc})")
    return failures


def check_wheel_folder(wheels: str, hint: str) -> list[str]:
    """The .whl files in ``wheels``; InstallError when the folder is missing or holds none."""
    folder = Path(wheels)
    if not folder.is_dir():
        raise InstallError(f"The wheel folder '{wheels}' does not exist; give a folder of .whl files (to make one, "
                           f"{hint}).")
    found = sorted(path.name for path in folder.glob("*.whl"))
    if not found:
        raise InstallError(f"The wheel folder '{wheels}' holds no .whl files, so nothing can be installed from it. "
                           f"To fill it, {hint}.")
    return found


def install(packages: list[str], *, wheels: str | None, index_url: str | None, log: Callable[[str], None],
            canceled: Callable[[], bool], step: Callable[[str], None],
            show: Callable[[str], None] = lambda text: None) -> Path:
    """Install ``packages`` into :func:`packages_dir`; returns the site-packages folder they are in. ``log``
    gets pip's lines, ``step`` each package pip starts on, ``show`` the download progress."""
    hint = offline_hint(packages, index_url)
    if wheels:
        found = check_wheel_folder(wheels, hint)
        log(f"Wheel folder {wheels}: {len(found)} wheel(s): {', '.join(found[:8])}{', ...' if len(found) > 8 else ''}")
    base = packages_dir()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"The package folder '{base}' cannot be created ({exc}); set {PACKAGES_ENV} to a "
                           "folder you can write to.") from exc
    found_python = find_python(base)
    python = found_python.program
    log(f"Python: {python} (the one QGIS runs{'; ' + found_python.note if found_python.note else ''}); packages "
        f"go to {found_python.site}")
    (base / SITE_RECORD).write_text(found_python.site + "\n", encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="dualstream-pip-") as tmp:
        env = pip_runner.pip_env(base, Path(tmp))
        info = pip_runner.ensure_pip(python, env, wheels, log, canceled)
        log(f"pip {info.version}" + ("" if info.raw_progress else " (no raw progress: the download is measured in "
                                     "its temporary folder)"))
        if not wheels:
            indexes = [configured_index(python, env)] + ([index_url] if index_url else [])
            failures = unreachable(indexes)
            if failures:
                raise InstallError(
                    f"No network: no package index answered within {PROBE_TIMEOUT_S:g} s ({'; '.join(failures)}), "
                    f"so nothing was installed. Connect this computer to the internet and run it again; without "
                    f"internet, {hint}.")
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(constraints_text(), encoding="utf-8")
        command = pip_runner.pip_command(python, info, packages, wheels, index_url, constraints)
        log("$ PYTHONUSERBASE=" + str(base) + " " + " ".join(command))
        downloads = Path(tmp) / "pip"
        downloads.mkdir()
        env.update(TMPDIR=str(downloads), TEMP=str(downloads), TMP=str(downloads))
        progress = pip_runner.DownloadProgress(downloads, info.raw_progress, show, log)
        pip_runner.run_pip(command, env, log=log, canceled=canceled, step=step, progress=progress, wheels=wheels,
                           hint=hint)
    return Path(found_python.site)
