"""Drives the real QGIS desktop (``qgis --code THIS``) through every DualStream dialog and writes what it saw.

Started by ``tests/gui/test_dialogs.py`` under Xvfb. It reads its settings (data files, output folder) from the
JSON file named by ``DUALSTREAM_GUI_CONFIG``, and writes ``report.json`` into the output folder after every
step, so a QGIS crash (segfault) leaves the last step that started in the report. The pytest module asserts;
this script only records facts (values read back from the widgets, layers in the project, renderers) and
takes screenshots (``widget.grab()``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import processing
from processing.core.ProcessingConfig import ProcessingConfig
from qgis.core import (
    QgsApplication,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QEventLoop, QTimer
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QApplication, QCheckBox, QMessageBox

sys.path.insert(0, os.environ["DUALSTREAM_GUI_TOOLS"])  # no __file__ here: run_session names the folder
from session_tools import (  # noqa: E402 - found through the line above
    CONFIG,
    OUT,
    REPORT,
    dialog_log,
    layer_tree,
    run_batch,
    save,
    shot,
    start_later,
    step,
    wait,
)

REPORT.update({"dialogs": {}, "layer_values": [], "messages": []})


def close_message_boxes() -> None:
    """A modal message box would block the session: record its text and close it."""
    widget = QApplication.activeModalWidget()
    if isinstance(widget, QMessageBox):
        REPORT["messages"].append(widget.text())
        save()
        widget.reject()


def accepted(definition, layers: dict) -> list[str]:
    """Names of the project layers the parameter accepts (layer kinds it lists)."""
    names = []
    for name, layer in layers.items():
        is_raster = isinstance(layer, QgsRasterLayer)
        is_polygon = isinstance(layer, QgsVectorLayer) and layer.geometryType() == 2
        if isinstance(definition, QgsProcessingParameterRasterLayer):
            ok = is_raster
        elif isinstance(definition, QgsProcessingParameterMultipleLayers):
            ok = is_raster and definition.layerType() == QgsProcessing.TypeRaster
        elif isinstance(definition, QgsProcessingParameterFeatureSource):
            # the label layer is a feature source (its "Selected features only" box) that takes rasters too
            ok = is_polygon or (is_raster and type(definition).__name__ == "LabelLayerParameter")
        elif isinstance(definition, (QgsProcessingParameterMapLayer, QgsProcessingParameterVectorLayer)):
            types = definition.dataTypes()
            ok = ((is_raster and QgsProcessing.TypeRaster in types)
                  or (is_polygon and bool({QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorAnyGeometry,
                                           QgsProcessing.TypeMapLayer} & set(types))))
        else:
            ok = False
        if ok:
            names.append(name)
    return names


def refers_to(value, layer) -> bool:
    """Whether a widget's value names ``layer`` (an id, a source, a layer object, or a list holding one)."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        if item is layer or (hasattr(item, "id") and callable(item.id) and item.id() == layer.id()):
            return True
        if isinstance(item, str) and item in (layer.id(), layer.source(), layer.source().split("|")[0]):
            return True
    return False


def class_fields(wrappers: dict) -> list[str] | None:
    """The field names the class-field widget offers now (None where the dialog has no class field)."""
    wrapper = wrappers.get("LABEL_FIELD")
    return wrapper.fields() if wrapper is not None and hasattr(wrapper, "fields") else None


def colors_follow_names(wrappers: dict, context) -> dict:
    """Three class names give three colour buttons; a colour picked on a button reaches the value."""
    step("class colours follow the class names")
    colors = wrappers["CLASS_COLORS"]
    wrappers["CLASS_NAMES"].setParameterValue("water,field,town", context)
    wait(50)
    after_names = {"buttons": len(getattr(colors, "buttons", [])), "value": colors.parameterValue()}
    if getattr(colors, "buttons", None):
        colors.buttons[2].setColor(QColor("#123456"))
    return {"after_names": after_names, "after_pick": colors.parameterValue()}


def selection_box(wrapper, layers: dict, context) -> dict:
    """The label layer's "Selected features only" box: usable once a polygon is selected, its tick reaching the
    value; cleared and disabled for a raster."""
    step("label layer: selected features only")
    polygons, raster = layers["label polygons"], layers["label raster"]
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())  # as the dialog's own: layer ids name the project's layers
    wrapper.setParameterValue(polygons.id(), context)
    polygons.selectByIds([next(polygons.getFeatures()).id()])
    wait(50)
    box = wrapper.wrappedWidget().findChild(QCheckBox)
    record = {"box": box.text() if box is not None else None, "enabled": box is not None and box.isEnabled()}
    if box is not None:
        box.setChecked(True)
        value = wrapper.parameterValue()
        record["selected_only"] = getattr(value, "selectedFeaturesOnly", None)
        wrapper.setParameterValue(raster.id(), context)
        wait(50)
        record["raster"] = {"value_is_raster": refers_to(wrapper.parameterValue(), raster),
                            "enabled": box.isEnabled(), "checked": box.isChecked()}
    polygons.removeSelection()
    return record


def exercise_dialog(alg_id: str, layers: dict) -> None:
    """Open the dialog, set every layer parameter to every layer kind it accepts, read each value back."""
    step(f"open {alg_id}")
    dialog = processing.createAlgorithmDialog(alg_id)
    dialog.resize(1000, 800)
    dialog.show()
    wait(300)
    REPORT["dialogs"][alg_id] = {"opened": True, "screenshot": shot(dialog, f"dialog_{alg_id.split(':')[1]}")}
    context = QgsProcessingContext()
    wrappers = dialog.mainWidget().wrappers
    for definition in dialog.algorithm().parameterDefinitions():
        for layer_name in accepted(definition, layers):
            layer = layers[layer_name]
            step(f"{alg_id} {definition.name()} = {layer_name}")
            many = isinstance(definition, QgsProcessingParameterMultipleLayers)
            wrappers[definition.name()].setParameterValue([layer.id()] if many else layer.id(), context)
            wait(50)
            value = wrappers[definition.name()].parameterValue()
            panel = getattr(getattr(wrappers[definition.name()], "widget", None), "leText", None)
            REPORT["layer_values"].append({"algorithm": alg_id, "parameter": definition.name(), "layer": layer_name,
                                           "value": str(value), "ok": refers_to(value, layer),
                                           "text": panel.text() if panel is not None else None,
                                           "fields": class_fields(wrappers),
                                           "field": wrappers["LABEL_FIELD"].parameterValue()
                                           if "LABEL_FIELD" in wrappers else None})
    if "LABELS" in wrappers:
        REPORT.setdefault("selection_box", {})[alg_id] = selection_box(wrappers["LABELS"], layers, context)
    if "CLASS_COLORS" in wrappers:
        REPORT["colors"] = colors_follow_names(wrappers, context)
    save()
    dialog.close()


def run_dialog(alg_id: str, parameters: dict, timeout_s: float) -> dict:
    """Run an algorithm from its dialog (the Run button's code path); returns what the dialog reported."""
    step(f"run {alg_id}")
    dialog = processing.createAlgorithmDialog(alg_id, parameters)
    dialog.resize(1000, 800)
    dialog.show()
    progress: list[float] = []
    finished: dict = {}
    loop = QEventLoop()

    def on_finished(ok, results):
        finished.update(ok=bool(ok), results={k: str(v) for k, v in results.items()})
        finished["log"] = dialog_log(dialog)
        finished["screenshot"] = shot(dialog, f"run_{alg_id.split(':')[1]}")
        loop.quit()

    dialog.algorithmFinished.connect(on_finished)
    original = dialog.createFeedback

    def create_feedback():
        feedback = original()
        feedback.progressChanged.connect(progress.append)
        return feedback

    dialog.createFeedback = create_feedback
    messages = len(REPORT["messages"])
    dialog.runAlgorithm()
    bar = [item.text() for item in dialog.messageBar().items()]
    if len(REPORT["messages"]) > messages or bar:  # refused before it started: nothing to wait for
        finished.update(ok=False, refused=REPORT["messages"][messages:] + bar, log=dialog_log(dialog),
                        screenshot=shot(dialog, f"refused_{alg_id.split(':')[1]}"))
    if not finished:
        def failed_without_signal() -> None:
            # QGIS 3.40 emits no algorithmFinished for a failed run whose output layers were not made
            if not finished and "Execution failed after" in dialog_log(dialog):
                on_finished(False, {})

        poll = QTimer()
        poll.timeout.connect(failed_without_signal)
        poll.start(200)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec_()
        poll.stop()
    finished.setdefault("ok", None)
    finished["progress"] = progress
    return finished


def model_read_back(bundle: str) -> dict:
    """MODEL given to createAlgorithmDialog (as a History re-run does) and to setParameters, read back."""
    step("MODEL read back")
    given = {"one": bundle, "ensemble": f"{bundle};{bundle}"}
    read = {}
    for key, value in given.items():
        dialog = processing.createAlgorithmDialog("dualstream:segment", {"MODEL": value})
        read[f"{key} createAlgorithmDialog"] = dialog.mainWidget().wrappers["MODEL"].parameterValue()
        dialog.setParameters({"MODEL": "x.dsmodel"})
        dialog.setParameters({"MODEL": value})
        read[f"{key} setParameters"] = dialog.mainWidget().wrappers["MODEL"].parameterValue()
        dialog.close()
    return {"given": given, "read": read}


def model_summary(bundle: str, layers: dict) -> dict:
    """Segment and Segment in bulk show what a bundle expects as soon as it is picked, and what of the chosen
    layers does not fit it, before Run."""
    step("model summary")
    context = QgsProcessingContext()
    record: dict = {}
    dialog = processing.createAlgorithmDialog("dualstream:segment", {
        "INPUT": layers["image"].id(), "AUX": [layers["aux"].id()]})
    dialog.resize(1000, 900)
    dialog.show()
    wrappers = dialog.mainWidget().wrappers
    record["before"] = wrappers["MODEL"].summary_text()
    wrappers["MODEL"].setParameterValue(bundle, context)  # as picking the file does
    wait(100)
    record["fits"] = wrappers["MODEL"].summary_text()
    record["screenshot"] = shot(dialog, "segment_model_summary")
    wrappers["AUX"].setParameterValue([], context)
    wrappers["INPUT"].setParameterValue(layers["label raster"].id(), context)
    wait(100)
    record["mismatch"] = wrappers["MODEL"].summary_text()
    record["mismatch_screenshot"] = shot(dialog, "segment_model_mismatch")
    wrappers["BANDS"].setParameterValue("2,,3", context)  # typed: the engine's rule says it before Run
    wait(100)
    record["empty_band"] = wrappers["MODEL"].summary_text()
    record["empty_band_screenshot"] = shot(dialog, "segment_model_empty_band")
    dialog.close()
    bulk = processing.createAlgorithmDialog("dualstream:segmentbulk", {"INPUT": [layers["image"].id()]})
    bulk.show()
    bulk.mainWidget().wrappers["MODEL"].setParameterValue(bundle, context)
    wait(100)
    record["bulk"] = bulk.mainWidget().wrappers["MODEL"].summary_text()
    bulk.mainWidget().wrappers["AUX_PATTERNS"].setParameterValue("{stem}_aux.tif", context)
    wait(100)
    record["bulk_with_pattern"] = bulk.mainWidget().wrappers["MODEL"].summary_text()
    bulk.close()
    return record


def current_layer() -> str | None:
    """The name of the layer selected in the Layers panel."""
    from qgis.utils import iface

    layer = iface.activeLayer()
    return layer.name() if layer is not None else None


def bad_inputs(layers: dict, out: Path) -> None:
    """Runs that must stop with a message in the dialog's log (never a crash, never a traceback)."""
    fake = out / "fake.dsmodel"
    fake.write_text("not a model", encoding="utf-8")
    blocker = out / "a_file"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    REPORT["bad"] = {
        "segment_not_a_bundle": run_dialog("dualstream:segment", dict(
            CONFIG["segment"], INPUT=layers["image"].id(), AUX=[layers["aux"].id()], MODEL=str(fake),
            OUTPUT=str(out / "never.tif")), timeout_s=60),
        "train_output_unwritable": run_dialog("dualstream:train", dict(
            CONFIG["train"], INPUT=layers["image"].id(), LABELS=layers["label raster"].id(),
            OUTPUT=str(blocker / "model.dsmodel")), timeout_s=60),
    }
    save()


def train_form(layers: dict) -> dict:
    """Train's form as opened: the chosen mode's inputs required (no "[optional]"), the other mode's greyed out,
    the bundle output asking for a file; the runs a form without labels or without a bundle file are refused."""
    step("train form")
    from qgis.PyQt.QtWidgets import QLineEdit

    dialog = processing.createAlgorithmDialog("dualstream:train")
    dialog.resize(1000, 800)
    dialog.show()
    wait(200)
    wrappers = dialog.mainWidget().wrappers

    def state() -> dict:
        return {name: {"label": wrappers[name].wrappedLabel().text(), "enabled": wrappers[name].wrappedWidget(
        ).isEnabled()} for name in ("INPUT", "LABELS", "DATA_FOLDER")}

    record = {"layers": state(), "mode_label": wrappers["MODE"].label.text(),
              "output_placeholder": wrappers["OUTPUT"].wrappedWidget().findChild(QLineEdit).placeholderText(),
              "screenshot": shot(dialog, "train_form_layers")}
    wrappers["MODE"].setParameterValue(1, QgsProcessingContext())
    wait(50)
    record["folder"] = state()
    dialog.close()
    record["no_labels"] = run_dialog("dualstream:train", dict(
        CONFIG["train"], INPUT=layers["image"].id(), OUTPUT=str(OUT / "never.dsmodel")), timeout_s=30)
    record["no_bundle_file"] = run_dialog("dualstream:train", dict(
        CONFIG["train"], INPUT=layers["image"].id(), LABELS=layers["label raster"].id()), timeout_s=30)
    return record


def plugin_menu() -> list[str]:
    """The entries of Plugins > DualStream."""
    from qgis.utils import iface

    for action in iface.pluginMenu().actions():
        if action.menu() is not None and action.menu().title().replace("&", "") == "DualStream":
            return [entry.text() for entry in action.menu().actions()]
    return []


def main() -> None:
    guard = QTimer()
    guard.timeout.connect(close_message_boxes)
    guard.start(200)
    ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)
    data = CONFIG["data"]
    project = QgsProject.instance()
    # The label raster first: the Evaluate dialog's label combo then starts on a raster (the 3.22 crash).
    layers = {
        "label raster": QgsRasterLayer(data["label"], "label raster"),
        "image": QgsRasterLayer(data["image"], "image"),
        "aux": QgsRasterLayer(data["aux"][0], "aux"),
        "label polygons": QgsVectorLayer(data["label_vector"], "label polygons", "ogr"),
    }
    for layer in layers.values():
        assert layer.isValid(), layer.source()
        project.addMapLayer(layer)
    REPORT["algorithms"] = sorted(a.id() for a in QgsApplication.processingRegistry().providerById(
        "dualstream").algorithms())
    save()
    for alg_id in REPORT["algorithms"]:
        exercise_dialog(alg_id, layers)

    out = OUT / "runs"
    train = run_dialog("dualstream:train", dict(
        CONFIG["train"], INPUT=layers["image"].id(), LABELS=layers["label raster"].id(),
        AUX=[layers["aux"].id()], OUTPUT=str(out / "model.dsmodel")), timeout_s=300)
    REPORT["train"] = train
    save()
    REPORT["model_read_back"] = model_read_back(str(out / "model.dsmodel"))
    REPORT["model_summary"] = model_summary(str(out / "model.dsmodel"), layers)
    save()
    before = {row["source"] for row in layer_tree()}
    segment = run_dialog("dualstream:segment", dict(
        CONFIG["segment"], INPUT=layers["image"].id(), AUX=[layers["aux"].id()], MODEL=str(out / "model.dsmodel"),
        OUTPUT=str(out / "scene_classes.tif"), OUTPUT_PROBABILITIES=str(out / "scene_probabilities.tif"),
        OUTPUT_POLYGONS=str(out / "scene_polygons.gpkg")), timeout_s=300)
    segment["new_layers"] = [row for row in layer_tree() if row["source"] not in before]
    segment["current"] = current_layer()
    REPORT["segment"] = segment
    save()
    classes = QgsProject.instance().mapLayersByName("scene_classes")  # named after the file chosen
    if classes:
        # no mapping given: the model's own (90=1) comes from the prediction's metadata
        REPORT["evaluate"] = run_dialog("dualstream:evaluate", dict(
            INPUT=classes[0].id(), LABELS=layers["label raster"].id(), OUTPUT=str(out / "metrics.json")),
            timeout_s=120)
        before = {row["source"] for row in layer_tree()}
        # labels that are class numbers (the class raster itself) against a prediction carrying 90 -> 1: the
        # model's values stop with advice naming the dialog's own choice; following it works
        REPORT["evaluate_self_model_values"] = run_dialog("dualstream:evaluate", dict(
            INPUT=classes[0].id(), LABELS=classes[0].id(), OUTPUT=str(out / "self.json")), timeout_s=120)
        REPORT["evaluate_self_class_numbers"] = run_dialog("dualstream:evaluate", dict(
            INPUT=classes[0].id(), LABELS=classes[0].id(), LABEL_VALUES=1, OUTPUT=str(out / "self.json")),
            timeout_s=120)
        REPORT["evaluate_self_class_numbers"]["new_layers"] = [row for row in layer_tree()
                                                              if row["source"] not in before]
        # the silent case: a class raster scored against itself with a mapping it does not use
        REPORT["evaluate_wrong_mapping"] = run_dialog("dualstream:evaluate", dict(
            INPUT=classes[0].id(), LABELS=classes[0].id(), LABEL_VALUES=2, LABEL_MAPPING="90=1",
            OUTPUT=str(out / "self.json")), timeout_s=120)
        save()
    step("segment in bulk")
    before = {row["source"] for row in layer_tree()}
    bulk = run_dialog("dualstream:segmentbulk", dict(
        CONFIG["segment"], FOLDER=str(Path(CONFIG["data"]["image"]).parent), PATTERN="*_image.tif",
        AUX_PATTERNS="{stem:_image=_aux}.tif", MODEL=str(out / "model.dsmodel"), OUTPUT=str(out / "bulk"),
        ADD_TO_PROJECT=True), timeout_s=300)
    bulk["new_layers"] = [row for row in layer_tree() if row["source"] not in before]
    bulk["current"] = current_layer()
    REPORT["segment_bulk"] = bulk
    save()
    step("create sample data")
    before = {row["source"] for row in layer_tree()}
    sample = run_dialog("dualstream:sampledata", {"OUTPUT": str(OUT / "sample")}, timeout_s=120)
    root = QgsProject.instance().layerTreeRoot()
    sample["groups"] = {group.name(): [node.name() for node in group.children()]
                        for group in root.children() if group.name().startswith("Sample scene")}
    sample["new_layers"] = [row for row in layer_tree() if row["source"] not in before]
    REPORT["sample_data"] = sample
    save()
    step("batch segment")
    scenes = [CONFIG["data"], CONFIG["data2"]]
    REPORT["batch_segment"] = run_batch(
        "dualstream:segment",
        [dict(CONFIG["segment"], INPUT=scene["image"], AUX=scene["aux"], MODEL=str(out / "model.dsmodel"))
         for scene in scenes],
        [str(out / f"batch_{index}_classes.tif") for index in range(len(scenes))])
    save()
    step("batch compare classifications")  # the change folder's batch: one pair of dates per row
    REPORT["batch_compare"] = run_batch(
        "dualstream:comparechange",
        [{"INPUT": pair["before_classes"], "AFTER": pair["after_classes"]} for pair in CONFIG["pairs"]],
        [str(out / f"pair{index + 1}_change.tif") for index in range(len(CONFIG["pairs"]))], shots="batch_compare")
    save()
    bad_inputs(layers, out)
    REPORT["train_form"] = train_form(layers)
    save()
    REPORT["menu"] = plugin_menu()
    REPORT["finished"] = True
    save()


start_later(main)
