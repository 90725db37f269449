"""Style class rasters in QGIS: a paletted renderer with the bundle's class names and colours.

The engine already writes the palette into the GeoTIFF (colour table + category names) and a ``.qml`` sidecar,
so the styling survives headless runs. Inside QGIS the Segment algorithm additionally attaches a
:class:`ClassRasterPostProcessor` to its output, which Processing calls when it loads the layer on completion.

Processing keeps only a C++ pointer to a post-processor, so the Python object must be kept alive by Python:
:func:`class_raster_post_processor` holds every instance in a module-level dict until it has run.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
)
from qgis.PyQt.QtGui import QColor

#: Post-processors waiting to run, by id(): QGIS does not own Python-created post-processors.
_PENDING: dict[int, ClassRasterPostProcessor] = {}


def paletted_renderer(layer: QgsRasterLayer, class_names: list[str], class_colors: list[str],
                      band: int = 1) -> QgsPalettedRasterRenderer:
    """A paletted renderer with one entry per class (value = class index, label = class name)."""
    classes = [QgsPalettedRasterRenderer.Class(value, QColor(color), str(name))
               for value, (name, color) in enumerate(zip(class_names, class_colors))]
    return QgsPalettedRasterRenderer(layer.dataProvider(), band, classes)


def style_class_raster(layer: QgsRasterLayer, class_names: list[str], class_colors: list[str],
                       qml: str | None = None) -> bool:
    """Style ``layer`` with the class palette; load the engine's ``.qml`` first when it exists.

    Returns True when the layer ends up with a paletted renderer naming every class.
    """
    if qml and Path(qml).is_file():
        layer.loadNamedStyle(str(qml))
    if not has_class_palette(layer, class_names):
        layer.setRenderer(paletted_renderer(layer, class_names, class_colors))
    layer.triggerRepaint()
    return has_class_palette(layer, class_names)


def has_class_palette(layer: QgsMapLayer, class_names: list[str]) -> bool:
    """Whether ``layer`` has a paletted renderer whose labels are ``class_names`` for values 0..N-1."""
    renderer = layer.renderer() if isinstance(layer, QgsRasterLayer) else None
    if not isinstance(renderer, QgsPalettedRasterRenderer):
        return False
    labels = {int(c.value): c.label for c in renderer.classes()}
    return all(labels.get(i) == str(name) for i, name in enumerate(class_names))


class ClassRasterPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies the class palette (and the engine's QML) to the class raster when Processing loads it."""

    def __init__(self, class_names: list[str], class_colors: list[str], qml: str | None = None,
                 layer_name: str | None = None):
        super().__init__()
        self.class_names = list(class_names)
        self.class_colors = list(class_colors)
        self.qml = qml
        self.layer_name = layer_name
        self.applied = False

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> None:
        try:
            if not isinstance(layer, QgsRasterLayer):
                return
            if self.layer_name:
                layer.setName(self.layer_name)
            self.applied = style_class_raster(layer, self.class_names, self.class_colors, self.qml)
            if feedback is not None and not self.applied:
                feedback.pushWarning(f"Could not apply the class palette to '{layer.name()}'; load the style "
                                     f"'{self.qml}' from the layer properties.")
        finally:
            _PENDING.pop(id(self), None)


def class_raster_post_processor(class_names: list[str], class_colors: list[str], qml: str | None = None,
                                layer_name: str | None = None) -> ClassRasterPostProcessor:
    """A post-processor kept alive until QGIS has called it."""
    processor = ClassRasterPostProcessor(class_names, class_colors, qml, layer_name)
    _PENDING[id(processor)] = processor
    return processor
