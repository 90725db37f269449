"""``dualstream:installdeps`` through ``processing.run``: real pip of QGIS's Python, a tiny wheel built here.

The mechanism is the same for torch: pip ``--user`` with ``PYTHONUSERBASE`` set to the per-user folder, which
the plugin then puts on ``sys.path``. One real torch install through it is recorded in the README.
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
    with pytest.raises(QgsProcessingException, match="no network.*Wheel folder"):
        processing.run("dualstream:installdeps", {"PACKAGES": "dstinypkg==0.1", "BUILD": "cuda"})
    with pytest.raises(QgsProcessingException, match="wheel folder .* does not exist"):
        processing.run("dualstream:installdeps", {"PACKAGES": "dstinypkg==0.1",
                                                  "WHEELS": str(tmp_path / "missing")})
