"""The ``dualstream`` package: a wheel built from the checkout installs the engine and the ``dualstream`` command.

The wheel is built offline from a copy of the package's files (no build isolation: the running Python's
setuptools, which ``requirements-dev.txt`` pins), installed without dependencies into a fresh virtual environment
that sees the system's numpy/GDAL, and its command runs from another folder, where ``engine`` is importable only
from that environment.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from engine.cli.main import available_commands, build_parser

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("train", "segment", "evaluate", "export", "info", "models", "env")
#: Files a wheel is built from (pyproject.toml names them: readme, license, dynamic dependencies, packages).
PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", "requirements.txt", "requirements-onnx.txt",
                 "requirements-dev.txt")
#: Where "python -m engine" may still appear in the engine: docstrings that say both spellings work.
PYTHON_M_ENGINE_ALLOWED = {"engine/__init__.py", "engine/__main__.py", "engine/cli/__init__.py", "engine/cli/main.py"}


def _requirements(name: str) -> list[str]:
    """The file's requirements, normalised as packaging writes them (``a>=5.0,<6`` -> ``a<6,>=5.0``)."""
    lines = (REPO / name).read_text(encoding="utf-8").splitlines()
    return sorted(_normal(line.split("#")[0]) for line in lines if line.split("#")[0].strip())


def _normal(requirement: str) -> str:
    """A requirement without its environment marker, normalised."""
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    parsed.marker = None
    return str(parsed)


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH (pytest's pythonpath is in-process only, but a caller's variable would leak the checkout)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def test_parser_is_the_dualstream_command_with_every_subcommand(capsys):
    parser = build_parser()
    assert parser.prog == "dualstream"
    assert [c.name for c in available_commands()] == ["train", "info", "env", "models", "segment", "evaluate",
                                                      "compare", "polygons", "export", "import", "suggest", "label",
                                                      "propose", "accept"]
    with pytest.raises(SystemExit):
        parser.parse_args(["segment", "--help"])
    assert capsys.readouterr().out.startswith("usage: dualstream segment ")


def test_each_command_has_its_own_help_without_markup(capsys):
    texts = {}
    for name in ("train", "segment", "evaluate", "export"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([name, "--help"])
        texts[name] = capsys.readouterr().out
        assert "``" not in texts[name] and ":mod:" not in texts[name], texts[name]
    # evaluate's help describes evaluate, not segment (they share a module)
    assert "compare a class raster" in texts["evaluate"] and "classify a whole scene" not in texts["evaluate"]
    assert "classify a whole scene" in texts["segment"] and "compare a class raster" not in texts["segment"]


def test_a_reader_that_stops_reading_is_no_file_system_error():
    """``dualstream models | head -1``: the reader is gone before the command writes; no error message."""
    child = subprocess.Popen([sys.executable, "-m", "engine", "models"], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=_clean_env())
    child.stdout.close()  # before the command has started: every write of it meets a closed pipe
    _, err = child.communicate(timeout=120)
    assert child.returncode == 141, err
    assert b"error" not in err.lower(), err


def test_engine_messages_name_the_dualstream_command():
    offenders = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if "python -m engine" in path.read_text(encoding="utf-8") and rel not in PYTHON_M_ENGINE_ALLOWED:
            offenders.append(rel)
    assert not offenders, f"say `dualstream ...` instead of `python -m engine ...` in {offenders}"


def test_install_hints_name_the_extra_and_leave_versions_to_the_requirement_files():
    from engine.runtime.environment import install_hint, installed_requirements

    for package in ("onnx", "onnxruntime"):
        hint = install_hint(package)
        assert "make install" in hint and "[onnx]" in hint, hint
        assert not re.search(r"onnx(runtime)?[=<>]", hint), hint
    rasterio = install_hint("rasterio")
    assert "apt-get install python3-rasterio" in rasterio and "pip install" not in rasterio, rasterio
    pins = installed_requirements()  # the checkout's .venv has the package installed (make install)
    if pins:
        assert f'"{pins["torch"]}"' in install_hint("torch")
        assert _normal(pins["torch"]) in _requirements("requirements.txt")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in PACKAGE_FILES:
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "engine", source / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", str(source), "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"building the wheel failed (run `make install` for setuptools>=77):\n{done.stderr}"
    wheels = list(out.glob("dualstream-*-py3-none-any.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_metadata_takes_dependencies_and_extras_from_the_requirement_files(wheel):
    from engine import __version__

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(info).decode("utf-8"))
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode("utf-8")
    assert meta["Name"] == "dualstream" and meta["Version"] == __version__
    assert re.search(r"^dualstream = engine\.cli\.main:run$", entry_points, re.M), entry_points
    # the whole engine and nothing else: every engine module is in the wheel, the plugin and tests are not
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "engine").rglob("*.py")}
    assert modules <= set(names), sorted(modules - set(names))
    assert "engine/ready/catalogue.json" in names  # the ready models' catalogue is package data
    assert not [n for n in names if n.startswith(("dualstream_qgis/", "tests/", "scripts/", "bench/"))]
    requires = meta.get_all("Requires-Dist")
    plain = sorted(_normal(r) for r in requires if "extra ==" not in r)
    assert plain == _requirements("requirements.txt")
    assert set(meta.get_all("Provides-Extra")) == {"onnx", "dev"}
    for extra, name in (("onnx", "requirements-onnx.txt"), ("dev", "requirements-dev.txt")):
        got = sorted(_normal(r) for r in requires if f'extra == "{extra}"' in r)
        assert got == _requirements(name), (extra, got)


def test_installed_command_runs_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                           str(wheel)], capture_output=True, text=True, timeout=300, env=_clean_env())
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = venv / "bin" / "dualstream"
    assert command.is_file()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), capture_output=True, text=True, cwd=elsewhere, env=_clean_env(),
                              timeout=300)

    helped = run(str(command), "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: dualstream ")
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", helped.stdout, re.M), (name, helped.stdout)
    from engine import __version__

    assert run(str(command), "--version").stdout.strip() == f"dualstream {__version__}"
    # the engine it runs is the installed copy, not the checkout; `python -m engine` is the same command
    where = run(str(venv / "bin" / "python"), "-c", "import engine; print(engine.__file__)")
    assert where.stdout.strip().startswith(str(venv / "lib")), where
    ready = run(str(command), "models", "list")  # the catalogue ships with the package
    assert ready.returncode == 0 and "ukis-csmask-4b-l1c" in ready.stdout, ready
    module = run(str(venv / "bin" / "python"), "-m", "engine", "evaluate", "--help")
    assert module.returncode == 0 and module.stdout.startswith("usage: dualstream evaluate "), module
    # a real command's error path: a missing bundle is named, exit code 2
    missing = run(str(command), "info", "nowhere.dsmodel")
    assert missing.returncode == 2 and "nowhere.dsmodel" in missing.stderr, missing
    # the hint for a missing optional package is the package's extra, which pip resolves from this installed
    # package (no index knows dualstream); offline, the dry run then stops at a dependency, not at dualstream
    hint = run(str(venv / "bin" / "python"), "-c",
               "from engine.runtime.environment import install_hint; print(install_hint('onnxruntime'))")
    command_line = re.fullmatch(r"`([^`]+)`", hint.stdout.strip())
    assert command_line and '"dualstream[onnx]"' in command_line.group(1), hint
    dry = run(*shlex.split(command_line.group(1)), "--dry-run", "--no-index")
    assert "Requirement already satisfied: dualstream[onnx]" in dry.stdout, dry.stdout + dry.stderr
    assert "No matching distribution found for dualstream" not in dry.stderr, dry.stderr
