"""Train, segment (a batch of three scenes) and evaluate through real headless ``qgis_process --json`` runs.

The plugin is deployed as ``make deploy`` does into a throwaway profile; every value is passed as text on the
command line, as scripts do (numbers as strings, enums by name, layers as file paths, MODEL repeated).
The packaged zip, unpacked into a fresh profile, segments with the same bundle.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from scripts.assemble_plugin import build_zip

pytestmark = [pytest.mark.qgis]

#: Nothing may reach QGIS's Python except what the deployed plugin records; one torch thread on shared CPUs.
@pytest.fixture(scope="module")
def root(tmp_path_factory, deploy_plugin, venv_site_packages):
    root = tmp_path_factory.mktemp("qgis-process-algs")
    deploy_plugin(root, venv_site_packages)
    return root


@pytest.fixture(scope="module")
def unseen_seed_base() -> int:
    return 20  # other unseen scenes than test_algorithms.py's (the shared `scenes` fixture uses this)


@pytest.fixture(scope="module")
def trained(qgis_process, root, scenes):
    train = scenes["train"]
    params = {"INPUT": train["image"], "LABELS": train["label"], "AUX": train["aux"], "PRESET": "tiny",
              "EPOCHS": "1", "WARMUP_EPOCHS": "1", "BATCH_SIZE": "8", "LEARNING_RATE": "0.003", "TILE_SIZE": "64",
              "DEVICE": "cpu", "TILES_PER_EPOCH": "32", "VALIDATION_SHARE": "0.25", "LABEL_MAPPING": "90=1",
              "OUTPUT": str(root / "out" / "qp.dsmodel")}
    return qgis_process.run_alg_json(root, "dualstream:train", params)


def test_train_json_results_and_log(trained, root):
    results = trained["results"]
    assert trained["algorithm_details"]["id"] == "dualstream:train"
    assert results["OUTPUT"] == str(root / "out" / "qp.dsmodel") and Path(results["OUTPUT"]).is_file()
    assert Path(results["OUTPUT_REPORT"]).is_file() and results["OUTPUT_REPORT"].endswith("qp_report.html")
    assert results["BEST_IOU"] > 0.6
    epochs = [line for line in trained["log"]["info"] if line.startswith("Epoch ")]
    assert len(epochs) == 2 and all("validation IoU" in line for line in epochs), epochs
    assert epochs[0].startswith("Epoch 1/2 (encoders frozen): training loss ") and "(best)" in epochs[0]
    # numbers arrived as strings and enums by name; QGIS parsed them
    assert trained["inputs"]["EPOCHS"] == "1" and trained["inputs"]["PRESET"] == "tiny"


def test_batch_of_three_scenes_with_one_bundle(qgis_process, root, scenes, trained):
    """Batch processing: the same bundle over three scenes, one qgis_process run each (as a batch script does)."""
    import rasterio

    from engine.config import EvaluateConfig
    from engine.evaluate import evaluate

    bundle = trained["results"]["OUTPUT"]
    for name in ("s1", "s2", "s3"):
        scene = scenes[name]
        out = root / "batch" / f"{name}_classes.tif"
        params = {"INPUT": scene["image"], "AUX": scene["aux"], "MODEL": [bundle], "OVERLAP": "0.25", "TTA": "none",
                  "DEVICE": "cpu", "BATCH_SIZE": "4", "OUTPUT": str(out),
                  "OUTPUT_POLYGONS": str(root / "batch" / f"{name}_polygons.gpkg")}
        results = qgis_process.run_alg_json(root, "dualstream:segment", params)["results"]
        assert results["OUTPUT"] == str(out) and out.is_file()
        assert Path(results["QML"]).is_file() and "paletted" in Path(results["QML"]).read_text()
        assert Path(results["OUTPUT_POLYGONS"]).is_file()
        with rasterio.open(out) as ds:
            assert (ds.width, ds.height) == (128, 128)
            assert ds.colormap(1)[1][:3] == (255, 0, 0)  # the palette travels in the GeoTIFF
        miou = evaluate(EvaluateConfig(prediction=str(out), label=scene["label"], output=str(out.with_suffix(
            ".json")), label_mapping={"90": 1}))["miou"]
        assert miou > 0.75, f"{name}: mIoU {miou:.3f}"


def test_evaluate_json_and_table(qgis_process, root, scenes, trained):
    bundle = trained["results"]["OUTPUT"]
    seg = qgis_process.run_alg_json(root, "dualstream:segment", {
        "INPUT": scenes["s1"]["image"], "AUX": scenes["s1"]["aux"], "MODEL": bundle,
        "OUTPUT": str(root / "eval" / "s1.tif")})["results"]
    out = qgis_process.run_alg_json(root, "dualstream:evaluate", {
        "INPUT": seg["OUTPUT"], "LABELS": scenes["s1"]["label_vector"], "LABEL_FIELD": "class",
        "LABEL_MAPPING": "90=1", "OUTPUT": str(root / "eval" / "metrics.json"),
        "OUTPUT_HTML": str(root / "eval" / "metrics.html"), "OUTPUT_TABLE": str(root / "eval" / "table.csv")})
    results = out["results"]
    metrics = json.loads(Path(results["OUTPUT"]).read_text())
    assert results["MIOU"] == pytest.approx(metrics["miou"], abs=5e-5) and results["MIOU"] > 0.75
    table = (root / "eval" / "table.csv").read_text().splitlines()
    assert table[0].startswith("class_id,class_name,iou") and len(table) == 3
    assert Path(results["OUTPUT_HTML"]).is_file()


def test_not_a_bundle_fails_with_message(qgis_process, root, scenes):
    fake = root / "fake.dsmodel"
    fake.write_text("not a model")
    done = qgis_process.run_alg(root, "dualstream:segment", {"INPUT": scenes["s1"]["image"], "MODEL": fake,
                                                             "OUTPUT": root / "bad.tif"})
    assert done.returncode != 0
    assert "is not a readable DualStream model bundle" in done.stdout + done.stderr
    assert not (root / "bad.tif").exists()


def test_zip_in_fresh_profile_segments_headlessly(tmp_path, qgis_process, venv_site_packages, scenes, trained):
    """`make package` output, unpacked like QGIS's "Install from ZIP", runs dualstream:segment."""
    zip_path = build_zip(tmp_path / "dist" / "dualstream_qgis.zip")
    fresh = tmp_path / "fresh"
    plugins = fresh / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        for required in ("dualstream_qgis/algorithms/train.py", "dualstream_qgis/algorithms/segment.py",
                         "dualstream_qgis/algorithms/evaluate.py", "dualstream_qgis/styling.py"):
            assert required in names
        archive.extractall(plugins)
    enabled = qgis_process.run(fresh, "plugins", "enable", "dualstream_qgis", env=qgis_process.ISOLATED)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    env = dict(qgis_process.ISOLATED, DUALSTREAM_SITE_PACKAGES=":".join(venv_site_packages))
    out = tmp_path / "zip_classes.tif"
    results = qgis_process.run_alg_json(fresh, "dualstream:segment", {
        "INPUT": scenes["s2"]["image"], "AUX": scenes["s2"]["aux"], "MODEL": trained["results"]["OUTPUT"],
        "OUTPUT": str(out)}, env=env)["results"]
    assert results["OUTPUT"] == str(out) and out.is_file() and results["CLASS_NAMES"] == "background,foreground"
