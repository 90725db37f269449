"""``dualstream:segmentbulk`` through ``processing.run`` (real offscreen QgsApplication) and real ``qgis_process``.

Scenes and bundle as in tests/engine/test_segment_bulk.py: three small synthetic scenes with a 6-band aux raster
named ``<stem>_aux.tif`` and a tiny 3-class bundle with random weights; a corrupt file makes a fourth scene.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import BULK_SIZES, make_bundle, write_bulk_scenes

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = write_bulk_scenes(tmp_path_factory.mktemp("bulk_plugin") / "scenes")
    (folder / "broken.tif").write_bytes(b"II*\x00" + b"not a tiff" * 20)
    (folder / "broken_aux.tif").write_bytes(b"II*\x00" + b"not a tiff" * 20)
    return folder


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return make_bundle(tmp_path_factory.mktemp("bulk_plugin_model") / "m.dsmodel", aux_channels=6, num_classes=3,
                       seed=3)


@pytest.fixture(scope="module")
def plugin(qgis_app):
    import torch

    import dualstream_qgis

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    plugin = dualstream_qgis.classFactory(None)
    plugin.initProcessing()
    yield plugin
    plugin.unload()
    torch.set_num_threads(threads)


def _params(folder: Path, model: str, out: Path, **extra) -> dict:
    return {"FOLDER": str(folder), "PATTERN": "*.tif", "AUX_PATTERNS": "{stem}_aux.tif", "MODEL": model,
            "DEVICE": "cpu", "OUTPUT": str(out), **extra}


def test_folder_run_loads_styled_layers_and_reports_failures(plugin, folder, model, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback, QgsProject

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.errors: list[str] = []
            self.texts: list[str] = []
            self.values: list[float] = []
            self.progressChanged.connect(self.values.append)

        def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS API
            self.errors.append(error)

        def setProgressText(self, text):  # noqa: N802 - QGIS API
            self.texts.append(text)

    feedback = Feedback()
    out = tmp_path / "out"
    results = processing.runAndLoadResults("dualstream:segmentbulk", _params(
        folder, model, out, ADD_TO_PROJECT=True, MOSAIC=True, TTA="flips", POLYGONS=True), feedback=feedback)
    assert (results["DONE"], results["SKIPPED"], results["FAILED"], results["CANCELED"]) == (3, 0, 1, 0)
    assert len(feedback.errors) == 1 and "broken.tif" in feedback.errors[0]
    scenes = [t for t in feedback.texts if t.startswith("scene ")]  # once per scene, in order
    assert scenes == [f"scene {i} of 4" for i in range(1, 5)] and feedback.values[-1] == 100
    html = Path(results["SUMMARY_HTML"]).read_text()
    assert "broken.tif" in html and "could not be read as a raster" in html
    summary = json.loads(Path(results["SUMMARY"]).read_text())
    assert summary["settings"]["tta"] == "flips" and (out / "mosaic.vrt").is_file()
    for name in BULK_SIZES:
        layers = QgsProject.instance().mapLayersByName(f"{name} classes")  # not the image's own name
        assert len(layers) == 1 and layers[0].renderer().type() == "paletted"
        assert layers[0].source() == str(out / f"{name}.tif")
    # every scene's polygons in one layer, the scene an attribute
    layer, = QgsProject.instance().mapLayersByName("polygons of every scene")
    assert layer.source().startswith(results["POLYGONS_LAYER"])
    assert {f["scene"] for f in layer.getFeatures()} <= set(BULK_SIZES) and layer.featureCount() > 0
    # a second run skips everything
    again = processing.run("dualstream:segmentbulk", _params(folder, model, out, TTA="flips", POLYGONS=True))
    assert (again["DONE"], again["SKIPPED"], again["FAILED"]) == (0, 3, 1)
    QgsProject.instance().removeAllMapLayers()


def test_cancel_keeps_finished_scenes(plugin, folder, model, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    class CancelInSecondScene(QgsProcessingFeedback):
        def setProgressText(self, text):  # noqa: N802 - QGIS API
            super().setProgressText(text)
            if text == "scene 2 of 4":
                self.cancel()  # the engine stops at the next tile check

    out = tmp_path / "out"
    images = folder.parent / "two"
    images.mkdir(exist_ok=True)
    for name in BULK_SIZES:
        for suffix in ("", "_aux"):
            shutil.copy(folder / f"{name}{suffix}.tif", images / f"{name}{suffix}.tif")
    shutil.copy(folder / "broken.tif", images / "broken.tif")
    results = processing.run("dualstream:segmentbulk", _params(images, model, out, BATCH_SIZE=1),
                             feedback=CancelInSecondScene())
    assert results["DONE"] == 1 and results["CANCELED"] == 3
    assert sorted(p.name for p in out.glob("*.tif")) == ["c.tif"]  # the largest scene ran first and is kept
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    summary = json.loads(Path(results["SUMMARY"]).read_text())
    assert [s["status"] for s in summary["scenes"]] == ["done", "canceled", "canceled", "canceled"]


def test_layers_input_and_bad_parameters(plugin, folder, model, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    results = processing.run("dualstream:segmentbulk", {
        "INPUT": [str(folder / "b.tif")], "AUX_PATTERNS": "{stem}_aux.tif", "MODEL": model, "DEVICE": "cpu",
        "OUTPUT": str(tmp_path / "layers")})
    assert results["DONE"] == 1 and (tmp_path / "layers" / "b.tif").is_file()
    with pytest.raises(QgsProcessingException, match="no scenes given"):
        processing.run("dualstream:segmentbulk", {"MODEL": model, "OUTPUT": str(tmp_path / "none")})
    with pytest.raises(QgsProcessingException, match="matches no file"):
        processing.run("dualstream:segmentbulk", _params(folder, model, tmp_path / "x", PATTERN="*.jp2"))
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path\n{folder / 'a.tif'}\n")
    with pytest.raises(QgsProcessingException, match="has no 'image' column"):
        processing.run("dualstream:segmentbulk", {"MANIFEST": str(manifest), "MODEL": model,
                                                  "OUTPUT": str(tmp_path / "m")})


def test_qgis_process_runs_it_headless(qgis_process, deploy_plugin, venv_site_packages, folder, model, tmp_path):
    root = tmp_path / "profile"
    deploy_plugin(root, venv_site_packages)
    out = tmp_path / "qp"
    env = {"DUALSTREAM_SITE_PACKAGES": None, "PYTHONPATH": None, "PYTHONHOME": None, "OMP_NUM_THREADS": "1"}
    done = qgis_process.run_json(root, "run", "dualstream:segmentbulk", "--", f"FOLDER={folder}", "PATTERN=*.tif",
                                 "AUX_PATTERNS={stem}_aux.tif", f"MODEL={model}", "DEVICE=cpu", "TTA=none",
                                 "PROBABILITIES=true", f"OUTPUT={out}", env=env)
    results = done["results"]
    assert (results["DONE"], results["FAILED"]) == (3, 1)
    assert json.loads((out / "summary.json").read_text())["counts"]["done"] == 3
    assert all((out / f"{name}_probabilities.tif").is_file() for name in BULK_SIZES)
