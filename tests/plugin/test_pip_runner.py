"""pip as the installer runs it: added where a bundle has none, download progress, Cancel, one way to start
programs. Real pip, real subprocesses, a real (slow) package index on 127.0.0.1; no network."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from dualstream_qgis import deps, interpreter, pip_runner, subproc

from .pip_index import SlowIndex, make_wheel
from .qgis_layouts import app_3_40

REPO = Path(__file__).resolve().parents[2]


def test_pip_is_added_where_the_bundle_has_none(tmp_path):
    """QGIS.app's Python without pip (as some bundles ship): ensurepip is tried (Debian's refuses for a system
    Python, as this copy is), then pip goes in from a pip wheel the Python carries; it lands in the package
    folder, nowhere else."""
    running, python = app_3_40(tmp_path / "bundle")
    base = tmp_path / "packages"
    found = interpreter.find(base, running)
    assert found.program == str(python) and not found.pip
    env = pip_runner.pip_env(base, tmp_path)
    log: list[str] = []
    info = pip_runner.ensure_pip(str(python), env, None, log.append, lambda: False)
    assert info.version and info.version != "?", log
    assert any("ensurepip --user" in line for line in log), log
    where = subproc.run([str(python), "-c", "import pip; print(pip.__file__)"], timeout=60, env=env).stdout.strip()
    assert Path(where).is_relative_to(base), where
    assert interpreter.find(base, running).pip


def test_no_pip_and_nothing_to_add_it_from_says_what_to_do(tmp_path):
    """A Python with neither pip nor ensurepip nor a pip wheel: the message names the ways out."""
    running, python = app_3_40(tmp_path / "bundle")
    # the bundle's own standard library, without ensurepip (its stdlib link replaced by a copy of the links)
    lib = Path(running.base_prefix) / "lib" / f"python{running.version[0]}.{running.version[1]}"
    target = lib.resolve()
    lib.unlink()
    lib.mkdir()
    for entry in target.iterdir():
        if entry.name not in ("ensurepip", "site-packages", "dist-packages"):
            (lib / entry.name).symlink_to(entry)
    env = pip_runner.pip_env(tmp_path / "packages", tmp_path)
    with pytest.raises(pip_runner.InstallError, match=r"has no pip, and neither ensurepip nor a pip wheel could add "
                                                      r"it.*'Wheel folder' that holds a pip wheel.*python3-pip"):
        pip_runner.ensure_pip(str(python), env, None, lambda line: None, lambda: False)


@pytest.fixture
def slow_index(tmp_path, monkeypatch):
    """A 4 MB package on a local index sending 1.5 MB/s; pip configured for nothing else."""
    make_wheel(tmp_path / "index", name="dsbigpkg", payload=4_000_000)
    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(tmp_path / "packages"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")  # a download each time, never pip's cache
    with SlowIndex(tmp_path / "index", rate=1_500_000) as index:
        monkeypatch.setenv("PIP_INDEX_URL", index.url)
        yield index


def test_download_progress_is_reported_while_pip_downloads(slow_index, tmp_path):
    shown: list[str] = []
    log: list[str] = []
    site = deps.install(["dsbigpkg==0.1"], wheels=None, index_url=None, log=log.append, canceled=lambda: False,
                        step=lambda line: None, show=shown.append)
    assert (site / "dsbigpkg" / "data.bin").stat().st_size == 4_000_000
    percents = [int(text.rsplit("(", 1)[1].split(" ")[0]) for text in shown]
    assert all(text.startswith("dsbigpkg-0.1-py3-none-any.whl: ") and text.endswith(" of 4.0 MB (" +
               text.rsplit("(", 1)[1]) for text in shown), shown
    assert percents == sorted(percents) and len({p for p in percents if 0 < p < 100}) >= 2, shown
    assert any(line.startswith("  dsbigpkg-0.1-py3-none-any.whl: ") for line in log), log  # tenths in the log
    print(f"\nprogress shown while pip downloaded: {shown}")


def test_cancel_stops_pip_in_the_middle_of_a_download(slow_index, tmp_path):
    shown: list[str] = []
    canceled_at: list[float] = []

    def canceled() -> bool:
        if not canceled_at and any(" MB (0 %)" not in text for text in shown):
            canceled_at.append(time.monotonic())  # the user presses Cancel once the download is under way
        return bool(canceled_at)

    with pytest.raises(deps.InstallError, match=r"^Canceled: python3\.\d+ was stopped") as caught:
        deps.install(["dsbigpkg==0.1"], wheels=None, index_url=None, log=lambda line: None, canceled=canceled,
                     step=lambda line: None, show=shown.append)
    stopped_after = time.monotonic() - canceled_at[0]
    assert "run the installation again" in str(caught.value)
    site = deps.site_dir(deps.packages_dir())
    assert not (site / "dsbigpkg").exists()
    for _ in range(100):  # the index sees pip's connection close: pip is gone, not just no longer read
        if slow_index.aborted:
            break
        time.sleep(0.1)
    assert slow_index.aborted == ["dsbigpkg-0.1-py3-none-any.whl"] and not slow_index.served
    print(f"\npip stopped {stopped_after:.2f} s after Cancel, at {shown[-1]}")


def test_raw_progress_lines_of_newer_pips(tmp_path):
    """pip >= 24.1 with --progress-bar raw: 'Progress DONE of TOTAL' lines are progress, not log lines."""
    shown: list[str] = []
    logged: list[str] = []
    progress = pip_runner.DownloadProgress(tmp_path, True, shown.append, logged.append)
    assert not progress.line("  Downloading torch-2.13.0-cp312-cp312-win_amd64.whl (241.2 MB)")
    assert progress.line("Progress 0 of 241200000") and progress.line("Progress 120600000 of 241200000")
    assert shown == ["torch-2.13.0-cp312-cp312-win_amd64.whl: 0.0 of 241.2 MB (0 %)",
                     "torch-2.13.0-cp312-cp312-win_amd64.whl: 120.6 of 241.2 MB (50 %)"]
    assert logged == ["  " + text for text in shown]


def test_every_program_is_started_through_subproc():
    """One helper starts programs (no console window on Windows, Cancel, UTF-8): no other module calls
    subprocess's starters."""
    starters = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}
    offenders = []
    for path in sorted((REPO / "dualstream_qgis").rglob("*.py")):
        if path.name == "subproc.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in starters and isinstance(node.value, ast.Name)
                    and node.value.id == "subprocess") or (isinstance(node, ast.Attribute) and node.attr == "system"
                                                           and isinstance(node.value, ast.Name)
                                                           and node.value.id == "os"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
