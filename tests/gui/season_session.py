"""Drives the season algorithms in the real QGIS desktop (``qgis --code THIS``) and writes what it saw.

Started by ``tests/gui/test_season_desktop.py`` under Xvfb: the *Train season* and *Segment season* forms with a
season's dates chosen as layers, then Segment season run as the dialog runs it (results loaded into the project,
styled) and the map drawn, then two rows in its batch dialog (the dates as layers; their folder). Records facts and
screenshots only.
"""

from __future__ import annotations

import os
import sys

import processing
from qgis.core import QgsProcessingFeedback, QgsProject, QgsRasterLayer

sys.path.insert(0, os.environ["DUALSTREAM_GUI_TOOLS"])  # no __file__ here: run_session names the folder
from session_tools import CONFIG, OUT, REPORT, label_texts, run_batch, save, shot, start_later, step, wait  # noqa: E402 - found through the line above


class Keeping(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, text):  # noqa: N802 - QGIS API
        self.lines.append(text)

    def pushWarning(self, text):  # noqa: N802 - QGIS API
        self.lines.append(text)


def form(alg_id: str, values: dict, name: str) -> dict:
    """The dialog of ``alg_id`` with ``values`` set: its parameters' labels in order, a screenshot."""
    step(f"form of {alg_id}")
    dialog = processing.createAlgorithmDialog(alg_id, values)
    dialog.resize(1000, 900)
    dialog.show()
    wait(500)
    alg = dialog.algorithm()
    record = {"group": alg.group(), "labels": [d.description() for d in alg.parameterDefinitions()],
              "shown_labels": label_texts(dialog),
              "dates_text": dialog.mainWidget().wrappers["DATES"].widget.leText.text(),
              "screenshot": shot(dialog, name)}
    dialog.close()
    return record


def modeler_dialog() -> dict:
    """Segment season's parameters dialog in the Graphical Modeler, in a model whose input is a season's dates: the
    dates taken from that input, and the child it makes."""
    from processing.modeler.ModelerParametersDialog import ModelerParametersDialog
    from qgis.core import (
        QgsApplication,
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelParameter,
        QgsProcessingParameterMultipleLayers,
    )

    step("modeler dialog")
    model = QgsProcessingModelAlgorithm("season", "test")
    model.addModelParameter(QgsProcessingParameterMultipleLayers("dates", "Dates", QgsProcessing.TypeRaster),
                            QgsProcessingModelParameter("dates"))
    alg = QgsApplication.processingRegistry().createAlgorithmById("dualstream:segmentseason")
    dialog = ModelerParametersDialog(alg, model)
    dialog.resize(1000, 900)
    dialog.show()
    wait(500)
    dates = dialog.widget.widget.wrappers["DATES"]  # QGIS's own modeler widget: a value, an input, an output
    dates.setWidgetValue([QgsProcessingModelChildParameterSource.fromModelParameter("dates")])
    child = dialog.createAlgorithm()
    record = {"child_dates": [s.parameterName() for s in child.parameterSources().get("DATES", [])] if child else None,
              "screenshot": shot(dialog, "segment_season_modeler")}
    dialog.close()
    return record


def main() -> None:
    from qgis.utils import iface

    project = QgsProject.instance()
    layers = [QgsRasterLayer(path, os.path.basename(path)) for path in CONFIG["dates"]]
    for layer in layers:
        project.addMapLayer(layer)
    ids = [layer.id() for layer in layers]
    REPORT["train_form"] = form("dualstream:trainseason", {"DATES": ids, "LABELS": CONFIG["label"]},
                                "train_season_form")
    save()
    REPORT["segment_form"] = form("dualstream:segmentseason", {"DATES": ids, "MODEL": CONFIG["model"]},
                                  "segment_season_form")
    save()
    step("segment season run")
    log = Keeping()
    results = processing.runAndLoadResults("dualstream:segmentseason", {
        "DATES": ids, "MODEL": CONFIG["model"], "OUTPUT": str(OUT / "classes.tif"),
        "OUTPUT_CONFIDENCE": str(OUT / "confidence.tif"), "OUTPUT_POLYGONS": str(OUT / "polygons.gpkg"),
        "OUTPUT_TABLE": str(OUT / "areas.csv")},
        feedback=log)
    wait(1000)
    for layer in layers:  # the map shows the result over nothing else
        project.layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
    loaded = [layer for layer in project.mapLayers().values() if layer.source() == results["OUTPUT"]]
    canvas = iface.mapCanvas()
    if loaded:
        canvas.setExtent(loaded[0].extent())
    canvas.refresh()
    wait(2000)
    REPORT["segment_run"] = {"results": {k: str(v) for k, v in results.items()}, "log": log.lines,
                             "renderer": loaded[0].renderer().type() if loaded else None,
                             "screenshot": shot(iface.mainWindow(), "segment_season_result")}
    save()
    REPORT["modeler"] = modeler_dialog()
    save()
    step("segment season batch")
    REPORT["batch"] = run_batch("dualstream:segmentseason", [  # one row of layers, one of the folder
        {"DATES": CONFIG["dates"], "MODEL": CONFIG["model"]},
        {"DATES_FOLDER": os.path.dirname(CONFIG["dates"][0]), "MODEL": CONFIG["model"]}],
        [str(OUT / "batch_layers.tif"), str(OUT / "batch_folder.tif")], shots="segment_season_batch")
    REPORT["finished"] = True
    save()


start_later(main)
