"""Engine messages a QGIS run prints name the dialog's parameters, never a command-line flag (issue 55): a model
only onnxruntime runs, given with Backend torch, and a web service's description among Segment in bulk's images.
The command line gives the same messages with its flags (tests/engine/test_onnx.py, test_web_image.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.engine.foreign_onnx import linear_model
from tests.helpers import make_bundle

pytestmark = [pytest.mark.qgis]
pytest.importorskip("onnx")
pytest.importorskip("torch")


@pytest.mark.parametrize("given", ["onnx", "imported bundle"])
def test_a_model_only_onnxruntime_runs_with_backend_torch_names_the_backend_parameter(plugin, tmp_path, given):
    import processing
    from qgis.core import QgsProcessingException

    from engine.api import import_model
    from engine.config.values import BACKENDS

    rng = np.random.default_rng(2)
    model = linear_model(tmp_path / "clouds.onnx", rng.normal(size=(3, 4)), rng.normal(size=3), head="none")
    description = {"bands": 4, "class_names": ["clear", "cloud", "shadow"], "mean": [0.1] * 4, "std": [0.05] * 4,
                   "output": "logits"}
    if given == "onnx":
        (tmp_path / "clouds.onnx.json").write_text(json.dumps(description))
    else:
        model = import_model(str(model), str(tmp_path / "clouds.dsmodel"), changes=description).path
    image = tmp_path / "four.tif"
    with rasterio.open(image, "w", driver="GTiff", width=32, height=32, count=4, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(rng.uniform(0, 0.5, size=(4, 32, 32)).astype(np.float32))
    with pytest.raises(QgsProcessingException) as caught:
        processing.run("dualstream:segment", {"INPUT": str(image), "MODEL": str(model),
                                              "BACKEND": BACKENDS.index("torch"), "OUTPUT": str(tmp_path / "o.tif")})
    message = str(caught.value)
    assert "which torch cannot run; set 'Backend' (BACKEND) to auto (the default) or onnxruntime." in message, message
    assert "--" not in message


def test_bulk_asks_for_a_web_services_extent_in_the_dialogs_words(plugin, tmp_path):
    """A web service's description among bulk's scenes needs the area it is read over: the run stops before
    anything is read, naming the dialog's Extent, not the command line's flag."""
    import processing
    from qgis.core import QgsProcessingException

    from engine.api import xyz_description

    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=3, seed=2, vision_high=255.0, gsd=2.0,
                        crs="EPSG:32633")
    layer = tmp_path / "tiles.xml"
    layer.write_text(xyz_description("http://127.0.0.1:9/{z}/{x}/{y}.png", zmax=17))
    with pytest.raises(QgsProcessingException) as caught:
        processing.run("dualstream:segmentbulk", {"INPUT": [str(layer)], "MODEL": str(model),
                                                  "OUTPUT": str(tmp_path / "out")})
    said = " ".join(str(caught.value).split())
    assert "covers far more than any run can read; give 'Extent' (EXTENT) (the area to read)." in said, said
    assert "--" not in said
    assert not (tmp_path / "out").exists()


def test_a_trains_note_and_a_bulk_surprise_name_each_front_ends_controls(plugin):
    """The CMX note on coarse aux rasters (Train's log) and a bulk scene's unexpected failure: QGIS's words in
    QGIS, the flags on the command line."""
    from dualstream_qgis.feedback import render_message
    from engine.cli.options import flag_name
    from engine.errors import render
    from engine.models.cmx.configuration_cmx import CMXConfig
    from engine.segment.bulk.share import _failure_text

    note = CMXConfig(aux_channels=4, aux_ratio=8).aux_input_note(256)
    failure = _failure_text(RuntimeError("boom"))
    for text, qgis, cli in (
            (note, "train with 'Aux ratio (vision pixels per aux pixel)' (AUX_RATIO) 1.", "train with --aux-ratio 1."),
            (failure, "rerun this scene alone with Segment with DualStream for the traceback",
             "rerun this scene alone with segment for the traceback")):
        shown = render_message(text)
        assert qgis in shown and "--" not in shown, shown
        assert cli in render(text, flag_name)


def test_a_resume_past_the_time_budget_names_the_train_dialogs_parameter(plugin):
    """The trainer's resume line names the budget through the declarations (engine/training/trainer.py); before, it
    wrote the config key `time_budget` as plain text, which QGIS showed as it was."""
    from dualstream_qgis.feedback import render_message
    from engine.api import find_setting
    from engine.errors import mention

    for key in ("train.time_budget", "train.early_stop_patience", "train.epochs"):
        declared = find_setting(key)
        said = render_message(f"training had finished; raise {mention(key)} to go on")
        assert said == f"training had finished; raise '{declared.decl.label}' ({declared.param}) to go on", said
