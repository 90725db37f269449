"""The change detection algorithms through real headless ``qgis_process`` runs, every value passed as text as
scripts do: the Modeler model ``docs/models/train_detect_change.model3`` (Train change detection -> Detect change,
the one training of this module), Detect change with the model it wrote on another pair (the change table as a
CSV file), Compare classifications of two class rasters, and an output that names a date refused.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import rasterio

pytestmark = [pytest.mark.qgis]
MODELS = Path(__file__).resolve().parents[2] / "docs" / "models"


@pytest.fixture(scope="module")
def root(tmp_path_factory, deploy_plugin, venv_site_packages):
    root = tmp_path_factory.mktemp("qgis-process-change")
    deploy_plugin(root, venv_site_packages)
    return root


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from engine.data.synthetic_pairs import make_pair

    folder = tmp_path_factory.mktemp("qp-pairs")
    return {name: make_pair(folder, seed=seed, name=name) for name, seed in (("a", 4), ("b", 5), ("c", 6))}


@pytest.fixture(scope="module")
def modelled(qgis_process, root, pairs):
    """The Modeler model run once: a change model trained on pair a (a few seconds' budget), pair b's change."""
    a, b = pairs["a"], pairs["b"]
    out = root / "model"
    return qgis_process.run_json(root, "run", str(MODELS / "train_detect_change.model3"), "--",
                                 f"before={a.before}", f"after={a.after}", f"labels={a.change}",
                                 f"new_before={b.before}", f"new_after={b.after}", "minutes=0.05",
                                 f"train:bundle={out / 'change.dsmodel'}", f"detect:change={out / 'b_change.tif'}",
                                 f"detect:table={out / 'b_table.csv'}", env=qgis_process.ISOLATED)


def read_table(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_modeler_model_trains_a_change_model_and_detects_with_it(modelled, root):
    results = modelled["results"]
    bundle, change = Path(results["train:bundle"]), Path(results["detect:change"])
    assert bundle == root / "model" / "change.dsmodel" and bundle.is_file()
    with rasterio.open(change) as ds:
        assert ds.colormap(1)[0][3] == 0 and (ds.width, ds.height) == (128, 128)  # no change: transparent
        changed = int((ds.read(1) == 1).sum())
    assert 'label="no change"' in change.with_suffix(".qml").read_text()  # the style beside it
    rows = read_table(results["detect:table"])
    assert [(r["name"], int(r["pixels"])) for r in rows] == [("change", changed)]


def test_detect_change_on_another_pair_with_the_model_written(qgis_process, root, pairs, modelled):
    c = pairs["c"]
    out = root / "detect"
    results = qgis_process.run_alg_json(root, "dualstream:detectchange", {
        "INPUT": c.before, "AFTER": c.after, "MODEL": modelled["results"]["train:bundle"], "DEVICE": "cpu",
        "OUTPUT": str(out / "c_change.tif"), "OUTPUT_CONFIDENCE": str(out / "c_confidence.tif"),
        "OUTPUT_POLYGONS": str(out / "c_change.gpkg"), "OUTPUT_TABLE": str(out / "c_table.csv")})["results"]
    assert results["CLASS_NAMES"] == "no change,change" and Path(results["QML"]).is_file()
    assert Path(results["OUTPUT_CONFIDENCE"]).is_file() and Path(results["OUTPUT_POLYGONS"]).is_file()
    assert [r["name"] for r in read_table(results["OUTPUT_TABLE"])] == ["change"]


def test_compare_two_class_rasters_headlessly(qgis_process, root, pairs):
    b = pairs["b"]
    out = root / "compare"
    results = qgis_process.run_alg_json(root, "dualstream:comparechange", {
        "INPUT": b.before_classes, "AFTER": b.after_classes, "OUTPUT": str(out / "b_change.tif"),
        "OUTPUT_POLYGONS": str(out / "b_change.gpkg"), "OUTPUT_TABLE": str(out / "b_table.csv")})["results"]
    rows = read_table(results["OUTPUT_TABLE"])
    assert [(r["from_class"], r["to_class"]) for r in rows] == [("0", "1"), ("1", "0")]
    assert sum(int(r["pixels"]) for r in rows) == results["CHANGED_PIXELS"] == b.changed_pixels
    assert Path(results["OUTPUT_POLYGONS"]).is_file()


def test_an_output_naming_a_date_is_refused(qgis_process, root, pairs):
    b = pairs["b"]
    before = Path(b.after_classes).read_bytes()
    done = qgis_process.run_alg(root, "dualstream:comparechange", {
        "INPUT": b.before_classes, "AFTER": b.after_classes, "OUTPUT": b.after_classes})
    assert done.returncode != 0
    assert "would overwrite the Later date (after) (AFTER)" in done.stdout + done.stderr
    assert Path(b.after_classes).read_bytes() == before


def test_no_file_appears_beside_the_inputs_of_any_run(qgis_process, root, modelled, tmp_path):
    """QGIS's own check of a layer parameter (qgis_process calls it with its context) loads a raster path as a
    layer, whose renderer computes band statistics that GDAL saves as ``<input>.aux.xml`` beside the input: runs
    that work and runs refused at their parameter checks alike leave the inputs' folder as it was."""
    from engine.data.synthetic_pairs import make_pair

    pair = make_pair(tmp_path / "inputs", seed=7, name="d")
    folder = Path(pair.before).parent
    before = sorted(p.name for p in folder.iterdir())
    out, missing = tmp_path / "out", str(tmp_path / "missing.dsmodel")
    runs = {
        "compare": ("dualstream:comparechange", {"INPUT": pair.before_classes, "AFTER": pair.after_classes,
                                                 "OUTPUT": str(out / "compare.tif")}, 0),
        "detect": ("dualstream:detectchange", {"INPUT": pair.before, "AFTER": pair.after, "DEVICE": "cpu",
                                               "MODEL": modelled["results"]["train:bundle"],
                                               "OUTPUT": str(out / "detect.tif")}, 0),
        "detect refused": ("dualstream:detectchange", {"INPUT": pair.before, "AFTER": pair.after,
                                                       "MODEL": missing, "OUTPUT": str(out / "no.tif")}, 1),
        "segment refused": ("dualstream:segment", {"INPUT": pair.before, "MODEL": missing,
                                                   "OUTPUT": str(out / "no.tif")}, 1),
        "train refused": ("dualstream:trainchange", {"INPUT": pair.before, "AFTER": pair.after,
                                                     "LABELS": pair.change, "TIME_BUDGET": "-1",
                                                     "OUTPUT": str(out / "no.dsmodel")}, 1),
    }
    for what, (algorithm, params, failed) in runs.items():
        done = qgis_process.run_alg(root, algorithm, params)
        assert (done.returncode != 0) == bool(failed), f"{what}:\n{done.stdout}\n{done.stderr}"
        assert sorted(p.name for p in folder.iterdir()) == before, what
