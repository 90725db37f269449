"""The ready-model catalogue and its downloads through ``dualstream models`` (issue 40, items 6 and 7): a
catalogue is not trusted (paths stay in their package, requirements are requirements, a cached bundle is checked
by its digests before it is called installed) and a stalled download ends with a clear error, nothing left."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine.ready_fixtures import fake_csmask, package_entry, write_catalogue

from ..workspace import REPO, cli_env

pytest.importorskip("onnxruntime")


def _models(tmp_path: Path, site: Path, catalogue: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(cli_env(), PYTHONPATH=f"{REPO}{os.pathsep}{site}", DUALSTREAM_CATALOGUE=str(catalogue),
               DUALSTREAM_MODELS_DIR=str(tmp_path / "models"))
    return subprocess.run([sys.executable, "-m", "engine", "models", *args], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=240)


def _errors(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("field, value, words", [
    ("model", "../../../../../../../../etc/passwd", ("'model'", "inside the package", "'..'")),
    ("statistics", "/etc/passwd", ("'statistics'", "inside the package")),
    ("requirement", "--version", ("'requirement'", "--version", "option")),
    ("requirement", "evil @ file:///etc", ("'requirement'", "url")),
], ids=["model_path_traversal", "statistics_absolute_path", "requirement_is_a_pip_option",
        "requirement_is_a_url"])
def test_a_catalogue_entry_reaching_outside_is_refused(tmp_path: Path, ledger: Any, field: str, value: str,
                                                       words: tuple[str, ...]) -> None:
    site = tmp_path / "site"
    folder = fake_csmask(site)
    entry = package_entry("hostile", folder, module="absent_csmask")  # not installed: pip would be called
    entry["source"][field] = value
    catalogue = write_catalogue(tmp_path / "c.json", [entry])
    done = _models(tmp_path, site, catalogue, "get", "hostile")
    text = done.stdout + done.stderr
    errors = _errors(done)
    named = bool(errors) and all(w.lower() in errors[-1].lower() for w in words)
    followed = "has SHA-256" in text or "Installing" in text  # the file was hashed, or pip was started
    left = (tmp_path / "models").exists()
    ok = done.returncode == 2 and len(errors) == 1 and named and not followed and not left
    ledger.record("cli", f"ready_catalogue_{field}_{value[:12]}", clear_error=ok, left_behind=left,
                  traceback="Traceback" in text, ok=ok)
    assert done.returncode == 2 and len(errors) == 1, text
    assert named, f"the error should name {words}: {errors[-1]}"
    assert not followed and not left, text


def test_a_cached_model_is_installed_only_when_its_digest_matches(tmp_path: Path, workspace: dict,
                                                                  ledger: Any) -> None:
    """Another valid bundle (the suite's trained one) and a garbage file under catalogue names are "damaged" in
    the list; ``get`` says so and fetches the model again instead of calling the other file installed."""
    site = tmp_path / "site"
    folder = fake_csmask(site)
    catalogue = write_catalogue(tmp_path / "c.json", [package_entry("fake-4b", folder),
                                                      package_entry("garbage-4b", folder)])
    (tmp_path / "models").mkdir()
    shutil.copyfile(workspace["bundle"], tmp_path / "models" / "fake-4b.dsmodel")
    (tmp_path / "models" / "garbage-4b.dsmodel").write_bytes(b"not a model" * 100)

    listed = _models(tmp_path, site, catalogue, "list")
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.startswith(("fake-4b", "garbage"))}
    got = _models(tmp_path, site, catalogue, "get", "fake-4b")
    after = _models(tmp_path, site, catalogue, "list", "--json")
    ok = (listed.returncode == 0 and rows["fake-4b"].rstrip().endswith("damaged")
          and rows["garbage-4b"].rstrip().endswith("damaged") and "does not load" in listed.stdout
          and got.returncode == 0 and "Already there" not in got.stdout and "not the ready model fake-4b" in got.stderr
          and '"installed": "' + str(tmp_path / "models" / "fake-4b.dsmodel") + '"' in after.stdout)
    ledger.record("cli", "ready_cached_model_checked_by_digest", worked=ok, ok=ok)
    assert listed.returncode == 0, listed.stderr
    assert rows["fake-4b"].rstrip().endswith("damaged") and rows["garbage-4b"].rstrip().endswith("damaged"), \
        listed.stdout
    assert "fake-4b: damaged, it holds a model trained with DualStream" in listed.stdout, listed.stdout
    assert got.returncode == 0 and "Already there" not in got.stdout, got.stdout + got.stderr
    assert "not the ready model fake-4b" in got.stderr, got.stderr
    assert ok, after.stdout
