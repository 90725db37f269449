"""Dialog widgets for parameters whose QGIS 3.22 widgets lose or hide values. Imported by Processing's GUI only
(parameters name these classes by string in their ``widget_wrapper`` metadata), never by ``qgis_process``.

* :class:`LayerListWrapper`: QGIS 3.22's multiple-layer widget ignores values set on the dialog
  (``MultipleLayerWidgetWrapper.setValue`` is a ``pass  # TODO`` for the standard dialog), so aux layers passed
  by ``createAlgorithmDialog``/``setParameters`` or a History re-run came back as "0 inputs selected"; and it
  showed only a count, while the order of the aux layers matters: it now shows "1. name; 2. name".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from processing.gui.wrappers import DIALOG_STANDARD, MultipleLayerWidgetWrapper
from qgis.core import QgsMapLayer, QgsProcessingUtils, QgsProject


def _matches(layer: QgsMapLayer, value: Any) -> bool:
    if isinstance(value, QgsMapLayer):
        return value.id() == layer.id()
    text = str(value)
    return text in (layer.id(), layer.source(), layer.source().split("|")[0])


class LayerListWrapper(MultipleLayerWidgetWrapper):
    """The standard multiple-raster widget, plus values set from outside (layer ids, sources or file paths) and
    the chosen layers shown in their order."""

    def createWidget(self):  # noqa: N802 - Processing API
        widget = super().createWidget()
        if self.dialogType == DIALOG_STANDARD and hasattr(widget, "selectionChanged"):
            widget.selectionChanged.connect(self.show_order)
        return widget

    def show_order(self) -> None:
        """Write the chosen layers, numbered in stacking order, into the panel's text."""
        names = [item.name() if isinstance(item, QgsMapLayer) else Path(str(item)).name
                 for item in (self.value() or [])]
        if names and hasattr(self.widget, "leText"):
            self.widget.leText.setText("; ".join(f"{index}. {name}" for index, name in enumerate(names, 1)))

    def setValue(self, value: Any) -> None:  # noqa: N802 - Processing API
        if self.dialogType != DIALOG_STANDARD or value is None:
            super().setValue(value)
            return
        values = value if isinstance(value, (list, tuple)) else [value]
        layers = QgsProcessingUtils.compatibleRasterLayers(QgsProject.instance(), False)
        selected: list[Any] = []
        for item in values:
            index = next((i for i, layer in enumerate(layers) if _matches(layer, item)), None)
            # A file that is not in the project stays selected as its path (the panel shows paths as they are).
            selected.append(index if index is not None else str(item))
        self.widget.setSelectedItems(selected)
        self.show_order()
