"""The plugin under a real offscreen QgsApplication: provider registration, checkenv, feedback bridge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


@pytest.fixture
def provider(plugin):
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().providerById("dualstream")


def test_provider_registers_with_all_listed_algorithms(provider):
    from dualstream_qgis.provider import ALGORITHMS

    assert provider is not None, "provider 'dualstream' not in the Processing registry"
    assert provider.name() == "DualStream"
    assert provider.load_errors == []
    ids = {alg.id() for alg in provider.algorithms()}
    assert "dualstream:checkenv" in ids
    assert len(ids) == len(ALGORITHMS)
    assert not provider.icon().isNull()
    for alg in provider.algorithms():
        assert alg.shortHelpString(), f"{alg.id()} has no help text"
        assert not alg.icon().isNull()


def test_checkenv_returns_versions(provider):
    import numpy
    import processing
    import torch
    import transformers
    from osgeo import gdal

    results = processing.run("dualstream:checkenv", {})
    assert results["torch"] == torch.__version__
    assert results["transformers"] == transformers.__version__
    assert results["numpy"] == numpy.__version__
    assert results["gdal"] == gdal.__version__
    assert results["cuda_available"] is torch.cuda.is_available()
    assert results["gpu_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert results["missing"] == ""
    assert f"torch: {torch.__version__}" in results["report"]
    assert results["qgis"].startswith("3.")


def test_unload_removes_provider_and_init_adds_it_again(plugin):
    from qgis.core import QgsApplication

    import dualstream_qgis

    registry = QgsApplication.processingRegistry()
    assert registry.providerById("dualstream") is plugin.provider
    second = dualstream_qgis.classFactory(None)
    second.initProcessing()  # duplicate id: refused, the first copy stays registered
    assert second.provider is None and registry.providerById("dualstream") is plugin.provider
    plugin.unload()
    assert registry.providerById("dualstream") is None
    assert registry.algorithmById("dualstream:checkenv") is None
    plugin.initProcessing()
    assert registry.algorithmById("dualstream:checkenv") is not None


def test_feedback_callback_maps_progress_log_and_cancel(qgis_app):
    from qgis.core import QgsProcessingFeedback

    from dualstream_qgis.engine_bridge import engine_api
    from dualstream_qgis.feedback import FeedbackCallback

    class TextRecordingFeedback(QgsProcessingFeedback):  # 3.22 has no progress-text signal to listen to
        def setProgressText(self, text):  # noqa: N802 - QGIS API
            texts.append(text)
            super().setProgressText(text)

    texts: list[str] = []
    feedback = TextRecordingFeedback()
    callback = FeedbackCallback(feedback)
    callback.progress(5, 10, "tiles")
    assert feedback.progress() == pytest.approx(50.0)
    assert texts == ["Tiles"]
    callback.progress(20, 10, "tiles")
    assert feedback.progress() == pytest.approx(100.0)
    callback.info("hello engine")
    callback.warning("careful")
    callback.metrics(3, {"train_loss": 0.41234, "val_iou": 0.8635880297736594, "stage": "full", "best": "val_iou",
                         "epochs": 10})
    callback.metrics(4, {"train_loss": 0.4, "val_iou": 0.85, "epochs": 10})
    log = feedback.textLog()
    assert "hello engine" in log and "careful" in log
    assert "Epoch 3/10: training loss 0.412, validation IoU 0.864 (best)" in log
    assert "Epoch 4/10: training loss 0.400, validation IoU 0.850\n" in log
    assert not callback.is_canceled()
    callback.check_canceled()
    feedback.cancel()
    assert callback.is_canceled()
    with pytest.raises(engine_api().CanceledError):
        callback.check_canceled()


def _text_feedback():
    """A Processing feedback that keeps every progress text."""
    from qgis.core import QgsProcessingFeedback

    class Texts(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.texts: list[str] = []

        def setProgressText(self, text):  # noqa: N802 - QGIS API
            self.texts.append(text)
            super().setProgressText(text)

    return Texts()


def test_training_progress_is_one_monotonic_bar_over_epochs_and_validation(qgis_app):
    """The engine's order for 3 epochs of 4 steps with 2 validation batches each: the bar never goes back,
    reaches its end only after the last validation, and the text says the epoch."""
    from dualstream_qgis.feedback import TRAIN_STAGES, FeedbackCallback, Stage, Stages

    feedback = _text_feedback()
    values: list[float] = []
    feedback.progressChanged.connect(values.append)
    callback = FeedbackCallback(feedback, Stages(TRAIN_STAGES, epochs=3))
    callback.progress(1, 1, Stage.BAND_STATISTICS)
    for epoch in range(3):
        for step in range(4):
            callback.progress(epoch * 4 + step + 1, 12, Stage.TRAIN)
        for batch in range(2):
            callback.progress(batch + 1, 2, Stage.VALIDATE)
            if epoch < 2:
                assert values[-1] < 90, values
    assert values == sorted(values) and values[-1] == pytest.approx(TRAIN_STAGES[Stage.TRAIN][1])
    assert len(values) > 10
    assert feedback.texts[1:] == [f"{what} {epoch}/3" for epoch in (1, 2, 3)
                                  for what in ("Training: epoch", "Validating epoch")]


@pytest.mark.parametrize("algorithm", ["propose", "label"])
def test_a_download_inside_propose_or_label_moves_the_bar(qgis_app, algorithm):
    """Segment Anything's weights downloaded on first use, inside Propose (after the first window's model run) or
    Label (after the window is read), told by the engine's own forwarding (PartProgress): the bar moves through the
    download, the run's text comes back after it, and the bar still reaches 100 % only at the run's end. Before,
    a download inside Propose changed the text only, and the text then stayed on it."""
    from dualstream_qgis.feedback import (
        DOWNLOAD_INTERLUDE,
        LABEL_STAGES,
        PROPOSE_STAGES,
        STAGE_TEXT,
        FeedbackCallback,
        Stage,
        Stages,
    )
    from engine.callbacks import PartProgress  # the engine's forwarding, as propose and label use it

    stage, windows = {"propose": (Stage.PROPOSE, PROPOSE_STAGES), "label": (Stage.LABEL, LABEL_STAGES)}[algorithm]
    feedback = _text_feedback()
    values: list[float] = []
    feedback.progressChanged.connect(values.append)
    callback = FeedbackCallback(feedback, Stages(windows, interludes=DOWNLOAD_INTERLUDE))
    parts = 2 if algorithm == "propose" else 1
    during: list[float] = []
    for index in range(parts):
        steps = PartProgress(callback, stage, index, parts, {Stage.SEGMENT: (0.0, 0.3),
                                                                          Stage.EMBED: (0.3, 0.5)})
        steps.at(0.0)
        steps.progress(2, 2, Stage.SEGMENT)
        steps.progress(1, 3, Stage.EMBED)
        if index == 0:  # the weights come with the first model load
            for done in range(0, 101, 20):
                steps.progress(done * 1000, 100_000, Stage.DOWNLOAD)
                during.append(values[-1])
        steps.progress(3, 3, Stage.EMBED)
        for prompt in (1, 2):
            steps.at(0.5 + 0.25 * prompt)
    assert values == sorted(values) and values[-1] == pytest.approx(100.0), values
    assert len(set(during)) == len(during) and during[-1] - during[0] > 25, during  # moving, a real share
    assert during[-1] < 100 and values.index(during[-1]) < len(values) - 1
    run_text = STAGE_TEXT[stage]
    assert feedback.texts == [run_text, STAGE_TEXT[Stage.DOWNLOAD], run_text], feedback.texts


def test_the_status_line_leaves_validating_when_the_next_epoch_starts(qgis_app):
    """Issue 40, item 12: epoch 2's first step can take seconds (the loaders start again); the status line said
    "Validating epoch 1/3" all that time, and with a time budget (progress in seconds) named the wrong epoch."""
    from dualstream_qgis.feedback import TRAIN_STAGES, FeedbackCallback, Stage, Stages

    feedback = _text_feedback()
    callback = FeedbackCallback(feedback, Stages(TRAIN_STAGES, epochs=3))
    callback.epoch_started(1, 3)
    callback.progress(100, 3600, Stage.TRAIN)  # a time budget: seconds of 3600, not steps
    callback.progress(2, 2, Stage.VALIDATE)
    callback.epoch_started(2, 3)
    assert feedback.texts == ["Training: epoch 1/3", "Validating epoch 1/3", "Training: epoch 2/3"]
    callback.progress(200, 3600, Stage.TRAIN)  # 200 of 3600 s is no longer read as epoch 1
    callback.progress(1, 2, Stage.VALIDATE)
    assert feedback.texts[-1] == "Validating epoch 2/3"


def test_resumed_training_progress_names_the_epoch_it_validates(qgis_app):
    """Resumed after epoch 2 of 3: the steps start at 8 of 12, and the validation is epoch 3's."""
    from dualstream_qgis.feedback import TRAIN_STAGES, FeedbackCallback, Stage, Stages

    feedback = _text_feedback()
    values: list[float] = []
    feedback.progressChanged.connect(values.append)
    callback = FeedbackCallback(feedback, Stages(TRAIN_STAGES, epochs=3))
    for step in range(4):  # the last step (12 of 12) is epoch 3's too
        callback.progress(8 + step + 1, 12, Stage.TRAIN)
    for batch in range(2):
        callback.progress(batch + 1, 2, Stage.VALIDATE)
    assert feedback.texts == ["Training: epoch 3/3", "Validating epoch 3/3"]
    assert values == sorted(values) and values[-1] == pytest.approx(TRAIN_STAGES[Stage.TRAIN][1])


def test_engine_errors_become_processing_exceptions(qgis_app):
    from qgis.core import QgsProcessingException

    from dualstream_qgis.algorithms.algorithm import require_packages
    from dualstream_qgis.engine_bridge import engine_api
    from dualstream_qgis.feedback import run_engine

    errors = engine_api()

    def bad():
        raise errors.DataError("file x.tif has no bands; give a raster with bands")

    with pytest.raises(QgsProcessingException, match="x.tif has no bands"):
        run_engine(bad)
    with pytest.raises(QgsProcessingException, match="no_such_package_dualstream.*DUALSTREAM_SITE_PACKAGES"):
        require_packages("no_such_package_dualstream")
    require_packages("numpy")  # present: no error


def test_help_links_open_the_readme_shipped_with_the_plugin(provider, tmp_path):
    """Issue 14, friction 6: Help opens the README shipped inside the plugin, not a website."""
    from qgis.PyQt.QtCore import QUrl

    from scripts.assemble_plugin import REPO, assemble

    for alg in provider.algorithms():
        url = QUrl(alg.helpUrl())
        assert url.isLocalFile(), f"{alg.id()} help link {alg.helpUrl()!r} is not a local file"
        readme = url.toLocalFile()
        assert readme.endswith("README.md") and "DualStream for QGIS" in open(readme, encoding="utf-8").read()
    shipped = assemble(tmp_path) / "README.md"
    assert shipped.read_text(encoding="utf-8") == (REPO / "README.md").read_text(encoding="utf-8")
    # the README's relative links (docs/*.md, and theirs: images, each other) open inside the installed plugin
    pages, links = [shipped], []
    for page in shipped.parent.glob("docs/*.md"):
        pages.append(page)
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                links.append((page, target))
    assert any(target.startswith("docs/") for _, target in links)
    missing = [f"{page.name}: {target}" for page, target in links if not (page.parent / target).exists()]
    assert not missing, missing


def test_engine_work_leaves_threads_python_did_not_start(qgis_app):
    """A Processing dialog runs its algorithm in a thread QGIS starts; under Python >= 3.13 torch kills QGIS
    when it takes the GIL there, so run_engine hands the work to a thread Python starts (and back)."""
    import sys
    import threading

    from qgis.PyQt.QtCore import QThread

    from dualstream_qgis.feedback import in_python_thread, run_engine, torch_needs_python_thread

    seen: dict = {}

    class QgisThread(QThread):  # started by Qt: Python sees it as a dummy thread
        def run(self):
            seen["needs"] = torch_needs_python_thread()
            seen["ran_in"] = run_engine(threading.current_thread)
            seen["caller"] = threading.current_thread()

    thread = QgisThread()
    thread.start()
    assert thread.wait(30_000)
    assert seen["needs"] is (sys.version_info >= (3, 13)) and torch_needs_python_thread() is False
    assert (seen["ran_in"] is not seen["caller"]) is seen["needs"]
    # the hand-over itself: a Python thread, its result, its exception as raised
    assert in_python_thread(lambda: type(threading.current_thread())) is threading.Thread
    with pytest.raises(KeyError, match="gone"):
        in_python_thread(lambda: {}["gone"])


@pytest.mark.parametrize("python_313", [False, True])
def test_the_labelling_panels_tasks_hand_engine_work_to_a_python_thread(qgis_app, monkeypatch, tmp_path,
                                                                         python_313):
    """The labelling panel's background tasks (QgsTask: a thread of QGIS's pool, which Python did not start) embed
    a window and answer prompts with torch, which kills QGIS under Python >= 3.13 as in a Processing dialog's
    thread: their work goes through the same hand-over (``feedback.engine_task``). A real embedding and answer of a
    tiny Segment Anything (the panel's own ``prompts.Window``) run in a task, with Python 3.13's condition forced
    (this QGIS runs 3.11) and without; no task of the plugin is made another way. Before, the panel ran torch in
    the task's own thread (the 3.40/3.44 chroots ran no panel test)."""
    import threading

    from qgis.core import QgsApplication, QgsPointXY, QgsRasterLayer

    from dualstream_qgis import feedback
    from dualstream_qgis.labeling import prompts
    from tests.engine.prompted_models import save_tiny, scene_point, write_scene

    plugin_root = Path(feedback.__file__).parent
    made_elsewhere = [str(path.relative_to(plugin_root)) for path in plugin_root.rglob("*.py")
                      if "QgsTask.fromFunction" in path.read_text(encoding="utf-8") and path.name != "feedback.py"]
    assert made_elsewhere == [], "background tasks go through feedback.engine_task"
    if python_313:
        monkeypatch.setattr(feedback, "torch_needs_python_thread", lambda: True)
    layer = QgsRasterLayer(str(write_scene(tmp_path / "scene.tif")), "scene")
    assert layer.isValid()
    window = prompts.Window(layer, str(save_tiny("sam2", tmp_path / "sam2")), layer.extent())
    request = prompts.Request(points=[(QgsPointXY(*scene_point(140, 90)), True)])
    outcome: dict = {}

    def work():
        outcome["thread"] = threading.current_thread()
        return window.answer(request)

    task = feedback.engine_task("test: an answer", work, lambda exception, result=None: outcome.update(
        exception=exception, answer=result))
    QgsApplication.taskManager().addTask(task)
    for _ in range(6000):  # the task ends, then its on_finished runs in this (the GUI) thread
        QgsApplication.processEvents()
        if "answer" in outcome or outcome.get("exception"):
            break
        threading.Event().wait(0.01)
    assert outcome.get("exception") is None and outcome.get("answer") is not None, outcome
    assert window.embedded() and outcome["answer"].seconds > 0
    assert type(outcome["thread"]) is (threading.Thread if python_313 else threading._DummyThread), outcome
    assert outcome["thread"] is not threading.main_thread()


def test_algorithms_have_stable_parameters_help_and_icons(plugin):
    from qgis.core import QgsApplication
    from qgis.PyQt.QtGui import QTextDocument

    from dualstream_qgis.compat import PARAMETER_ADVANCED

    registry = QgsApplication.processingRegistry()
    expected = {
        "dualstream:train": {"DATA_FOLDER", "INPUT", "LABELS", "LABEL_FIELD", "AUX", "EXTENT", "VALIDATION_SHARE",
                             "PRESET", "PRETRAINED", "EPOCHS", "WARMUP_EPOCHS", "BATCH_SIZE", "LEARNING_RATE",
                             "TILE_SIZE", "DEVICE", "OUTPUT", "OUTPUT_REPORT"},
        "dualstream:segment": {"INPUT", "AUX", "MODEL", "WEIGHTS", "EXTENT", "OVERLAP", "TTA", "DEVICE", "BATCH_SIZE",
                               "THRESHOLD", "OUTPUT", "OUTPUT_PROBABILITIES", "OUTPUT_CONFIDENCE", "OUTPUT_POLYGONS",
                               "LOW_CONFIDENCE"},
        "dualstream:evaluate": {"INPUT", "LABELS", "LABEL_FIELD", "OUTPUT", "OUTPUT_TABLE"},
    }
    for alg_id, names in expected.items():
        alg = registry.algorithmById(alg_id)
        assert alg is not None, f"{alg_id} is not registered"
        definitions = {p.name(): p for p in alg.parameterDefinitions()}
        assert names <= set(definitions), f"{alg_id} lacks {sorted(names - set(definitions))}"
        for parameter in definitions.values():
            assert len(parameter.help()) > 20, f"{alg_id} {parameter.name()} has no help string"
            assert parameter.name() in alg.shortHelpString()
        assert "Typical workflow" in alg.shortHelpString() and "Outputs" in alg.shortHelpString()
        # placeholders are not taken as HTML tags (the help read "AIR_Pollution_CO_.tif")
        text = QTextDocument()
        text.setHtml(alg.shortHelpString())
        shown = text.toPlainText()
        for parameter in definitions.values():
            assert " ".join(parameter.help().split()) in " ".join(shown.split()), parameter.name()
        assert not alg.icon().isNull()
    advanced = PARAMETER_ADVANCED
    train = registry.algorithmById("dualstream:train")
    assert train.parameterDefinition("TILES_PER_EPOCH").flags() & advanced
    for alg_id in ("dualstream:train", "dualstream:evaluate"):  # in view, and "values are classes" by default
        mapping = registry.algorithmById(alg_id).parameterDefinition("LABEL_MAPPING")
        assert not mapping.flags() & advanced and not mapping.defaultValue()
    assert not train.parameterDefinition("EPOCHS").flags() & advanced
    assert registry.algorithmById("dualstream:segment").parameterDefinition("THRESHOLD").flags() & advanced
    resample = registry.algorithmById("dualstream:segment").parameterDefinition("RESAMPLE_TO_TRAINING_GSD")
    assert resample.flags() & advanced and resample.defaultValue() is False
