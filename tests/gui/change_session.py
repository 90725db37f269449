"""Drives the change detection dialogs in the real QGIS desktop (``qgis --code THIS``) and writes what it saw.

Started by ``tests/gui/test_change_desktop.py`` under Xvfb: the model summary of Segment given a change model and of
Detect change given a model of one date, before Run; the *Train change detection* form as it opens; the layer
combos of a change dataset's A/, B/ and label/ files that share one name. Records facts and screenshots only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import processing
from qgis.core import QgsProcessingContext, QgsProject, QgsRasterLayer
from qgis.PyQt.QtWidgets import QComboBox

sys.path.insert(0, os.environ["DUALSTREAM_GUI_TOOLS"])  # no __file__ here: run_session names the folder
from session_tools import CONFIG, REPORT, label_texts, save, shot, start_later, step, wait  # noqa: E402 - found through the line above


def summary(alg_id: str, values: dict, model: str, name: str) -> dict:
    """The dialog of ``alg_id`` with ``values`` set, then ``model`` picked: its model summary's text, a screenshot."""
    step(f"model summary of {alg_id}")
    dialog = processing.createAlgorithmDialog(alg_id, values)
    dialog.resize(1000, 900)
    dialog.show()
    wrapper = dialog.mainWidget().wrappers["MODEL"]
    wrapper.setParameterValue(model, QgsProcessingContext())  # as picking the file does
    wait(300)
    record = {"text": wrapper.summary_text(), "screenshot": shot(dialog, name)}
    dialog.close()
    return record


def combo_items(wrapper) -> list[str]:
    """The entries of a layer parameter's combo box as the user reads them."""
    combo = wrapper.wrappedWidget().findChild(QComboBox) if not isinstance(wrapper.wrappedWidget(), QComboBox) \
        else wrapper.wrappedWidget()
    return [combo.itemText(i) for i in range(combo.count())] if combo is not None else []


def dataset_combos() -> dict:
    """A change dataset's A/, B/ and label/ files of one name added as a user adds them (Layer > Add Raster Layer):
    the names the layers get and the entries of Train change detection's layer combos."""
    from qgis.utils import iface

    step("change dataset combos")
    added = [iface.addRasterLayer(path, Path(path).stem) for path in CONFIG["dataset"]]
    wait(300)
    dialog = processing.createAlgorithmDialog("dualstream:trainchange")
    dialog.resize(1000, 800)
    dialog.show()
    wait(300)
    wrappers = dialog.mainWidget().wrappers
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())  # as the dialog's own: layer ids name the project's layers
    wrappers["INPUT"].setParameterValue(added[0].id(), context)
    wrappers["AFTER"].setParameterValue(added[1].id(), context)
    wait(200)
    record = {"layers": [layer.name() for layer in added], "first_date_combo": combo_items(wrappers["INPUT"]),
              "screenshot": shot(dialog, "train_change_dataset_combos")}
    combo = wrappers["INPUT"].wrappedWidget()
    combo = combo if isinstance(combo, QComboBox) else combo.findChild(QComboBox)
    if combo is not None:
        combo.showPopup()
        wait(300)
        record["popup"] = shot(combo.view().window(), "train_change_dataset_combo_open")
        combo.hidePopup()
    dialog.close()
    return record


def shown(wrapper) -> str:
    """What a parameter's widget shows: a number box's text ("automatic" where unset), a combo's or a line's text."""
    from qgis.PyQt.QtWidgets import QAbstractSpinBox, QLineEdit

    widget = wrapper.wrappedWidget() or getattr(wrapper, "widget", None)  # a Python wrapper keeps its own
    if widget is None:
        return ""
    for kind in (QAbstractSpinBox, QComboBox, QLineEdit):
        found = widget if isinstance(widget, kind) else widget.findChild(kind)
        if found is not None:
            return found.currentText() if isinstance(found, QComboBox) else found.text()
    return ""


def train_change_form() -> dict:
    """Train change detection as it opens: what its training settings show, their help, the whole form's picture."""
    from qgis.PyQt.QtWidgets import QScrollArea

    step("train change detection form")
    dialog = processing.createAlgorithmDialog("dualstream:trainchange")
    dialog.resize(1000, 900)
    dialog.show()
    wait(300)
    wrappers = dialog.mainWidget().wrappers
    names = ("PRESET", "ENCODER", "EPOCHS", "WARMUP_EPOCHS", "TIME_BUDGET", "LEARNING_RATE", "TILE_SIZE",
             "TILES_PER_EPOCH", "CLASS_NAMES", "CLASS_COLORS")
    offered = [name for name in names if name in wrappers]
    record = {"shown": {name: shown(wrappers[name]) for name in offered},
              "labels": {name: wrappers[name].parameterDefinition().description() for name in offered},
              "shown_labels": label_texts(dialog),
              "help": {name: wrappers[name].parameterDefinition().help() for name in offered}}
    preset = wrappers["PRESET"].wrappedWidget()
    preset = preset if isinstance(preset, QComboBox) else preset.findChild(QComboBox)
    record["presets"] = [preset.itemText(i) for i in range(preset.count())] if preset is not None else []
    scroll = dialog.mainWidget().findChild(QScrollArea)
    record["screenshot"] = shot(scroll.widget() if scroll is not None else dialog, "train_change_form")
    dialog.close()
    return record


def change_tables() -> dict:
    """Compare classifications run twice on one pair into two change rasters, the change tables temporary, loaded as
    the dialog loads them: the Layers panel's names and picture."""
    from qgis.utils import iface

    step("change tables")
    pair = CONFIG["pair"]
    for output in CONFIG["compare_outputs"]:
        processing.runAndLoadResults("dualstream:comparechange", {
            "INPUT": pair["before_classes"], "AFTER": pair["after_classes"], "OUTPUT": output,
            "OUTPUT_TABLE": "TEMPORARY_OUTPUT"})
    wait(500)
    names = [layer.name() for layer in QgsProject.instance().mapLayers().values()]
    return {"names": sorted(name for name in names if "change" in name),
            "screenshot": shot(iface.layerTreeView(), "layers_after_two_comparisons")}


def main() -> None:
    pair = CONFIG["pair"]
    project = QgsProject.instance()
    layers = {name: QgsRasterLayer(pair[key], name) for name, key in (("before", "before"), ("after", "after"))}
    for layer in layers.values():
        project.addMapLayer(layer)
    REPORT["segment_change_model"] = summary("dualstream:segment", {"INPUT": layers["before"].id()},
                                             CONFIG["change_model"], "segment_given_a_change_model")
    REPORT["detect_one_date_model"] = summary(
        "dualstream:detectchange", {"INPUT": layers["before"].id(), "AFTER": layers["after"].id()},
        CONFIG["one_date_model"], "detect_change_given_a_model_of_one_date")
    save()
    REPORT["dataset_combos"] = dataset_combos()
    save()
    REPORT["train_change_form"] = train_change_form()
    save()
    REPORT["change_tables"] = change_tables()
    save()
    REPORT["finished"] = True
    save()


start_later(main)
