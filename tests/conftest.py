"""Shared fixtures: a headless QgsApplication with Processing, and qgis_process helpers.

With ``DUALSTREAM_BLOCK_QGIS=1`` (``make test`` sets it for tests/engine) ``qgis`` cannot be imported at
all in the test process, so every engine test also proves that the engine does not need QGIS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK_QGIS = os.environ.get("DUALSTREAM_BLOCK_QGIS") == "1"

if BLOCK_QGIS:
    from tests.qgis_blocker import install as _block_qgis

    _block_qgis()

# ONNX exports the tests make (the auto backend's cache) go to a folder of this session, never the user's cache;
# subprocesses (CLI, qgis_process) inherit it
TEST_CACHE = Path(tempfile.mkdtemp(prefix="dualstream-test-cache-"))
os.environ["DUALSTREAM_CACHE_DIR"] = str(TEST_CACHE)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_cache():
    yield
    shutil.rmtree(TEST_CACHE, ignore_errors=True)


def _one_torch_thread() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """Every test (and the fixtures it sets up) runs torch on one intra-op thread once torch is loaded: on small,
    shared CPUs two OpenMP threads that spin-wait for each other make small-tensor work several times slower
    (a training fixture took 158 s in the suite on 2 busy cores, 24 s on one thread). Set before the fixtures and
    again after them (they may be what loads torch); torch is never imported here, and subprocesses set
    OMP_NUM_THREADS themselves. The engine tests' modules load torch when collected, so all of theirs are covered."""
    _one_torch_thread()
    yield
    _one_torch_thread()


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    """A started offscreen QgsApplication with the Processing framework initialised (one per session).

    Settings go to a throwaway profile (QGIS_CUSTOM_CONFIG_PATH), never to the user's own.
    """
    if BLOCK_QGIS:
        pytest.fail("this test needs QGIS but DUALSTREAM_BLOCK_QGIS=1 blocks it; run it without that variable")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(tmp_path_factory.mktemp("qgis-config"))
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    plugins = str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins")
    if plugins not in sys.path:
        sys.path.append(plugins)
    from processing.core.Processing import Processing

    Processing.initialize()
    yield app
    Processing.deinitialize()


class QgisProcess:
    """Runs the real ``qgis_process`` headless against a profile folder ``<root>/profiles/default``."""

    #: Nothing may reach QGIS's Python but what the deployed plugin records; one thread per run.
    ISOLATED = {"DUALSTREAM_SITE_PACKAGES": None, "PYTHONPATH": None, "PYTHONHOME": None, "OMP_NUM_THREADS": "1"}

    def __init__(self):
        from scripts.deploy_plugin import qgis_process_command

        self.command = qgis_process_command()

    def run(self, root: Path, *args: str, env: dict[str, str | None] | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
        from scripts.deploy_plugin import qgis_env

        return subprocess.run([*self.command, *args], capture_output=True, text=True, timeout=timeout,
                              env=qgis_env(root, env))

    def run_json(self, root: Path, *args: str, env: dict[str, str | None] | None = None) -> dict:
        """``qgis_process --json ARGS``; asserts success and returns the parsed JSON."""
        done = self.run(root, "--json", *args, env=env)
        assert done.returncode == 0, f"qgis_process {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout[done.stdout.index("{"):])

    @staticmethod
    def algorithm_args(algorithm: str, params: dict) -> list[str]:
        """``run ALGORITHM -- KEY=value ...``; a list value repeats its key (how qgis_process takes several)."""
        values = [f"{key}={item}" for key, value in params.items()
                  for item in (value if isinstance(value, list) else [value])]
        return ["run", algorithm, "--", *values]

    def run_alg(self, root: Path, algorithm: str, params: dict, env: dict[str, str | None] | None = None,
                timeout: int = 300) -> subprocess.CompletedProcess:
        """One algorithm run, isolated (``ISOLATED``) unless ``env`` says otherwise."""
        return self.run(root, *self.algorithm_args(algorithm, params), env=env or self.ISOLATED, timeout=timeout)

    def run_alg_json(self, root: Path, algorithm: str, params: dict,
                     env: dict[str, str | None] | None = None) -> dict:
        """:meth:`run_alg` with ``--json``; asserts success and returns the parsed JSON."""
        return self.run_json(root, *self.algorithm_args(algorithm, params), env=env or self.ISOLATED)


@pytest.fixture(scope="session")
def qgis_process() -> QgisProcess:
    return QgisProcess()


@pytest.fixture(scope="session")
def venv_site_packages() -> list[str]:
    """Site-packages of the Python running the tests (the .venv with torch), for QGIS's own Python."""
    from scripts.deploy_plugin import venv_site_packages

    return venv_site_packages(Path(sys.executable))


@pytest.fixture(scope="session")
def deploy_plugin():
    """``deploy_plugin(root, site_packages=None, enable=True) -> plugin folder``: what `make deploy` does,
    into the throwaway profile ``root/profiles/default``."""
    from scripts.deploy_plugin import deploy

    def _deploy(root: Path, site_packages: list[str] | None = None, enable: bool = True) -> Path:
        return deploy(root / "profiles", "default", site_packages, enable=enable)

    return _deploy


@pytest.fixture(scope="module")
def plugin(qgis_app):
    """The plugin loaded as QGIS loads it, its provider registered for the module (unloaded after)."""
    import dualstream_qgis

    plugin = dualstream_qgis.classFactory(None)
    plugin.initProcessing()
    yield plugin
    plugin.unload()
