"""The QGIS desktop walkthrough of docs/qgis-walkthrough.md, run for real: Create sample data -> Train (default
settings) -> Segment -> Segment in bulk -> Evaluate, each from its own dialog, with the screenshots of the page.

Usage: ``.venv/bin/python scripts/qgis_walkthrough.py [--out walkthrough_output] [--images docs/images]``. It deploys
the plugin into a throwaway profile under ``--out`` and starts ``xvfb-run qgis --code`` on this same file, which then
drives the dialogs (the Run button's code path) and writes ``walkthrough.json`` (times, scores, logs) beside the
screenshots. Screenshots are 8-bit PNGs, small enough for the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ENV = "DUALSTREAM_WALKTHROUGH"


# ------------------------------------------------------------------------------------- inside QGIS (--code)
def _inside() -> None:  # noqa: C901 - one linear story
    import processing
    from processing.core.ProcessingConfig import ProcessingConfig
    from qgis.core import QgsApplication, QgsProject
    from qgis.PyQt.QtCore import QEventLoop, QRect, Qt, QTimer
    from qgis.PyQt.QtGui import QImage
    from qgis.PyQt.QtWidgets import QApplication, QDockWidget, QMessageBox, QTextEdit
    from qgis.utils import iface

    config = json.loads(os.environ[ENV])
    out, images = Path(config["out"]), Path(config["images"])
    record: dict = {"steps": {}}

    def save() -> None:
        (out / "walkthrough.json").write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec_()

    def shot(widget, name: str, width: int = 900, crop: QRect | None = None) -> str:
        """The widget as an 8-bit PNG ``width`` px wide (a QRect ``crop`` first)."""
        image = widget.grab(crop) if crop is not None else widget.grab()
        image = image.toImage().scaledToWidth(min(width, image.width()), Qt.TransformationMode.SmoothTransformation)
        path = images / f"{name}.png"
        image.convertToFormat(QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.ThresholdDither).save(str(path))
        return str(path)

    def tidy() -> None:
        """Only the Layers panel beside the map, wide enough for the layer names."""
        window = iface.mainWindow()
        for dock in window.findChildren(QDockWidget):
            if dock.objectName() in ("Browser", "Browser2", "ResultsViewer", "ProcessingToolbox"):
                dock.hide()
        layers = window.findChild(QDockWidget, "Layers")
        if layers is not None:
            window.resizeDocks([layers], [330], Qt.Orientation.Horizontal)
        wait(300)

    def main_window(name: str, width: int = 760, crop: QRect | None = None) -> str:
        tidy()
        iface.mapCanvas().refreshAllLayers()
        wait(2500)
        return shot(iface.mainWindow(), name, width, crop)

    def layers_panel(name: str) -> str:
        """The layer tree down to its last row."""
        tidy()
        view = iface.layerTreeView()
        index = last = view.model().index(0, 0)
        while index.isValid():
            last, index = index, view.indexBelow(index)
        bottom = min(view.viewport().height(), view.visualRect(last).bottom() + 8)
        return shot(view.viewport(), name, width=view.width(), crop=QRect(0, 0, view.viewport().width(), bottom))

    def close_boxes() -> None:
        widget = QApplication.activeModalWidget()
        if isinstance(widget, QMessageBox):
            record.setdefault("messages", []).append(widget.text())
            widget.reject()

    def run(alg_id: str, parameters: dict, before_run=None, timeout_s: float = 1800) -> dict:
        """Open the dialog with ``parameters`` typed in, optionally look at it, press Run, wait for the end."""
        dialog = processing.createAlgorithmDialog(alg_id, parameters)
        dialog.resize(1000, 820)
        dialog.show()
        wait(500)
        if before_run is not None:
            before_run(dialog)
        done: dict = {}
        loop = QEventLoop()

        def finished(ok, results):
            done.update(ok=bool(ok), results={k: str(v) for k, v in results.items()})
            loop.quit()

        dialog.algorithmFinished.connect(finished)
        start = time.perf_counter()
        dialog.runAlgorithm()
        if not done:
            QTimer.singleShot(int(timeout_s * 1000), loop.quit)
            loop.exec_()
        done["seconds"] = round(time.perf_counter() - start, 1)
        log = dialog.findChild(QTextEdit, "txtLog")
        done["log"] = log.toPlainText() if log is not None else ""
        dialog.close()
        wait(500)
        return done

    def layer(name: str):
        found = QgsProject.instance().mapLayersByName(name)
        return found[0] if found else None

    def names() -> list[str]:
        return [node.name() for node in QgsProject.instance().layerTreeRoot().findLayers()]

    guard = QTimer()
    guard.timeout.connect(close_boxes)
    guard.start(300)
    ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)
    iface.mainWindow().resize(1280, 800)
    try:
        sample = out / "sample"
        record["steps"]["sample"] = run("dualstream:sampledata", {"OUTPUT": str(sample)})
        iface.mapCanvas().setExtent(QgsProject.instance().layerTreeRoot().findGroup(
            "Sample scene B (segment and evaluate it)").children()[2].layer().extent())
        # the Layers panel and part of the map: the noisy synthetic image makes big PNGs
        record["steps"]["sample"]["screenshot"] = main_window("qgis-sample-data", 560, QRect(0, 93, 943, 582))
        save()

        def look_at_train(dialog) -> None:
            wrappers = dialog.mainWidget().wrappers
            record["class_field"] = wrappers["LABEL_FIELD"].parameterValue()
            record["train_screenshot"] = shot(dialog, "qgis-train-dialog", crop=QRect(0, 0, 720, 560))

        bundle = out / "model" / "sample.dsmodel"
        record["steps"]["train"] = run("dualstream:train", {
            "INPUT": layer("scene_a_image").id(), "LABELS": layer("scene_a_label (polygons)").id(),
            "AUX": [layer("scene_a_aux").id()], "OUTPUT": str(bundle)}, look_at_train)
        save()

        def look_at_segment(dialog) -> None:
            record["summary"] = dialog.mainWidget().wrappers["MODEL"].summary_text()
            record["segment_screenshot"] = shot(dialog, "qgis-segment-model-summary", crop=QRect(0, 0, 720, 380))

        results = out / "results"
        record["steps"]["segment"] = run("dualstream:segment", {
            "INPUT": layer("scene_b_image").id(), "AUX": [layer("scene_b_aux").id()], "MODEL": str(bundle),
            "OUTPUT": str(results / "scene_b_classes.tif"),
            "OUTPUT_PROBABILITIES": str(results / "scene_b_probabilities.tif"),
            "OUTPUT_POLYGONS": str(results / "scene_b_polygons.gpkg")}, look_at_segment)
        record["after_segment"] = names()
        record["current_after_segment"] = iface.activeLayer().name() if iface.activeLayer() else None
        main_window("qgis-after-segment")
        save()

        record["steps"]["bulk"] = run("dualstream:segmentbulk", {
            "FOLDER": str(sample), "PATTERN": "*_image.tif", "AUX_PATTERNS": "{stem:_image=_aux}.tif",
            "MODEL": str(bundle), "OUTPUT": str(out / "bulk"), "ADD_TO_PROJECT": True})
        record["after_bulk"] = names()
        layers_panel("qgis-layers-after-bulk")
        save()

        def look_at_evaluate(dialog) -> None:
            """The Label values list opened (a popup: taken from the screen, not the dialog)."""
            combo = dialog.mainWidget().wrappers["LABEL_VALUES"].wrappedWidget()
            combo.showPopup()
            wait(500)
            corner = dialog.mapToGlobal(dialog.rect().topLeft())
            image = QApplication.primaryScreen().grabWindow(0, corner.x(), corner.y(), 720, 330).toImage()
            path = images / "qgis-evaluate-choice.png"
            image.convertToFormat(QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.ThresholdDither).save(
                str(path))
            record["evaluate_screenshot"] = str(path)
            combo.hidePopup()

        record["steps"]["evaluate"] = run("dualstream:evaluate", {
            "INPUT": layer("scene_b_image classes").id(), "LABELS": layer("scene_b_label").id(),
            "OUTPUT": str(results / "scene_b_metrics.json"), "OUTPUT_HTML": str(results / "scene_b_metrics.html")},
            look_at_evaluate)
        record["after_evaluate"] = names()
        layers_panel("qgis-layers-after-evaluate")
        record["finished"] = True
    except Exception:  # noqa: BLE001 - recorded, then QGIS exits
        record["error"] = traceback.format_exc()
    save()
    QgsApplication.exit(0)
    os._exit(0)


# --------------------------------------------------------------------------------------------- launcher
def shrink(path: Path, colors: int = 64) -> None:
    """A screenshot in 64 colours: a few KB for a dialog."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    small = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.info = {}
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=repo / "walkthrough_output")
    parser.add_argument("--images", type=Path, default=repo / "docs" / "images")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(repo))
    from scripts.deploy_plugin import deploy, venv_site_packages

    out = args.out.resolve()
    if (out / "sample").exists():
        raise SystemExit(f"{out / 'sample'} exists: give another --out (nothing is overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    args.images.mkdir(parents=True, exist_ok=True)
    deploy(out / "profiles", "default", venv_site_packages())
    env = dict(os.environ, **{ENV: json.dumps({"out": str(out), "images": str(args.images.resolve())})})
    for leak in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "DUALSTREAM_SITE_PACKAGES", "PYTHONPATH"):
        env.pop(leak, None)
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", "qgis", "--profiles-path", str(out), "--nologo",
               "--noversioncheck", "--code", str(Path(__file__).resolve())]
    start = time.perf_counter()
    subprocess.run(command, cwd=out, env=env, timeout=3600, capture_output=True)
    for png in args.images.glob("qgis-*.png"):
        shrink(png)
    record = json.loads((out / "walkthrough.json").read_text(encoding="utf-8"))
    print(f"walkthrough: {time.perf_counter() - start:.0f} s; " + ", ".join(
        f"{name} {step.get('seconds')} s ({'ok' if step.get('ok') else 'FAILED'})"
        for name, step in record["steps"].items()))
    if record.get("error"):
        print(record["error"], file=sys.stderr)
    return 0 if record.get("finished") else 1


if os.environ.get(ENV):  # started by main() as QGIS's --code: drive the desktop
    from qgis.PyQt.QtCore import QTimer

    QTimer.singleShot(1500, _inside)
elif __name__ == "__main__":
    sys.exit(main())
