"""The Graphical Modeler models shipped in docs/models/, run by the real headless ``qgis_process``.

``segment_evaluate.model3``: Segment -> native:fillnodata -> Evaluate, each step's temporary output feeding the
next. ``train_segment.model3``: Train -> Segment, the bundle Train writes
wired to Segment's Model (a model output with a lasting path). ``ready_segment.model3``: Get a ready model ->
Segment, offline: the catalogue's entry is served by a local HTTP server. ``scripts/build_models.py`` wrote them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.foreign_onnx import expected_classes
from tests.engine.ready_fixtures import (
    BIAS,
    MEAN,
    STD,
    WEIGHTS,
    described,
    graph,
    reflectance_scene,
    serve,
    sha256,
    write_catalogue,
)
from tests.helpers import make_bundle

pytestmark = [pytest.mark.qgis]
MODELS = Path(__file__).resolve().parents[2] / "docs" / "models"


@pytest.fixture(scope="module")
def root(tmp_path_factory, deploy_plugin, venv_site_packages):
    root = tmp_path_factory.mktemp("qgis-process-models")
    deploy_plugin(root, venv_site_packages)
    return root


def test_segment_a_native_algorithm_then_evaluate(qgis_process, root, scenes, tmp_path):
    scene = scenes["s1"]
    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=4, aux_channels=0, seed=4)
    out = qgis_process.run_json(root, "run", str(MODELS / "segment_evaluate.model3"), "--",
                                f"image={scene['image']}", f"model={model}", f"labels={scene['label_vector']}",
                                f"evaluate:metrics={tmp_path / 'metrics.json'}", env=qgis_process.ISOLATED)
    metrics = Path(out["results"]["evaluate:metrics"])  # the class raster and the filled one were temporary
    assert metrics == tmp_path / "metrics.json" and metrics.is_file()
    summary = json.loads(metrics.read_text())
    assert 0.0 <= summary["miou"] <= 1.0 and summary["confusion_matrix"]


def test_train_then_segment_with_the_model_just_trained(qgis_process, root, scenes, tmp_path):
    train, scene = scenes["train"], scenes["s2"]
    bundle = tmp_path / "chained.dsmodel"
    out = qgis_process.run_json(root, "run", str(MODELS / "train_segment.model3"), "--",
                                f"image={train['image']}", f"labels={train['label_vector']}",
                                f"scene={scene['image']}", "minutes=0.02", f"train:bundle={bundle}",
                                "segment:classes=TEMPORARY_OUTPUT",  # the final output temporary too
                                env=qgis_process.ISOLATED)
    assert Path(out["results"]["train:bundle"]) == bundle and bundle.is_file()
    classes = Path(out["results"]["segment:classes"])  # QGIS removes its temporary folder when qgis_process ends
    assert classes.suffix == ".tif" and classes.name == "OUTPUT.tif"


def test_get_a_ready_model_then_segment_with_it(qgis_process, root, tmp_path):
    import rasterio

    onnx = graph(tmp_path / "clouds.onnx")
    values = reflectance_scene(tmp_path / "scene.tif")
    with serve() as server:
        server.files["/clouds.onnx"] = onnx.read_bytes()
        entry = described("served-clouds", {"kind": "http", "url": f"{server.url}/clouds.onnx",
                                            "sha256": sha256(onnx)})
        env = {**qgis_process.ISOLATED, "DUALSTREAM_CATALOGUE": str(write_catalogue(tmp_path / "c.json", [entry])),
               "DUALSTREAM_MODELS_DIR": str(tmp_path / "models")}
        done = qgis_process.run(root, "--json", "run", str(MODELS / "ready_segment.model3"), "--",
                                "ready_model=served-clouds", f"image={tmp_path / 'scene.tif'}",
                                f"segment:classes={tmp_path / 'classes.tif'}", env=env)
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert server.requests == ["/clouds.onnx"]  # fetched once, from the catalogue's address
    out = json.loads(done.stdout[done.stdout.index("{"):])
    assert Path(out["results"]["segment:classes"]) == tmp_path / "classes.tif"
    assert (tmp_path / "models" / "served-clouds.dsmodel").is_file()  # the bundle stays for the next run
    with rasterio.open(tmp_path / "classes.tif") as ds:
        assert (ds.read(1) == expected_classes(values, WEIGHTS, BIAS, MEAN, STD, 1.0)).mean() >= 0.999


def test_the_change_models_inputs_come_in_time_order_and_its_bundle_asks_for_a_file(plugin):
    """Issue 79, item 4: QGIS lists a model's inputs by name unless the model orders them (each later date above its
    first date, so a user filling it top to bottom swapped both pairs); the change model's output is required and
    says before Run that a temporary file is refused (training refuses one after Run)."""
    from qgis.core import QgsProcessingModelAlgorithm, QgsProcessingParameterDefinition

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODELS / "train_detect_change.model3"))
    inputs = [p.description() for p in model.parameterDefinitions() if not p.isDestination()]
    assert inputs == ["Training pair: first date", "Training pair: later date", "Change labels (raster or polygons)",
                      "Training time (minutes)", "New pair: first date", "New pair: later date"]
    bundle = model.parameterDefinition("train:bundle")
    assert not bundle.flags() & QgsProcessingParameterDefinition.FlagOptional
    assert "choose a file; a temporary file is refused" in bundle.description()
