"""Dialog widgets for parameters whose QGIS 3.22 widgets lose or hide values. Imported by Processing's GUI only
(parameters name these classes by string in their ``widget_wrapper`` metadata), never by ``qgis_process``.

* :class:`LayerListWrapper`: QGIS 3.22's multiple-layer widget ignores values set on the dialog
  (``MultipleLayerWidgetWrapper.setValue`` is a ``pass  # TODO`` for the standard dialog), so aux layers passed
  by ``createAlgorithmDialog``/``setParameters`` or a History re-run came back as "0 inputs selected".
"""

from __future__ import annotations

from typing import Any

from processing.gui.wrappers import DIALOG_STANDARD, MultipleLayerWidgetWrapper
from qgis.core import QgsMapLayer, QgsProcessingUtils, QgsProject


def _matches(layer: QgsMapLayer, value: Any) -> bool:
    if isinstance(value, QgsMapLayer):
        return value.id() == layer.id()
    text = str(value)
    return text in (layer.id(), layer.source(), layer.source().split("|")[0])


class LayerListWrapper(MultipleLayerWidgetWrapper):
    """The standard multiple-raster widget, plus values set from outside (layer ids, sources or file paths)."""

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
