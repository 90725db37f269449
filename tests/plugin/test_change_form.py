"""*Train change detection*'s form shows what the run uses (issue 79, item 3): the values the engine chooses are
left unset ("automatic"), the change family's own choices (class names, presets, encoder) and help texts of dates,
from the engine's declarations (the family's ``FORM``); a run left at the form's values gets the engine's choices,
and a dataset folder's log names the algorithms of QGIS (the dialog itself: tests/gui/test_change_desktop.py)."""

from __future__ import annotations

import pytest

from tests.plugin.keeping_feedback import Log

pytestmark = [pytest.mark.qgis, pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")]
AUTOMATIC = ("EPOCHS", "WARMUP_EPOCHS", "LEARNING_RATE", "TILE_SIZE", "TILES_PER_EPOCH")


@pytest.fixture(scope="module")
def form(plugin):
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().algorithmById("dualstream:trainchange")


def test_the_values_the_engine_chooses_are_left_unset_and_said_automatic(form):
    from qgis.core import QgsProcessingParameterDefinition

    for name in AUTOMATIC:
        definition = form.parameterDefinition(name)
        assert definition.defaultValue() is None, name
        assert definition.flags() & QgsProcessingParameterDefinition.FlagOptional, name
        assert definition.metadata().get("dualstream_automatic") == "automatic", name
        assert "Automatic: " in definition.help(), name


def test_the_change_familys_own_choices_and_texts(form):
    assert form.parameterDefinition("CLASS_NAMES").defaultValue() == "no change,change"
    assert form.parameterDefinition("PRESET").options() == ["tiny", "light", "base", "default"]
    assert form.parameterDefinition("ENCODER").description() == "Encoder (shared by both dates)"
    warmup = form.parameterDefinition("WARMUP_EPOCHS")
    assert "both encoders" not in warmup.help() and "the fusion of the dates" in warmup.help()
    assert "aux encoder" not in form.parameterDefinition("LEARNING_RATE").help()


def test_train_dualstream_keeps_its_own_form(plugin):
    from qgis.core import QgsApplication

    train = QgsApplication.processingRegistry().algorithmById("dualstream:train")
    assert train.parameterDefinition("EPOCHS").defaultValue() == 40
    assert train.parameterDefinition("CLASS_NAMES").defaultValue() == "background,foreground"
    assert "b1" in train.parameterDefinition("PRESET").options()


def test_a_run_at_the_forms_values_takes_the_engines_choices(plugin, tmp_path):
    """The form's values left as they are (automatic): the log's choices are the engine's, the bundle's classes
    the change family's; a dataset folder's held-out test/ is to be scored with Detect change and Evaluate."""
    import processing

    from engine.bundle.model_files import read_model_metadata
    from tests.helpers import published

    root = tmp_path / "levir"
    published(root / "train", ["t0", "t1"])
    (root / "test").mkdir()
    log = Log()
    out = tmp_path / "auto.dsmodel"
    processing.run("dualstream:trainchange", {"MODE": 1, "DATA_FOLDER": str(root), "PRESET": "tiny",
                                              "DEVICE": "cpu", "TIME_BUDGET": 0.05, "OUTPUT": str(out)},
                   feedback=log)
    said = "\n".join(log.lines)
    assert "score a model on it with Detect change and Evaluate segmentation" in said, said[-3000:]
    for chosen in ("Epochs: 100, chosen", "Warm-up epochs: 0, chosen", "Learning rate: 0.001", "Tile size: 32, chosen",
                   "Class names: no change,change, chosen"):
        assert chosen in said, said[:2500]
    meta = read_model_metadata(str(out))
    assert meta.data.class_names == ["no change", "change"] and meta.data.dates == 2


def test_train_season_shows_the_season_familys_own_presets_and_encoder(plugin):
    from qgis.core import QgsApplication

    season = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    assert season.parameterDefinition("PRESET").options() == ["tiny", "light", "base", "default"]
    assert season.parameterDefinition("ENCODER").description() == "Encoder (shared by every date)"


def test_train_season_leaves_the_values_the_engine_chooses_unset(plugin):
    """Train season showed Train DualStream's 40 epochs, 2 warm-up epochs, 3e-4 and 512 px tiles, which a season
    trained on a CPU does not use."""
    from qgis.core import QgsApplication

    season = QgsApplication.processingRegistry().algorithmById("dualstream:trainseason")
    for name in AUTOMATIC:
        definition = season.parameterDefinition(name)
        assert definition.defaultValue() is None, name
        assert definition.metadata().get("dualstream_automatic") == "automatic", name


def test_a_season_run_at_the_forms_values_takes_the_engines_choices(plugin, tmp_path):
    """Train season left at its form's values: the log's choices are the engine's for a season on a CPU."""
    import numpy as np
    import processing
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "width": 48, "height": 48, "count": 1, "crs": "EPSG:32633",
               "transform": from_origin(500000.0, 5000000.0, 10.0, 10.0)}
    dates = []
    for index, day in enumerate(("2024-03-01", "2024-05-01", "2024-07-01")):
        dates.append(str(tmp_path / f"d{index}.tif"))
        with rasterio.open(dates[-1], "w", dtype="float32", **profile) as out:
            out.write(np.random.default_rng(index).random((1, 48, 48), dtype=np.float32))
            out.update_tags(ACQUISITIONDATETIME=day)
    with rasterio.open(tmp_path / "label.tif", "w", dtype="uint8", **profile) as out:
        out.write((np.arange(48)[None, None, :] >= 24).repeat(48, axis=1).astype(np.uint8))
    log = Log()
    processing.run("dualstream:trainseason", {"DATES": dates, "LABELS": str(tmp_path / "label.tif"),
                                              "PRESET": "tiny", "DEVICE": "cpu", "TIME_BUDGET": 0.05,
                                              "OUTPUT": str(tmp_path / "season.dsmodel")}, feedback=log)
    said = "\n".join(log.lines)
    for chosen in ("Epochs: 100, chosen", "Warm-up epochs: 0, chosen", "Learning rate: 0.001", "Tile size: 32, chosen"):
        assert chosen in said, said[:2500]
