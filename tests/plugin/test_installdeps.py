"""``dualstream:installdeps`` through ``processing.run``: real pip of QGIS's Python, a tiny wheel built here.

The mechanism is the same for torch: pip ``--user`` with ``PYTHONUSERBASE`` set to the per-user folder, which
the plugin then puts on ``sys.path``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import pytest

from .pip_index import SlowIndex, make_wheel

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]


def _wheel(folder: Path, name: str = "dstinypkg", version: str = "0.1") -> Path:
    return make_wheel(folder, name, version)


def test_default_packages_are_the_requirements():
    from dualstream_qgis.deps import DEFAULT_PACKAGES

    pins = [line.strip() for name in ("requirements.txt", "requirements-onnx.txt")
            for line in (REPO / name).read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert list(DEFAULT_PACKAGES) == pins  # what the engine imports: torch and the onnxruntime backend


def test_installs_from_a_wheel_folder_into_the_user_folder_and_onto_sys_path(plugin, tmp_path, monkeypatch):
    import processing

    from dualstream_qgis.deps import qgis_python

    wheels = _wheel(tmp_path / "wheels").parent
    target = tmp_path / "packages"
    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(target))
    log: list[str] = []

    from qgis.core import QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def pushConsoleInfo(self, info):  # noqa: N802 - QGIS API
            log.append(info)
            super().pushConsoleInfo(info)

    before = list(sys.path)
    try:
        results = processing.run("dualstream:installdeps", {"WHEELS": str(wheels), "PACKAGES": "dstinypkg==0.1",
                                                            "BUILD": "cpu"}, feedback=Feedback())
        folder = Path(results["FOLDER"])
        assert folder.is_relative_to(target) and (folder / "dstinypkg" / "__init__.py").is_file()
        assert str(folder) in sys.path
        module = importlib.import_module("dstinypkg")
        assert module.VALUE == 42 and Path(module.__file__).is_relative_to(target)
        assert any("Successfully installed dstinypkg-0.1" in line for line in log), log
        assert any(qgis_python() in line and "--no-index" in line for line in log), log
    finally:
        sys.path[:] = before
        sys.modules.pop("dstinypkg", None)
    # nothing outside the folder: the system's and the user's own site-packages do not have it
    import site

    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        assert not (Path(folder) / "dstinypkg").exists()


def test_no_network_and_no_wheel_folder_says_what_to_do(plugin, tmp_path, monkeypatch):
    import processing
    from qgis.core import QgsProcessingException

    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(tmp_path / "packages"))
    # pip with no configuration and an index nobody answers on: what an air-gapped machine sees
    for key, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
                       "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(QgsProcessingException, match="No network.*Wheel folder"):
        processing.run("dualstream:installdeps", {"PACKAGES": "dstinypkg==0.1", "BUILD": "cuda"})
    with pytest.raises(QgsProcessingException, match="wheel folder .* does not exist"):
        processing.run("dualstream:installdeps", {"PACKAGES": "dstinypkg==0.1",
                                                  "WHEELS": str(tmp_path / "missing")})


def _run_logged(parameters: dict) -> tuple[str, list[str]]:
    """Run installdeps; (its error message, the lines it logged)."""
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    log: list[str] = []

    class Feedback(QgsProcessingFeedback):
        def pushConsoleInfo(self, info):  # noqa: N802 - QGIS API
            log.append(info)

    with pytest.raises(QgsProcessingException) as caught:
        processing.run("dualstream:installdeps", parameters, feedback=Feedback())
    return str(caught.value), log


def test_no_network_is_said_at_once_without_running_pip(plugin, tmp_path, monkeypatch):
    """An index that does not answer (no PIP_RETRIES/PIP_TIMEOUT help here): the probe says 'no network' before pip
    starts its retries (38 s before), with the offline way in this dialog's own words."""
    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(tmp_path / "packages"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    for key in ("PIP_RETRIES", "PIP_TIMEOUT", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(key, raising=False)
    message, log = _run_logged({"PACKAGES": "dstinypkg==0.1", "BUILD": "cuda"})
    assert message.startswith("No network: no package index answered") and "127.0.0.1:9" in message, message
    # the exact command that fills a wheel folder: the packages asked for, pip itself, the CUDA index chosen
    assert "give it as 'Wheel folder'" in message and "-d WHEELS dstinypkg==0.1 pip" in message, message
    assert "pip download --extra-index-url https://download.pytorch.org/whl/cu126" in message, message
    assert not any(line.startswith("$ PYTHONUSERBASE=") for line in log), "pip ran although nothing answered"


def test_empty_or_incomplete_wheel_folder_is_not_called_no_network(plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(tmp_path / "packages"))
    empty = tmp_path / "empty"
    empty.mkdir()
    message, _ = _run_logged({"PACKAGES": "dstinypkg==0.1", "WHEELS": str(empty)})
    assert f"The wheel folder '{empty}' holds no .whl files" in message and "network" not in message.lower()
    # a folder with other wheels: pip runs and the message names what is missing from it
    other = _wheel(tmp_path / "other", name="dsotherpkg").parent
    message, log = _run_logged({"PACKAGES": "dstinypkg==0.1", "WHEELS": str(other)})
    assert f"The wheel folder '{other}' has nothing usable for dstinypkg==0.1" in message, message
    assert "No network" not in message and any("dsotherpkg-0.1-py3-none-any.whl" in line for line in log)


def test_what_qgis_lacks_of_rasterio_and_co_is_added_and_what_it_has_kept(plugin, tmp_path, monkeypatch):
    """rasterio is installed only where QGIS's Python cannot import it (here: Debian's is kept); the same rule
    adds a package QGIS lacks (a stand-in name, as this machine has rasterio)."""
    import processing

    from dualstream_qgis import deps

    wheels = _wheel(tmp_path / "wheels").parent
    _wheel(wheels, name="dsrasterlike")
    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(tmp_path / "packages"))
    monkeypatch.setattr(deps, "SYSTEM_FIRST", ("rasterio", "dsrasterlike"))
    infos: list[str] = []
    from qgis.core import QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def pushInfo(self, info):  # noqa: N802 - QGIS API
            infos.append(info)

    before = list(sys.path)
    try:
        results = processing.run("dualstream:installdeps", {"WHEELS": str(wheels), "PACKAGES": "dstinypkg==0.1",
                                                            "BUILD": "cpu"}, feedback=Feedback())
        folder = Path(results["FOLDER"])
        assert (folder / "dsrasterlike" / "__init__.py").is_file() and not (folder / "rasterio").exists()
    finally:
        sys.path[:] = before
    assert any(i.startswith("rasterio: QGIS's Python has it already; it is kept") for i in infos), infos
    assert any(i.startswith("dsrasterlike: QGIS's Python has none") for i in infos), infos
    assert results["BUILD"] == "cpu" and any("torch build: CPU (asked for)" in i for i in infos), infos


def test_runs_as_a_background_task_and_cancel_stops_pip(plugin, tmp_path, monkeypatch):
    """As the Processing dialog runs it: a QgsProcessingAlgRunnerTask in QGIS's task manager. The main event loop
    keeps turning (a timer ticks) while pip downloads from a slow local index; Cancel stops pip mid-download."""
    from qgis.core import (
        QgsApplication,
        QgsProcessingAlgorithm,
        QgsProcessingAlgRunnerTask,
        QgsProcessingContext,
        QgsProcessingFeedback,
    )
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    make_wheel(tmp_path / "index", name="dsbigpkg", payload=6_000_000)
    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(tmp_path / "packages"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    alg = QgsApplication.processingRegistry().createAlgorithmById("dualstream:installdeps")
    assert not alg.flags() & QgsProcessingAlgorithm.FlagNoThreading

    texts: list[str] = []

    class Feedback(QgsProcessingFeedback):
        def setProgressText(self, text):  # noqa: N802 - QGIS API (called from the task's thread)
            texts.append(text)

    feedback, context = Feedback(), QgsProcessingContext()
    ticks = {"before": 0, "during": 0}
    outcome: dict = {}
    with SlowIndex(tmp_path / "index", rate=1_000_000) as index:
        monkeypatch.setenv("PIP_INDEX_URL", index.url)
        task = QgsProcessingAlgRunnerTask(alg, {"PACKAGES": "dsbigpkg==0.1", "BUILD": "cpu", "INDEX_URL": ""},
                                          context, feedback)
        loop = QEventLoop()
        task.executed.connect(lambda ok, results: (outcome.update(ok=ok, results=results), loop.quit()))
        timer = QTimer()

        def tick():
            downloading = any(" MB (" in t and " MB (0 %)" not in t for t in texts)
            ticks["during" if downloading else "before"] += 1
            if downloading and ticks["during"] >= 5 and not feedback.isCanceled():
                outcome["canceled_at"] = time.monotonic()
                feedback.cancel()

        timer.timeout.connect(tick)
        timer.start(100)
        QgsApplication.taskManager().addTask(task)
        QTimer.singleShot(120_000, loop.quit)  # a hang fails the asserts below instead of the whole run
        loop.exec_()
        timer.stop()
        for _ in range(100):
            if index.aborted:
                break
            time.sleep(0.1)
    assert outcome.get("ok") is False, outcome  # canceled: the task ends without results
    assert ticks["during"] >= 5, ticks  # the event loop ran while pip was downloading
    assert index.aborted == ["dsbigpkg-0.1-py3-none-any.whl"] and not index.served
    site = Path(tmp_path / "packages")
    assert not list(site.rglob("dsbigpkg"))
    print(f"\ntimer ticks while pip downloaded: {ticks['during']}; last progress: {texts[-1]}; "
          f"task ended {time.monotonic() - outcome['canceled_at']:.2f} s after Cancel")
