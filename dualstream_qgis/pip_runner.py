"""pip, run as QGIS's own Python: making sure it exists, its command line, its progress, its failures.

Progress: pip 24.1 and newer print ``Progress DONE of TOTAL`` lines with ``--progress-bar raw``; older pips
print nothing while a file downloads (their bar needs a terminal), so there the installer watches the download
grow in the temporary folder it gives pip (``TMPDIR``/``TEMP``), against the size pip announced in its
``Downloading NAME (SIZE)`` line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import subproc

#: pip output lines that mean network trouble (then the message says how to install offline).
NETWORK_SIGNS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
                 "Network is unreachable", "Connection refused", "Could not fetch URL", "ProxyError",
                 "connection broken", "Max retries exceeded")
#: pip's own socket timeout (seconds) once the index answered.
PIP_TIMEOUT_S = 15.0
UNITS = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


class InstallError(RuntimeError):
    """The installation cannot go on; the message says what to do."""


@dataclass(frozen=True)
class PipInfo:
    """What the pip of a Python can do."""

    version: str
    break_system_packages: bool
    raw_progress: bool


def pip_env(base: Path, tmp: Path) -> dict[str, str]:
    """pip's environment: ``--user`` means ``base``; its temporary files go to ``tmp`` (where the download
    progress is measured); nothing of QGIS's own module path."""
    env = dict(os.environ, PYTHONUSERBASE=str(base), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
               TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    for key in ("PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONSTARTUP", "PIP_TARGET", "PIP_PREFIX", "PIP_USER"):
        env.pop(key, None)
    return env


def pip_info(python: str, env: dict[str, str]) -> PipInfo | None:
    """The pip of ``python`` (None when it has none)."""
    try:
        version = subproc.run([python, "-m", "pip", "--version"], timeout=120, env=env)
        if version.returncode != 0:
            return None
        text = subproc.run([python, "-m", "pip", "install", "--help"], timeout=120, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    bar = re.search(r"--progress-bar[^\[]*\[([^\]]*)\]", text)
    return PipInfo(version.stdout.split()[1] if len(version.stdout.split()) > 1 else "?",
                   "--break-system-packages" in text, bool(bar and "raw" in bar.group(1)))


def _pip_wheels(python: str, wheels: str | None, env: dict[str, str]) -> list[Path]:
    """pip wheels to bootstrap from: the wheel folder's, then those the Python itself carries (ensurepip's
    bundled wheel; the distribution's wheel folder, WHEEL_PKG_DIR, where Debian and Fedora keep it)."""
    code = ("import os, sysconfig\nimport ensurepip\n"
            "print(sysconfig.get_config_var('WHEEL_PKG_DIR') or '')\n"
            "print(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled'))\n")
    folders = [Path(wheels)] if wheels else []
    try:
        done = subproc.run([python, "-c", code], timeout=60, env=env)
        folders += [Path(line) for line in done.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        pass
    found = [wheel for folder in folders if folder.is_dir() for wheel in sorted(folder.glob("pip-*.whl"))]
    return sorted(found, key=lambda w: [int(n) for n in re.findall(r"\d+", w.name.split("-")[1])][:3], reverse=True)


def ensure_pip(python: str, env: dict[str, str], wheels: str | None, log: Callable[[str], None],
               canceled: Callable[[], bool]) -> PipInfo:
    """The pip of ``python``, added into the ``--user`` folder (``PYTHONUSERBASE`` of ``env``) when it has
    none: with ``ensurepip``, else from a pip wheel (the wheel folder's, or one the Python carries)."""
    info = pip_info(python, env)
    if info is not None:
        return info
    log("QGIS's Python has no pip: adding it to the package folder (python -m ensurepip --user)")
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        log(line)

    code = subproc.stream([python, "-m", "ensurepip", "--user"], env=env, on_line=keep, canceled=canceled)
    info = pip_info(python, env)
    if info is not None:
        return info
    for wheel in _pip_wheels(python, wheels, env):
        log(f"ensurepip could not (exit code {code}); installing pip from {wheel}")
        command = [python, str(wheel / "pip"), "install", "--user", "--no-index", "--no-warn-script-location"]
        version = [int(n) for n in re.findall(r"\d+", wheel.name.split("-")[1])][:2]
        if version >= [23, 0]:  # pip 23.0 refuses PEP 668 "externally managed" Pythons without it
            command.append("--break-system-packages")
        subproc.stream(command + [str(wheel)], env=env, on_line=log, canceled=canceled)
        info = pip_info(python, env)
        if info is not None:
            return info
    raise InstallError(
        f"QGIS's Python ({python}) has no pip, and neither ensurepip nor a pip wheel could add it"
        + (f" (ensurepip said: {' | '.join(lines[-3:])})" if lines else "") + ". Give a 'Wheel folder' that "
        "holds a pip wheel (on another computer: pip download pip -d WHEELS), or install pip for that Python "
        "(Debian/Ubuntu: sudo apt-get install python3-pip).")


def pip_command(python: str, info: PipInfo, packages: list[str], wheels: str | None, index_url: str | None,
                constraints: Path) -> list[str]:
    """The pip command line (PYTHONUSERBASE comes with :func:`pip_env`)."""
    command = [python, "-m", "pip", "install", "--user", "--upgrade-strategy", "only-if-needed",
               "--constraint", str(constraints), "--progress-bar", "raw" if info.raw_progress else "off",
               "--no-warn-script-location", "--prefer-binary"]
    if info.break_system_packages:
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


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # pip removed it meanwhile
    return total


def _size(number: str, unit: str) -> int:
    return int(float(number) * UNITS.get(unit, 1))


class DownloadProgress:
    """Turns pip's output (and, for pips without raw progress, the growth of its temporary folder) into
    ``NAME: 12.3 of 241.0 MB (5 %)`` reports: ``show`` at every new percent (QGIS's dialog also logs what it
    shows: at most a hundred lines a file), ``log`` at every tenth."""

    def __init__(self, tmp: Path, raw: bool, show: Callable[[str], None], log: Callable[[str], None]):
        self.tmp, self.raw, self.show, self.log = tmp, raw, show, log
        self.name, self.total, self.baseline, self.tenth, self.percent = "", 0, 0, -1, -1

    def line(self, line: str) -> bool:
        """Read one line of pip's output; True when it is a progress line (not for the log)."""
        raw = re.match(r"Progress (\d+) of (\d+)$", line.strip())
        if raw:
            if int(raw.group(2)) != self.total and int(raw.group(2)):
                self.total, self.percent = int(raw.group(2)), -1
            self._report(int(raw.group(1)))
            return True
        started = re.search(r"Downloading (\S+) \(([\d.]+) (bytes|kB|MB|GB)\)", line)
        if started:
            self.name = started.group(1).rsplit("/", 1)[-1]
            self.total, self.tenth, self.percent = _size(started.group(2), started.group(3)), -1, -1
            self.baseline = folder_bytes(self.tmp)
        elif line.lstrip().startswith(("Installing collected packages", "Collecting", "Processing")):
            self.name = ""
        return False

    def tick(self) -> None:
        if self.name and not self.raw:
            self._report(folder_bytes(self.tmp) - self.baseline)

    def _report(self, done: int) -> None:
        if not self.name or self.total <= 0:
            return
        done = max(0, min(done, self.total))
        percent = 100 * done // self.total
        if percent == self.percent:
            return
        self.percent = percent
        text = f"{self.name}: {done / 1e6:.1f} of {self.total / 1e6:.1f} MB ({percent} %)"
        self.show(text)
        tenth = 10 * done // self.total
        if tenth != self.tenth:
            self.tenth = tenth
            self.log("  " + text)


def missing_from_wheels(text: str) -> list[str]:
    """The requirements pip found no usable wheel for (its 'No matching distribution found for X' lines)."""
    return list(dict.fromkeys(re.findall(r"No matching distribution found for (\S+)", text)))


def run_pip(command: list[str], env: dict[str, str], *, log: Callable[[str], None], canceled: Callable[[], bool],
            step: Callable[[str], None], progress: DownloadProgress, wheels: str | None, hint: str) -> None:
    """Run pip, streaming its output to ``log`` (progress lines to ``progress``); ``step`` on each package pip
    starts on; stops pip within seconds when ``canceled()``. Raises InstallError with what to do when pip fails
    (``hint``: how to install without internet)."""
    lines: list[str] = []

    def on_line(line: str) -> None:
        if progress.line(line):
            return
        lines.append(line)
        log(line)
        if line.lstrip().startswith(("Collecting ", "Processing ", "Installing collected packages", "Downloading ")):
            step(line.strip())

    try:
        code = subproc.stream(command, env=env, on_line=on_line, canceled=canceled, on_tick=progress.tick)
    except subproc.Canceled as exc:
        raise InstallError(f"Canceled: {exc}; what it had installed completely stays in the package folder, run "
                           "the installation again to complete it.") from exc
    if code == 0:
        return
    text = "\n".join(lines)
    missing = missing_from_wheels(text)
    where = f"this Python {sys.version_info.major}.{sys.version_info.minor} and system {sysconfig.get_platform()}"
    if wheels and missing:
        raise InstallError(f"The wheel folder '{wheels}' has nothing usable for {', '.join(missing)} (pip exit code "
                           f"{code}): no wheel of that name and version for {where}. To add it, {hint}.")
    if any(sign in text for sign in NETWORK_SIGNS):
        raise InstallError(f"pip could not get the packages (exit code {code}): no network or no package index "
                           f"answered. Without internet here, {hint}.")
    if missing:
        raise InstallError(f"The package index answered but has no {', '.join(missing)} for {where} (pip exit code "
                           f"{code}); check the Packages and the extra package index.")
    raise InstallError(f"pip failed (exit code {code}); its last lines: " + " | ".join(lines[-5:]))
