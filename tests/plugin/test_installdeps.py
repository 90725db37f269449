"""``dualstream:installdeps`` through ``processing.run``: real pip of QGIS's Python, a tiny wheel built here.

The mechanism is the same for torch: pip ``--user`` with ``PYTHONUSERBASE`` set to the per-user folder, which
the plugin then puts on ``sys.path``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]


def _wheel(folder: Path, name: str = "dstinypkg", version: str = "0.1") -> Path:
    """A minimal pure-Python wheel (PEP 427): one module and its dist-info, with a correct RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        f"{name}/__init__.py": f"VALUE = 42\nVERSION = {version!r}\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                             "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_default_packages_are_the_requirements():
    from dualstream_qgis.deps import DEFAULT_PACKAGES

    pins = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert list(DEFAULT_PACKAGES) == pins


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
    assert "give it as 'Wheel folder'" in message and "pip download torch==2.13.0" in message
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
