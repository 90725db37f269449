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
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

#: Post-processors waiting to run, by id(): QGIS does not own Python-created post-processors.
_PENDING: dict[int, QgsProcessingLayerPostProcessorInterface] = {}


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


def categorized_renderer(class_names: list[str], class_colors: list[str],
                         field: str = "class_id") -> QgsCategorizedSymbolRenderer:
    """Polygons coloured by ``field`` (the class number) with the model's colours, labelled with class names."""
    categories = []
    for value, (name, color) in enumerate(zip(class_names, class_colors)):
        symbol = QgsFillSymbol.createSimple({"color": color, "outline_color": "#232323", "outline_width": "0.1"})
        categories.append(QgsRendererCategory(value, symbol, str(name)))
    return QgsCategorizedSymbolRenderer(field, categories)


def style_polygons(path: str, class_names: list[str], class_colors: list[str]) -> str | None:
    """Write ``<path>.qml`` (categorised by class with the model's colours) beside a polygon GeoPackage.

    Returns the QML path, or None when the file cannot be opened as a vector layer.
    """
    layer = QgsVectorLayer(str(path), Path(path).stem, "ogr")
    if not layer.isValid():
        return None
    layer.setRenderer(categorized_renderer(class_names, class_colors))
    qml = str(Path(path).with_suffix(".qml"))
    message, ok = layer.saveNamedStyle(qml)
    return qml if ok else None


class RunLayers:
    """What one Segment run's post-processors share: the class raster goes on top of the run's other layers.

    Processing loads output layers in the order of their file paths, each above the previous one, so without
    this the probability raster (``..._probabilities.tif``) could hide the class raster.
    """

    def __init__(self):
        self.class_layer_id: str | None = None

    def raise_class_layer(self, project: QgsProject | None) -> None:
        if self.class_layer_id is None:
            return
        project = project or QgsProject.instance()
        node = project.layerTreeRoot().findLayer(self.class_layer_id)
        parent = node.parent() if node is not None else None
        if parent is None or parent.children().index(node) == 0:
            return
        parent.insertChildNode(0, node.clone())
        parent.removeChildNode(node)


class OutputLayerPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Names a Segment output layer after its file, loads its ``.qml`` style, keeps the class raster on top."""

    def __init__(self, run: RunLayers, qml: str | None = None, layer_name: str | None = None):
        super().__init__()
        self.run = run
        self.qml = qml
        self.layer_name = layer_name

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> None:
        try:
            if self.layer_name:
                layer.setName(self.layer_name)
            if self.qml and Path(self.qml).is_file():
                layer.loadNamedStyle(str(self.qml))
                layer.triggerRepaint()
            self.run.raise_class_layer(context.project())
        finally:
            _PENDING.pop(id(self), None)


def output_layer_post_processor(run: RunLayers, qml: str | None = None,
                                layer_name: str | None = None) -> OutputLayerPostProcessor:
    """A post-processor for the probability raster or the polygons, kept alive until QGIS has called it."""
    processor = OutputLayerPostProcessor(run, qml, layer_name)
    _PENDING[id(processor)] = processor
    return processor


class ClassRasterPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies the class palette (and the engine's QML) to the class raster when Processing loads it."""

    def __init__(self, class_names: list[str], class_colors: list[str], qml: str | None = None,
                 layer_name: str | None = None, run: RunLayers | None = None):
        super().__init__()
        self.class_names = list(class_names)
        self.class_colors = list(class_colors)
        self.qml = qml
        self.layer_name = layer_name
        self.run = run if run is not None else RunLayers()
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
            self.run.class_layer_id = layer.id()
            self.run.raise_class_layer(context.project() if context is not None else None)
        finally:
            _PENDING.pop(id(self), None)


def class_raster_post_processor(class_names: list[str], class_colors: list[str], qml: str | None = None,
                                layer_name: str | None = None, run: RunLayers | None = None
                                ) -> ClassRasterPostProcessor:
    """A post-processor kept alive until QGIS has called it."""
    processor = ClassRasterPostProcessor(class_names, class_colors, qml, layer_name, run)
    _PENDING[id(processor)] = processor
    return processor
