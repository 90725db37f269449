"""Check environment tells a package that is installed but fails to load from a missing one."""

from __future__ import annotations

import json
import sys

import pytest

from dualstream_qgis import deps

pytestmark = pytest.mark.qgis


def _drop(name: str) -> dict:
    gone = {k: v for k, v in sys.modules.items() if k == name or k.startswith(name + ".")}
    for key in gone:
        del sys.modules[key]
    return gone


def test_checkenv_says_installed_but_fails_to_load_with_the_error(plugin, tmp_path, monkeypatch):
    import processing
    from qgis.core import QgsProcessingFeedback

    # a safetensors that is there but cannot load: its native library is missing (as torch's DLLs without the
    # Visual C++ runtime on Windows)
    package = tmp_path / "broken" / "safetensors"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("import ctypes\nctypes.CDLL('libdualstream-missing-runtime.so.1')\n")
    warnings: list[str] = []
    infos: list[str] = []

    class Feedback(QgsProcessingFeedback):
        def pushWarning(self, text):  # noqa: N802 - QGIS API
            warnings.append(text)

        def pushInfo(self, text):  # noqa: N802 - QGIS API
            infos.append(text)

    saved = _drop("safetensors")
    monkeypatch.syspath_prepend(str(package.parent))
    try:
        results = processing.run("dualstream:checkenv", {}, feedback=Feedback())
    finally:
        _drop("safetensors")
        sys.modules.update(saved)
    assert "safetensors" not in results["missing"].split(",")
    broken = json.loads(results["broken"])
    assert list(broken) == ["safetensors"]
    assert broken["safetensors"].startswith("OSError: libdualstream-missing-runtime")
    assert "safetensors: INSTALLED BUT FAILS TO LOAD" in results["report"]
    said = [w for w in warnings if w.startswith("safetensors is installed")]
    assert len(said) == 1 and f"({package}) but fails to load: OSError" in said[0], warnings
    assert not any(w.startswith("safetensors is missing") for w in warnings), warnings
    assert results["models_ok"] is False and "fail to load" in results["models_error"]


def test_advice_for_a_dll_that_does_not_load_on_windows(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALSTREAM_PACKAGES_DIR", str(tmp_path / "packages"))
    error = ('OSError: [WinError 1114] A dynamic link library (DLL) initialization routine failed. Error loading '
             '"C:\\Users\\me\\AppData\\Roaming\\QGIS\\QGIS3\\profiles\\default\\dualstream\\Python312\\site-packages'
             '\\torch\\lib\\c10.dll" or one of its dependencies.')
    advice = deps.load_failure_advice("torch", error, None)
    assert deps.VC_REDIST_URL in advice and "again does not help" in advice
    assert deps.VC_REDIST_URL in deps.load_failure_advice("torch", "OSError: [WinError 126] The specified module "
                                                                   "could not be found", None)
    ours = tmp_path / "packages" / "lib" / "site-packages" / "transformers"
    ours.mkdir(parents=True)
    assert "Delete the folder" in deps.load_failure_advice("transformers", "ImportError: cannot import name 'x'",
                                                           str(ours))
    assert "Reinstall numpy where it is installed (/usr/lib/python3/dist-packages/numpy)" in \
        deps.load_failure_advice("numpy", "ImportError: x", "/usr/lib/python3/dist-packages/numpy")
