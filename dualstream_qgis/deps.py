"""Installing torch, transformers and safetensors for the Python that QGIS runs, from inside QGIS.

Packages go into a per-user folder (:func:`packages_dir`, inside the QGIS profile), never into the system's
site-packages: pip runs as QGIS's own Python with ``--user`` and ``PYTHONUSERBASE`` pointing at that folder, so
what QGIS's Python already has (numpy, GDAL, rasterio: Debian's, ABI-matched to QGIS) satisfies requirements
and is not installed again; numpy is pinned to QGIS's version so pip can never replace it. ``engine_bridge``
adds the folder to ``sys.path`` when the plugin loads.

Offline (air-gapped servers): ``--no-index --find-links WHEELS`` with a folder of wheels downloaded elsewhere
(``pip download torch==2.13.0 transformers safetensors tqdm -d WHEELS``). Online, the package index is probed
first (a few seconds), so a computer without network is told so at once instead of after pip's retries; a wheel
folder without what is needed is told apart from that, naming what is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: What the engine needs (the same pins as requirements.txt; a test keeps them equal).
DEFAULT_PACKAGES = ("torch==2.13.0", "transformers>=5.0,<6", "safetensors>=0.4", "tqdm>=4.60")
#: PyTorch's own index of CPU-only builds (a fraction of the CUDA build's size).
CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"
PACKAGES_ENV = "DUALSTREAM_PACKAGES_DIR"
#: Seconds to wait for a package index to accept a connection before saying there is no network.
PROBE_TIMEOUT_S = 3.0
#: pip's own socket timeout (seconds) once the index answered.
PIP_TIMEOUT_S = 15.0


class InstallError(RuntimeError):
    """The installation cannot go on; the message says what to do."""


def packages_dir() -> Path:
    """The per-user folder the installer fills: ``$DUALSTREAM_PACKAGES_DIR``, else ``<QGIS profile>/dualstream``."""
    if os.environ.get(PACKAGES_ENV):
        return Path(os.environ[PACKAGES_ENV]).expanduser()
    from qgis.core import QgsApplication

    return Path(QgsApplication.qgisSettingsDirPath()) / "dualstream"


def site_dir(base: Path, python: str | None = None) -> Path:
    """The site-packages folder inside a ``PYTHONUSERBASE`` (as pip ``--user`` lays it out)."""
    scheme = "nt_user" if os.name == "nt" else "posix_user"
    version = f"{sys.version_info.major}{sys.version_info.minor}" if os.name == "nt" else ""
    path = sysconfig.get_path("purelib", scheme, vars={"userbase": str(base), "py_version_nodot": version})
    return Path(path)


def qgis_python() -> str:
    """The Python interpreter QGIS embeds, as a program pip can run (``sys.executable`` inside QGIS is the QGIS
    binary itself, or whatever shim is first on PATH)."""
    major, minor = sys.version_info[:2]
    names = [f"python{major}.{minor}", f"python{major}", "python"]
    folders = [Path(sys.base_exec_prefix) / "bin", Path(sys.exec_prefix) / "bin", Path(sys.base_exec_prefix),
               Path(sys.exec_prefix), Path(sys.executable).parent]
    candidates = [folder / (name + (".exe" if os.name == "nt" else "")) for folder in folders for name in names]
    for candidate in candidates:
        if candidate.is_file() and _runs_as_this_python(candidate):
            return str(candidate)
    raise InstallError(f"QGIS's Python {major}.{minor} was not found as a program (looked in "
                       f"{', '.join(str(f) for f in dict.fromkeys(folders))}); install it with pip by hand.")


def _runs_as_this_python(program: Path) -> bool:
    """Whether ``program`` is the same Python version with the same prefix as the running one."""
    code = "import sys; print(sys.version_info[:2], sys.base_prefix)"
    try:
        out = subprocess.run([str(program), "-c", code], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return out.strip() == f"{tuple(sys.version_info[:2])} {sys.base_prefix}"


@dataclass
class Gpu:
    """What ``nvidia-smi`` says (empty name: no NVIDIA GPU or driver)."""

    name: str = ""
    driver: str = ""
    cuda: str = ""

    def describe(self) -> str:
        if not self.name:
            return "no NVIDIA GPU or driver found (nvidia-smi)"
        return f"{self.name}, driver {self.driver}" + (f", CUDA {self.cuda}" if self.cuda else "")


def detect_gpu() -> Gpu:
    """The first NVIDIA GPU and its driver's CUDA version, from ``nvidia-smi``."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return Gpu()
    try:
        query = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=30)
        header = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return Gpu()
    if query.returncode != 0 or not query.stdout.strip():
        return Gpu()
    name, _, driver = query.stdout.splitlines()[0].partition(",")
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
    return Gpu(name.strip(), driver.strip(), cuda.group(1) if cuda else "")


def pip_command(python: str, packages: list[str], wheels: str | None, index_url: str | None,
                constraints: Path) -> list[str]:
    """The pip command line (PYTHONUSERBASE is set by :func:`run_pip`)."""
    command = [python, "-m", "pip", "install", "--user", "--upgrade-strategy", "only-if-needed",
               "--constraint", str(constraints), "--progress-bar", "off", "--no-warn-script-location"]
    if _pip_knows_break_system_packages(python):
        # Debian marks its Python externally managed (PEP 668); --user into our own folder changes nothing there
        command.append("--break-system-packages")
    if wheels:
        command += ["--no-index", "--find-links", str(wheels)]
    else:
        # a connection that breaks fails in seconds, not after pip's five retries with back-off
        command += ["--retries", "1", "--timeout", str(int(PIP_TIMEOUT_S))]
        if index_url:
            command += ["--extra-index-url", index_url]
    return command + list(packages)


def _pip_knows_break_system_packages(python: str) -> bool:
    try:
        out = subprocess.run([python, "-m", "pip", "install", "--help"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--break-system-packages" in out


def constraints_text() -> str:
    """Keep QGIS's numpy: GDAL and rasterio are built against it."""
    import numpy

    return f"numpy=={numpy.__version__}\n"


def package_locations(names: tuple[str, ...]) -> dict[str, str]:
    """Folder each importable package is used from (what Check environment shows); missing ones are left out."""
    import importlib.util

    found = {}
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            found[name] = str(Path(spec.origin).parent)
    return found


#: pip output lines that mean network trouble (then the message says how to install offline).
NETWORK_SIGNS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
                 "Network is unreachable", "Connection refused", "Could not fetch URL", "ProxyError",
                 "connection broken", "Max retries exceeded")


#: How to get the wheels on a machine with internet, for a machine without.
OFFLINE_HINT = ("on a computer with internet and the same Python ({python}) and system ({platform}), run pip "
                "download torch==2.13.0 transformers safetensors tqdm -d WHEELS, copy the WHEELS folder here and "
                "give it as 'Wheel folder'")


def offline_hint() -> str:
    """:data:`OFFLINE_HINT` for this Python and system."""
    return OFFLINE_HINT.format(python=f"{sys.version_info.major}.{sys.version_info.minor}",
                               platform=sysconfig.get_platform())


def configured_index(python: str) -> str:
    """The package index pip uses: ``PIP_INDEX_URL``, else pip's configuration, else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    try:
        listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True,
                                timeout=30).stdout
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


def check_wheel_folder(wheels: str) -> list[str]:
    """The .whl files in ``wheels``; InstallError when the folder is missing or holds none."""
    folder = Path(wheels)
    if not folder.is_dir():
        raise InstallError(f"The wheel folder '{wheels}' does not exist; give a folder of .whl files ("
                           f"to make one, {offline_hint()}).")
    found = sorted(path.name for path in folder.glob("*.whl"))
    if not found:
        raise InstallError(f"The wheel folder '{wheels}' holds no .whl files, so nothing can be installed from it. "
                           f"To fill it, {offline_hint()}.")
    return found


def missing_from_wheels(text: str) -> list[str]:
    """The requirements pip found no usable wheel for (its 'No matching distribution found for X' lines)."""
    return list(dict.fromkeys(re.findall(r"No matching distribution found for (\S+)", text)))


def run_pip(command: list[str], base: Path, log: Callable[[str], None], canceled: Callable[[], bool],
            step: Callable[[str], None], wheels: str | None = None) -> None:
    """Run pip with ``PYTHONUSERBASE=base``, streaming its output to ``log``; ``step`` on each package pip
    starts on; stops pip when ``canceled()``. Raises InstallError with what to do when pip fails: a wheel folder
    without what is needed is named as such (with what is missing), network trouble as no network."""
    env = dict(os.environ, PYTHONUSERBASE=str(base), PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="")
    env.pop("PYTHONPATH", None)
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            lines.append(line)
            log(line)
            if line.startswith(("Collecting ", "Processing ", "Installing collected packages", "Downloading ")):
                step(line)
            if canceled():
                process.terminate()
                process.wait(timeout=60)
                raise InstallError("Canceled: pip was stopped; packages it had finished stay in "
                                   f"{base}, run the installation again to complete it.")
        code = process.wait()
    if code != 0:
        text = "\n".join(lines)
        missing = missing_from_wheels(text)
        if wheels and missing:
            raise InstallError(
                f"The wheel folder '{wheels}' has nothing usable for {', '.join(missing)} (pip exit code {code}): "
                f"no wheel of that name and version for this Python {sys.version_info.major}."
                f"{sys.version_info.minor} and system {sysconfig.get_platform()}. To add it, {offline_hint()}.")
        if any(sign in text for sign in NETWORK_SIGNS):
            raise InstallError(
                f"pip could not get the packages (exit code {code}): no network or no package index answered. "
                f"Without internet here, {offline_hint()}.")
        if missing:
            raise InstallError(
                f"The package index answered but has no {', '.join(missing)} for this Python "
                f"{sys.version_info.major}.{sys.version_info.minor} and system {sysconfig.get_platform()} (pip exit "
                f"code {code}); check the Packages and, for the CPU build, the extra package index.")
        raise InstallError(f"pip failed (exit code {code}); its last lines: " + " | ".join(lines[-5:]))


def install(packages: list[str], *, wheels: str | None, index_url: str | None, log: Callable[[str], None],
            canceled: Callable[[], bool], step: Callable[[str], None]) -> Path:
    """Install ``packages`` into :func:`packages_dir`; returns the site-packages folder they are in."""
    if wheels:
        found = check_wheel_folder(wheels)
        log(f"Wheel folder {wheels}: {len(found)} wheel(s): {', '.join(found[:8])}{', ...' if len(found) > 8 else ''}")
    base = packages_dir()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"The package folder '{base}' cannot be created ({exc}); set {PACKAGES_ENV} to a "
                           "folder you can write to.") from exc
    python = qgis_python()
    log(f"Python: {python} (the one QGIS runs); packages go to {site_dir(base)}")
    if not wheels:
        indexes = [configured_index(python)] + ([index_url] if index_url else [])
        failures = unreachable(indexes)
        if failures:
            raise InstallError(
                f"No network: no package index answered within {PROBE_TIMEOUT_S:g} s ({'; '.join(failures)}), so "
                f"nothing was installed. Connect this computer to the internet and run it again; without "
                f"internet, {offline_hint()}.")
    with tempfile.TemporaryDirectory(prefix="dualstream-pip-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(constraints_text(), encoding="utf-8")
        command = pip_command(python, packages, wheels, index_url, constraints)
        log("$ PYTHONUSERBASE=" + str(base) + " " + " ".join(command))
        run_pip(command, base, log, canceled, step, wheels)
    return site_dir(base)
