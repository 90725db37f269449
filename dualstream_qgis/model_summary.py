"""The model bundle picker of Segment and Segment in bulk, with what the bundle expects shown under it as soon as it
is chosen, and what does not fit the chosen layers, before Run.

Imported by Processing's GUI only (the MODEL parameter names :class:`ModelSummaryWrapper` in its ``widget_wrapper``
metadata), never by ``qgis_process``. The bundle's metadata is read from its header (no weights, no torch): a
second at most. The words are the Segment log's (:func:`engine.bundle.describe.describe_bundle`); the checks are
the engine's (``engine.bundle.expects``), the same rules the run applies to the files.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from processing.gui.wrappers import DIALOG_STANDARD, WidgetWrapper
from qgis.core import QgsMapLayer, QgsProcessingException, QgsProject, QgsRasterLayer
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QLabel, QVBoxLayout, QWidget

from .algorithms.inference import MODEL_FILTER, model_paths
from .algorithms.web_layers import is_web_layer, web_layer
from .band_menu import stac_item_bands
from .engine_bridge import engine_api
from .feedback import render_message
from .widgets import ModelerSourceSelector

_COLOR = re.compile(r"\((#[0-9a-fA-F]{6})\)")
PROMPT = "Choose a model bundle (.dsmodel) to see what it expects."


def band_count(value: Any) -> int | None:
    """Bands of the raster a layer widget's value names (a layer, a layer id or a file) as the model will see
    them (a web layer: its colour bands), None if unknown."""
    names = band_descriptions(value)
    return None if names is None else len(names)


def band_descriptions(value: Any) -> list[str | None] | None:
    """The band descriptions (None where a band has none) of the raster a layer widget's value names, read from
    the file's header; None when it is not known."""
    if isinstance(value, QgsMapLayer):
        layer = value
    elif value:
        layer = QgsProject.instance().mapLayer(str(value))
    else:
        return None
    if is_web_layer(layer):  # an RGB basemap is one ARGB "band" to QGIS; the model sees its colour bands
        try:
            return [None] * web_layer(layer, "INPUT").bands
        except QgsProcessingException:
            return None
    source = layer.source() if isinstance(layer, QgsRasterLayer) and layer.isValid() else str(value)
    if Path(source.split("|")[0]).is_file():
        api = engine_api()
        try:  # the engine's count: an alpha band is the image's mask, not a band the model takes
            return api.image_band_names(source.split("|")[0])
        except api.DualStreamError:
            pass
    if isinstance(layer, QgsRasterLayer) and layer.isValid():
        return [None] * layer.bandCount()
    return None


def stac_bands(value: Any) -> list[str] | None:
    """The band names (common names where given) of the STAC item a STAC item widget's value names, as a model's
    band names are matched against them; None when unknown (see :func:`band_menu.stac_item_bands`)."""
    bands = stac_item_bands(value)
    return None if bands is None else [band.label for band in bands]


def _items(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    return [part for item in items for part in (item.split(";") if isinstance(item, str) else [item]) if part]


def summary_html(path: str, meta: dict[str, Any], problems: list[str], refusal: str | None = None) -> str:
    """The describer's lines as HTML: class colours as swatches, then what does not fit, in orange (``refusal``:
    why this algorithm will refuse the model whatever the layers, first)."""
    lines = []
    for index, line in enumerate(engine_api().describe_bundle(path, meta)):
        text = _COLOR.sub(lambda m: f"<span style='color:{m.group(1)}'>&#9632;</span>", html.escape(line.strip()))
        lines.append(f"<b>{text}</b>" if index == 0 else f"&nbsp;&nbsp;{text}")
    if refusal:
        lines.append(f"<span style='color:#c00000'><b>&#9888; Not for this algorithm:</b> {html.escape(refusal)}."
                     "</span>")
    if problems:
        lines.append("<span style='color:#c05000'><b>&#9888; Does not fit the chosen layers:</b> "
                     + "; ".join(html.escape(p) for p in problems) + ".</span>")
    return "<br>".join(lines)


class ModelSummaryWrapper(ModelerSourceSelector, WidgetWrapper):
    """A file picker for ``.dsmodel`` bundles (several joined by ';' for an ensemble), and the summary below it."""

    def createWidget(self, image: str = "INPUT", aux: str = "AUX", aux_patterns: str = "", bands: str = "",  # noqa: N802
                     stac: str = "", dates: int = 0, **kwargs: Any):
        self.watched = {"image": image, "aux": aux, "aux_patterns": aux_patterns, "bands": bands, "stac": stac}
        self.dates = dates  # the dates of a place the form gives (0: not checked, e.g. bulk's pairs by pattern)
        self.inputs: dict[str, Any] = {}
        self.files = QgsFileWidget()
        self.files.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.files.setFilter(MODEL_FILTER)
        self.files.fileChanged.connect(self.changed)
        self.summary = None
        if self.dialogType != DIALOG_STANDARD:
            return self.files
        widget = QWidget()
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.files)
        self.summary = QLabel(PROMPT)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        return widget

    def postInitialize(self, wrappers: list[Any]) -> None:  # noqa: N802 - Processing API
        names = {name: role for role, name in self.watched.items() if name}
        for wrapper in wrappers:
            role = names.get(wrapper.parameterDefinition().name())
            if role:
                self.inputs[role] = wrapper
                wrapper.widgetValueHasChanged.connect(self.refresh)
        self.refresh()

    def changed(self, *_args: Any) -> None:
        self.widgetValueHasChanged.emit(self)
        self.refresh()

    def problems(self, meta: Any) -> list[str]:
        """What of the chosen layers does not fit the bundle (engine rules; band counts only); ``meta``: the
        engine's BundleMetadata."""
        api = engine_api()
        data = meta.data
        images = _items(self.inputs["image"].parameterValue()) if "image" in self.inputs else []
        described = [band_descriptions(item) for item in images]
        if not images and "stac" in self.inputs:  # a STAC item's bands, by their names
            described = [stac_bands(self.inputs["stac"].parameterValue())]
        problems, chosen = [], []
        if "bands" in self.inputs:
            try:  # the engine's rule, as the run applies it: "2,,3" is said here, not read as 2,3
                chosen = api.parse_band_list(self.inputs["bands"].parameterValue() or None, "segment.bands") or []
            except api.ConfigError as exc:
                problems.append(exc.raw.rstrip("."))
        aux_bands: list[int] | None = None
        if "aux" in self.inputs:
            aux_counts = [band_count(item) for item in _items(self.inputs["aux"].parameterValue())]
            aux_bands = None if None in aux_counts else [int(c) for c in aux_counts]
        for names in described:
            if names is not None:
                problems += api.input_mismatches(data, len(names), None, names, chosen or None)
        if aux_bands is not None:
            problems += api.input_mismatches(data, None, aux_bands)
        if "aux_patterns" in self.inputs:
            patterns = [p for p in str(self.inputs["aux_patterns"].parameterValue() or "").split(";") if p.strip()]
            wanted = api.aux_files_expected(data)
            if len(patterns) != wanted:
                problems.append(f"{len(patterns)} aux file pattern(s) given; the model was trained with {wanted} aux "
                                "file(s), in a fixed order")
        # the settings a problem names, written as this dialog's parameters (the Bands parameter)
        return list(dict.fromkeys(render_message(problem) for problem in problems))

    def refresh(self, *_args: Any) -> None:
        """Describe every bundle chosen (an ensemble: each), and check the first one against the layers."""
        if self.summary is None:
            return
        paths = model_paths(self.value())
        if not paths:
            self.summary.setText(PROMPT)
            return
        parts = []
        api = engine_api()
        for index, path in enumerate(paths):
            try:
                meta = engine_api().read_model_metadata(path)
            except (api.DualStreamError, ImportError) as exc:
                parts.append(f"<span style='color:#c00000'>{html.escape(str(exc))}</span>")
                continue
            refusal = api.dates_problem(meta.data.dates, self.dates, meta.model.name) if self.dates else None
            parts.append(summary_html(path, meta, self.problems(meta) if index == 0 else [],
                                      render_message(refusal) if refusal else None))
        self.summary.setText("<br>".join(parts))

    def summary_text(self) -> str:
        """The summary as plain text (for tests and logs)."""
        return self.summary.text() if self.summary is not None else ""

    def setValue(self, value: Any) -> None:  # noqa: N802 - Processing API
        self.files.setFilePath(";".join(model_paths(value)))
        self.refresh()

    def value(self) -> str:
        return self.files.filePath().strip()
