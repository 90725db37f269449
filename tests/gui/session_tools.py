"""What the scripted desktop sessions (``qgis --code SCRIPT``) share: their settings and report, waiting on the
event loop, exceptions in Qt slots recorded, mouse events on the canvas, screenshots, a dialog's log, the batch
dialog run row by row, the layers in the project, and the start and end of the session.

QGIS runs a session script's text without a ``__file__``, so a script finds this module through
``DUALSTREAM_GUI_TOOLS`` (set by :func:`tests.gui.desktop.run_session`).
"""

from __future__ import annotations

import inspect
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from qgis.core import QgsApplication, QgsPointXY, QgsProject
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QEventLoop, QPoint, Qt, QTimer
from qgis.PyQt.QtWidgets import QTextEdit

CONFIG = json.loads(Path(os.environ["DUALSTREAM_GUI_CONFIG"]).read_text(encoding="utf-8"))
OUT = Path(CONFIG["out"])
REPORT: dict = {"steps": [], "waits": [], "finished": False}


def save() -> None:
    (OUT / "report.json").write_text(json.dumps(REPORT, indent=1, default=str), encoding="utf-8")


def step(name: str) -> None:
    REPORT["steps"].append(name)
    save()


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec_()


def settle(busy: Callable[[], bool], status: Callable[[], str] | None = None, limit_s: float = 240.0) -> None:
    """Until ``busy()`` is false (a task of the panel's), or the limit passes: the report then says it was busy."""
    start = time.monotonic()
    while busy() and time.monotonic() - start < limit_s:
        wait(100)
    waited = {"step": REPORT["steps"][-1], "seconds": round(time.monotonic() - start, 1), "busy": bool(busy())}
    if status is not None:
        waited["status"] = status()
    REPORT["waits"].append(waited)
    save()
    wait(300)


def show_raster(path: str, name: str):
    """The raster at ``path`` added to the project and filling the map canvas, drawn: (the layer, the canvas)."""
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.utils import iface

    step("load")
    layer = QgsRasterLayer(path, name)
    QgsProject.instance().addMapLayer(layer)
    canvas = iface.mapCanvas()
    canvas.setExtent(layer.extent())
    canvas.refresh()
    wait(1500)
    return layer, canvas


def screen_point(canvas, point: QgsPointXY) -> QPoint:
    pixel = canvas.getCoordinateTransform().transform(point)
    return QPoint(round(pixel.x()), round(pixel.y()))


def drag(canvas, tool, start: QgsPointXY, end: QgsPointXY) -> None:
    """A left drag through the tool's event methods (QTest cannot hold a button through a move)."""
    for kind, point, buttons in ((QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton),
                                 (QEvent.Type.MouseMove, end, Qt.MouseButton.LeftButton),
                                 (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)):
        event = QgsMapMouseEvent(canvas, kind, screen_point(canvas, point), Qt.MouseButton.LeftButton, buttons,
                                 Qt.KeyboardModifier.NoModifier)
        {QEvent.Type.MouseButtonPress: tool.canvasPressEvent, QEvent.Type.MouseMove: tool.canvasMoveEvent,
         QEvent.Type.MouseButtonRelease: tool.canvasReleaseEvent}[kind](event)


def _slot_error(kind, value, tb) -> None:
    """Exceptions in Qt slots (the map tool's events) are recorded: QGIS's own hook shows them in a dialog."""
    import sys

    sys.setrecursionlimit(10000)
    REPORT.setdefault("slot_errors", []).append("".join(traceback.format_exception(kind, value, tb))[-4000:])
    save()


def start_later(main: Callable[[], None]) -> None:
    """Run ``main`` once QGIS is up, record what it raised, and end QGIS."""
    def start() -> None:
        import sys

        sys.excepthook = _slot_error
        try:
            main()
        except Exception:  # noqa: BLE001 - recorded for the pytest module, which fails with it
            REPORT["error"] = traceback.format_exc()
            save()
        QgsApplication.exit(0)
        os._exit(0)  # QGIS 3.22's own teardown of a project with layers can abort (its style dock): not ours to test

    OUT.mkdir(parents=True, exist_ok=True)
    QTimer.singleShot(1000, start)


def shot(widget, name: str) -> str:
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    return str(path)


def dialog_log(dialog) -> str:
    """The text of the dialog's Log tab (the QTextEdit named txtLog in QGIS's dialog form)."""
    browser = dialog.findChild(QTextEdit, "txtLog")
    return browser.toPlainText() if browser is not None else ""


def run_batch(alg_id: str, rows: list[dict], outputs: list[str], shots: str = "batch_segment") -> dict:
    """The algorithm's batch dialog (Toolbox > Execute as Batch Process): ``rows`` typed into the table as
    values (layers as file paths, the model as its file), outputs as files, layers loaded on completion; run.
    Records what each row read back and the layers it added."""
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from processing.tools import dataobjects

    before = {row["source"] for row in layer_tree()}
    dialog = BatchAlgorithmDialog(QgsApplication.processingRegistry().algorithmById(alg_id).create(),
                                  parent=iface_main_window())
    dialog.show()
    panel = dialog.mainWidget()
    panel.addRow(len(rows) - 1)  # the table starts with one row
    context = dataobjects.createContext()
    for index, (values, output) in enumerate(zip(rows, outputs)):
        for name, value in values.items():
            panel.wrappers[index][panel.parameter_to_column[name]].setParameterValue(value, context)
        panel.tblParameters.cellWidget(index + 1, panel.parameter_to_column["OUTPUT"]).setValue(output)
    panel.checkLoadLayersOnCompletion.setChecked(True)
    # QGIS 3.40's BatchPanel takes the context as its second argument; 3.22's has none
    with_context = (context,) if "context" in inspect.signature(panel.parametersForRow).parameters else ()
    read_back = [{k: str(v) for k, v in panel.parametersForRow(i, *with_context)[0].items()}
                 for i in range(panel.batchRowCount())]
    shot(dialog, f"{shots}_filled")
    dialog.runAlgorithm()  # runs the rows one after another, as the Run button does
    for _ in range(600):  # QGIS 3.22 runs them before it returns, 3.40 in tasks: wait for the closing line
        if "Batch execution completed" in dialog_log(dialog):
            break
        wait(200)
    shot(dialog, f"{shots}_done")
    log = dialog_log(dialog)
    dialog.close()
    return {"read_back": read_back, "log": log, "outputs": [Path(o).is_file() for o in outputs],
            "new_layers": [row for row in layer_tree() if row["source"] not in before]}


def iface_main_window():
    from qgis.utils import iface

    return iface.mainWindow()


def layer_tree() -> list[dict]:
    """Project layers top to bottom with their name, file and renderer type."""
    rows = []
    for node in QgsProject.instance().layerTreeRoot().findLayers():
        layer = node.layer()
        renderer = layer.renderer() if layer is not None else None
        rows.append({"name": layer.name(), "source": layer.source(), "expanded": node.isExpanded(),
                     "renderer": renderer.type() if renderer is not None else None})
    return rows


def label_texts(dialog) -> dict[str, str]:
    """Each parameter's label as the dialog shows it (QGIS's own wrappers and Python ones), by parameter name."""
    texts = {}
    for name, wrapper in dialog.mainWidget().wrappers.items():
        label = wrapper.wrappedLabel() if hasattr(wrapper, "wrappedLabel") else getattr(wrapper, "label", None)
        if label is not None:
            texts[name] = label.text()
    return texts
