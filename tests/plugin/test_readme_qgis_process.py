"""The README's ``qgis_process`` examples, run as written (so the README cannot drift from what works).

Every ```` ```bash ```` block of the README's "qgis_process" and "Batch processing" sections that calls
``scripts/qgis_process`` runs in bash (``set -euo pipefail``) from a folder laid out as the repository root is
after ``make demo``: ``scripts/`` (a link to the checkout's), ``demo_output/qgis`` (the plugin deployed as
``make deploy`` does), ``demo_output/data`` (the demo's sample, made by the function ``make demo`` uses). One
path is substituted: the demo's trained bundle is the bundle the README's own train line writes, which saves a
second training.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from engine.data.synthetic import make_sample

pytestmark = [pytest.mark.qgis]

REPO = Path(__file__).resolve().parents[2]
WRAPPER = "scripts/qgis_process"
SUBSTITUTIONS = {"demo_output/model/demo.dsmodel": "demo_output/quick/quick.dsmodel"}


def readme_blocks(section: str) -> list[str]:
    """The bash blocks of README section ``## {section}`` that call the wrapper, substitutions applied."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, f"README has no section '## {section}'"
    blocks = [b for b in re.findall(r"^```bash\n(.*?)^```$", match.group(1), re.M | re.S) if WRAPPER in b]
    for old, new in SUBSTITUTIONS.items():
        blocks = [b.replace(old, new) for b in blocks]
    return blocks


def env_for(workdir: Path, **extra: str) -> dict[str, str]:
    """What a user's shell has: no PYTHONPATH into the checkout, HOME without a QGIS profile of its own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "DUALSTREAM_SITE_PACKAGES", "QGIS_CUSTOM_CONFIG_PATH",
                        "QT_QPA_PLATFORM")}
    env.update({"HOME": str(workdir / "home"), "OMP_NUM_THREADS": "1", **extra})  # 1: faster on busy, shared CPUs
    return env


def bash(block: str, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, deploy_plugin, venv_site_packages) -> Path:
    root = tmp_path_factory.mktemp("readme-root")
    (root / "scripts").symlink_to(REPO / "scripts", target_is_directory=True)
    (root / "home").mkdir()
    deploy_plugin(root / "demo_output" / "qgis", venv_site_packages)
    make_sample(root / "demo_output" / "data")
    return root


def test_readme_blocks_are_there_and_use_the_wrapper():
    blocks = readme_blocks("qgis_process") + readme_blocks("Batch processing")
    assert len(blocks) == 3
    calls = [line for b in blocks for line in b.splitlines() if "qgis_process" in line and not line.startswith("#")]
    # every call goes through the wrapper: plain `qgis_process` fails on Debian 12 / QGIS 3.22
    assert calls and all(WRAPPER in line for line in calls), calls


def test_readme_listing_and_checkenv_run_as_written(workdir):
    # run against the demo's profile, as the README's next block sets it
    env = env_for(workdir, QGIS_CUSTOM_CONFIG_PATH=str(workdir / "demo_output" / "qgis"))
    first = readme_blocks("qgis_process")[0]
    done = bash(first, workdir, env)
    assert done.returncode == 0, f"{first}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    for alg in ("dualstream:train", "dualstream:segment", "dualstream:evaluate", "dualstream:checkenv"):
        assert alg in done.stdout, alg
    checkenv = json.loads(done.stdout[done.stdout.index("{"):])
    assert checkenv["algorithm_details"]["id"] == "dualstream:checkenv"


@pytest.fixture(scope="module")
def examples(workdir) -> Path:
    """The train, segment (ensemble) and evaluate block, run once; it sets QGIS_CUSTOM_CONFIG_PATH itself."""
    block = readme_blocks("qgis_process")[1]
    done = bash(block, workdir, env_for(workdir))
    assert done.returncode == 0, f"{block}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return workdir / "demo_output" / "quick"


def test_readme_train_segment_evaluate_run_as_written(examples):
    assert (examples / "quick.dsmodel").is_file() and (examples / "quick_report.html").is_file()
    assert (examples / "scene_b_classes.tif").is_file() and (examples / "scene_b_polygons.gpkg").is_file()
    metrics = json.loads((examples / "scene_b_metrics.json").read_text(encoding="utf-8"))
    assert metrics["class_names"] == ["background", "hotspot"] and 0.0 <= metrics["miou"] <= 1.0
    assert (examples / "scene_b_metrics.csv").is_file()


def test_readme_batch_loop_runs_as_written(workdir, examples):
    """One segment run per demo scene, with the bundle the examples trained (see SUBSTITUTIONS)."""
    (batch,) = readme_blocks("Batch processing")
    done = bash(batch, workdir, env_for(workdir, QGIS_CUSTOM_CONFIG_PATH=str(workdir / "demo_output" / "qgis")))
    assert done.returncode == 0, f"{batch}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    made = sorted(p.name for p in (workdir / "demo_output" / "batch").glob("*_classes.tif"))
    assert made == ["scene_a_classes.tif", "scene_b_classes.tif"]


def test_wrapper_runs_a_named_profile_and_says_when_it_is_missing(workdir):
    profiles = workdir / "demo_output" / "qgis" / "profiles"
    env = env_for(workdir, DUALSTREAM_PROFILE="default", QGIS_PROFILES_DIR=str(profiles))
    done = bash(f"{WRAPPER} list", workdir, env)
    assert done.returncode == 0 and "dualstream:segment" in done.stdout, done.stderr
    # without the profile (HOME has none): QGIS runs, but the plugin is not there
    done = bash(f"{WRAPPER} list", workdir, env_for(workdir))
    assert done.returncode == 0 and "dualstream:segment" not in done.stdout
    env = env_for(workdir, DUALSTREAM_PROFILE="nosuch", QGIS_PROFILES_DIR=str(profiles))
    done = bash(f"{WRAPPER} list", workdir, env)
    assert done.returncode == 1 and "profile 'nosuch' does not exist" in done.stderr
    assert "make deploy PROFILE=nosuch" in done.stderr
