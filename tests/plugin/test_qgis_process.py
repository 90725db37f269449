"""The plugin in real headless ``qgis_process`` runs: deployed as `make deploy` does, and from the zip.

Every run uses a throwaway profile (``QGIS_CUSTOM_CONFIG_PATH=<tmp>``, profile ``<tmp>/profiles/default``).
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from scripts.assemble_plugin import assemble, build_zip

pytestmark = [pytest.mark.qgis]

REPO = Path(__file__).resolve().parents[2]
#: Variables that could let QGIS's Python find torch by another way than the one under test.
NO_LEAKS = {"DUALSTREAM_SITE_PACKAGES": None, "PYTHONPATH": None, "PYTHONHOME": None}


def test_deployed_plugin_is_listed_and_checkenv_sees_venv_torch(tmp_path, qgis_process, deploy_plugin,
                                                                 venv_site_packages):
    import torch

    plugin_dir = deploy_plugin(tmp_path, venv_site_packages)
    assert (plugin_dir / "engine" / "__init__.py").is_file()
    assert venv_site_packages[0] in (plugin_dir / "site-packages.txt").read_text()

    plugins = qgis_process.run(tmp_path, "plugins", env=NO_LEAKS)
    assert plugins.returncode == 0, plugins.stderr
    assert "* dualstream_qgis" in plugins.stdout  # enabled

    listing = qgis_process.run(tmp_path, "list", env=NO_LEAKS)
    assert listing.returncode == 0, listing.stderr
    assert "DualStream" in listing.stdout and "dualstream:checkenv" in listing.stdout

    out = qgis_process.run_json(tmp_path, "run", "dualstream:checkenv", env=NO_LEAKS)
    results = out["results"]
    assert out["provider_details"]["name"] == "DualStream"
    assert results["torch"] == torch.__version__
    assert results["transformers"] and results["rasterio"] and results["gdal"]
    assert results["missing"] == ""
    assert results["models_ok"] is True, results["models_error"]
    assert results["cuda_available"] is torch.cuda.is_available()
    # QGIS keeps Debian's numpy even though the venv's folder is on its path.
    import numpy

    assert numpy.__file__.startswith("/usr/") and results["numpy"] == numpy.__version__
    assert any("torch:" in line for line in out["log"]["info"])


def test_without_venv_provider_loads_and_checkenv_names_install_command(tmp_path, qgis_process, deploy_plugin):
    deploy_plugin(tmp_path, site_packages=None)
    listing = qgis_process.run(tmp_path, "list", env=NO_LEAKS)
    assert "dualstream:checkenv" in listing.stdout, listing.stderr
    results = qgis_process.run_json(tmp_path, "run", "dualstream:checkenv", env=NO_LEAKS)["results"]
    # QGIS's own Python usually lacks both; a Debian with python3-torch (trixie, sid) has torch system-wide
    absent = absent_from_system_python("torch", "transformers")
    assert absent, "QGIS's Python has torch and transformers of its own: nothing is missing to report here"
    assert results["models_ok"] is False
    assert set(absent) <= set(results["missing"].split(","))
    assert results["torch"] is None or "torch" not in absent
    assert "torch==2.13.0" in results["install_hints"]
    # deployed without a virtual environment, as a zip install: its own installer, no checkout's make targets
    assert "Install dependencies" in results["install_hints"] and "make " not in results["install_hints"]


def absent_from_system_python(*names: str) -> list[str]:
    """Those of ``names`` that QGIS's Python (the system's) cannot find."""
    code = "import importlib.util, sys; print(*[n for n in sys.argv[1:] if importlib.util.find_spec(n) is None])"
    done = subprocess.run(["/usr/bin/python3", "-c", code, *names], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"})
    return done.stdout.split()


def test_missing_torch_fails_algorithms_with_install_command(tmp_path):
    """In QGIS's own Python (no venv), require_packages raises QgsProcessingException naming the fix."""
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["QGIS_CUSTOM_CONFIG_PATH"] = {str(tmp_path)!r}
        sys.path.insert(0, {str(REPO)!r})
        import importlib.abc
        class NoTorch(importlib.abc.MetaPathFinder):  # in case this machine has a system-wide torch
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, NoTorch())
        from qgis.core import QgsApplication, QgsProcessingException
        app = QgsApplication([], False)
        app.initQgis()
        import dualstream_qgis
        plugin = dualstream_qgis.classFactory(None)
        plugin.initProcessing()
        assert QgsApplication.processingRegistry().algorithmById("dualstream:checkenv") is not None
        from dualstream_qgis.algorithms.algorithm import require_packages
        try:
            require_packages("torch")
        except QgsProcessingException as exc:
            print("MESSAGE:", exc)
        else:
            print("NO ERROR")
        plugin.unload()
    """)
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "MESSAGE:" in done.stdout, done.stdout
    message = done.stdout.split("MESSAGE:", 1)[1]
    assert "'torch'" in message and "torch==2.13.0" in message and "DUALSTREAM_SITE_PACKAGES" in message


def test_package_zip_content_and_loads_in_fresh_profile(tmp_path, qgis_process, venv_site_packages):
    import torch

    zip_path = build_zip(tmp_path / "dist" / "dualstream_qgis.zip")
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {"dualstream_qgis"}
        for required in ("dualstream_qgis/__init__.py", "dualstream_qgis/provider.py", "dualstream_qgis/metadata.txt",
                         "dualstream_qgis/LICENSE", "dualstream_qgis/README.md", "dualstream_qgis/engine/__init__.py",
                         "dualstream_qgis/engine/runtime/environment.py",
                         "dualstream_qgis/resources/icons/dualstream.svg",
                         "dualstream_qgis/algorithms/checkenv.py"):
            assert required in names, f"{required} missing from the zip"
        assert not [n for n in names if "__pycache__" in n or n.endswith(("site-packages.txt", ".pyc"))]
        root = tmp_path / "qgis"
        plugins = root / "profiles" / "default" / "python" / "plugins"
        plugins.mkdir(parents=True)
        archive.extractall(plugins)

    enabled = qgis_process.run(root, "plugins", "enable", "dualstream_qgis", env=NO_LEAKS)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    listing = qgis_process.run(root, "list", env=NO_LEAKS)
    assert "dualstream:checkenv" in listing.stdout, listing.stderr
    env = dict(NO_LEAKS, DUALSTREAM_SITE_PACKAGES=":".join(venv_site_packages))
    results = qgis_process.run_json(root, "run", "dualstream:checkenv", env=env)["results"]
    assert results["torch"] == torch.__version__
    assert results["models_ok"] is True, results["models_error"]


def test_metadata_is_complete():
    parser = configparser.RawConfigParser()
    parser.read(REPO / "metadata.txt", encoding="utf-8")
    general = dict(parser["general"])
    # the plugin repository's required keys and ours (tests/plugin/test_plugin_repository.py checks the rules)
    for key in ("name", "qgisminimumversion", "description", "about", "version", "author", "email",
                "hasprocessingprovider", "category", "icon", "repository", "tracker", "homepage", "supportsqt6"):
        assert general.get(key), f"metadata.txt lacks {key}"
    assert general["qgisminimumversion"] == "3.22"
    assert general["hasprocessingprovider"] == "yes"
    assert (REPO / general["icon"]).is_file()
    import engine

    assert general["version"] == engine.__version__


def test_engine_bridge_picks_bundled_engine_when_installed(tmp_path):
    folder = assemble(tmp_path / "plugins")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(folder.parent)!r})
        from dualstream_qgis.engine_bridge import engine, engine_api
        package = engine()
        assert package.__name__ == "dualstream_qgis.engine", package.__name__
        assert engine_api().__file__.startswith({str(folder)!r})
        assert "engine" not in sys.modules, "the top-level engine package was imported"
        print("OK")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr


def test_engine_bridge_uses_checkout_engine_and_places_site_packages(tmp_path):
    """Extra folders go before the system site-packages (newer torch deps win), except a folder holding
    numpy/GDAL, which is appended so it can never shadow QGIS's own."""
    extra = tmp_path / "site-packages"
    extra.mkdir()
    shadowing = tmp_path / "with-numpy"
    (shadowing / "numpy").mkdir(parents=True)
    script = textwrap.dedent(f"""
        import site, sys
        sys.path.insert(0, {str(REPO)!r})
        from dualstream_qgis.engine_bridge import engine
        assert engine().__name__ == "engine"
        system = [i for i, p in enumerate(sys.path) if p in site.getsitepackages()]
        assert system, sys.path
        assert sys.path.index({str(extra)!r}) < min(system), sys.path
        assert sys.path[-1] == {str(shadowing)!r}, sys.path
        import numpy
        assert numpy.__file__.startswith("/usr/"), numpy.__file__
        print("OK")
    """)
    env = {"DUALSTREAM_SITE_PACKAGES": f"{extra}:{tmp_path / 'does-not-exist'}:{shadowing}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr
