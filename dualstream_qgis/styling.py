"""Style class rasters in QGIS: a paletted renderer with the bundle's class names and colours.

The engine already writes the palette into the GeoTIFF (colour table + category names) and a ``.qml`` sidecar,
so the styling survives headless runs. Inside QGIS the algorithms additionally attach a
:class:`LayerPostProcessor` to each output, which Processing calls when it loads the layer on completion: it names
the layer, styles it and puts it in its place among the run's layers (:mod:`.layer_tree`).

Processing keeps only a C++ pointer to a post-processor, so the Python object must be kept alive by Python:
:func:`layer_post_processor` holds every instance in a module-level dict until it has run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsContrastEnhancement,
    QgsFillSymbol,
    QgsMapLayer,
    QgsMultiBandColorRenderer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProperty,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from .compat import RANGE_CUMULATIVE_CUT, SYMBOL_FILL_COLOR, SYMBOL_STROKE_COLOR
from .engine_bridge import engine_api
from .layer_tree import RunLayers

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
    """Polygons outlined by ``field`` (the class number) in the model's colours, unfilled so the class raster and
    the image stay visible under them, labelled with class names."""
    categories = []
    for value, (name, color) in enumerate(zip(class_names, class_colors)):
        symbol = QgsFillSymbol.createSimple({"style": "no", "outline_color": color, "outline_width": "0.6"})
        categories.append(QgsRendererCategory(value, symbol, str(name)))
    return QgsCategorizedSymbolRenderer(field, categories)


#: The name of the polygons' style stored in their GeoPackage (its ``layer_styles`` table).
POLYGON_STYLE = "DualStream classes"


def style_polygons(path: str, class_names: list[str],
                   class_colors: list[str]) -> Callable[[QgsMapLayer], None] | None:
    """Store the polygons' style (outlined by class in the model's colours) inside their GeoPackage, as its layer's
    default style: QGIS applies it whenever it opens the layer, here or later.

    No ``.qml`` beside the GeoPackage: ``clouds.gpkg``'s would be ``clouds.qml``, which is the class raster
    ``clouds.tif``'s own style (a class raster then opened with GDAL's 256-entry colour table). Returns what styles
    the layer Processing loads on completion (it may be open already, without the stored style); None, and nothing
    written, when the file cannot be opened as a vector layer.
    """
    layer = QgsVectorLayer(str(path), Path(path).stem, "ogr")
    if not layer.isValid():
        return None
    layer.setRenderer(categorized_renderer(class_names, class_colors))
    description = "Polygons outlined by class in the model's colours"
    save = getattr(layer, "saveStyleToDatabaseV2", None)  # QGIS >= 3.40; the older call is deprecated there
    if save is not None:
        save(POLYGON_STYLE, description, True, "")
    else:
        layer.saveStyleToDatabase(POLYGON_STYLE, description, True, "")

    def apply(loaded: QgsMapLayer) -> None:
        if isinstance(loaded, QgsVectorLayer):
            loaded.setRenderer(categorized_renderer(class_names, class_colors))

    return apply


class LayerPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Names, styles and places a layer when Processing loads it on completion.

    ``classes`` (names, colours): a class raster, given the class palette (after its ``qml`` when there is one);
    otherwise the ``qml`` style, if any. ``run`` and ``rank`` say where it goes among the run's layers
    (:class:`~dualstream_qgis.layer_tree.RunLayers`); ``current``: it becomes the selected layer.
    """

    def __init__(self, layer_name: str | None = None, *, qml: str | None = None,
                 classes: tuple[list[str], list[str]] | None = None, run: RunLayers | None = None, rank: int = 0,
                 current: bool = False, expanded: bool = False, visible: bool = True,
                 style: Callable[[QgsMapLayer], None] | None = None):
        super().__init__()
        self.layer_name = layer_name
        self.qml = qml
        self.classes = classes
        self.run = run if run is not None else RunLayers()
        self.rank, self.current, self.expanded, self.visible = rank, current, expanded, visible
        self.style = style
        self.applied = False

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> None:
        try:
            if self.layer_name:
                layer.setName(self.layer_name)
            if self.classes is not None and isinstance(layer, QgsRasterLayer):
                self.applied = style_class_raster(layer, *self.classes, self.qml)
                if feedback is not None and not self.applied:
                    feedback.pushWarning(f"Could not apply the class palette to '{layer.name()}'; load the style "
                                         f"'{self.qml}' from the layer properties.")
            elif self.qml and Path(self.qml).is_file():
                layer.loadNamedStyle(str(self.qml))
            if self.style is not None:
                self.style(layer)
            layer.triggerRepaint()
            project = context.project() if context is not None else None
            self.run.add(layer, self.rank, project, current=self.current, expanded=self.expanded,
                         visible=self.visible)
        finally:
            _PENDING.pop(id(self), None)


def layer_post_processor(layer_name: str | None = None, **kwargs: Any) -> LayerPostProcessor:
    """A :class:`LayerPostProcessor`, kept alive until QGIS has called it."""
    processor = LayerPostProcessor(layer_name, **kwargs)
    _PENDING[id(processor)] = processor
    return processor


def class_raster_post_processor(class_names: list[str], class_colors: list[str], qml: str | None = None,
                                layer_name: str | None = None, run: RunLayers | None = None,
                                rank: int = 0) -> LayerPostProcessor:
    """A class raster's post-processor: the palette, the name, on top of its run, selected, legend expanded."""
    return layer_post_processor(layer_name, qml=qml, classes=(list(class_names), list(class_colors)), run=run,
                                rank=rank, current=True, expanded=True)


def style_image_rgb(layer: QgsMapLayer, bands: tuple[int, int, int] = (3, 2, 1)) -> None:
    """Show a multi-band image as true colour (bands R, G, B counted from 1), stretched on its 2-98 % values."""
    if not isinstance(layer, QgsRasterLayer) or layer.bandCount() < max(bands):
        return
    layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), *bands))
    layer.setContrastEnhancement(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum,
                                 RANGE_CUMULATIVE_CUT)


def style_labels(layer: QgsMapLayer, class_names: list[str], class_colors: list[str]) -> None:
    """A label raster of class numbers: paletted, class 0 transparent so the image shows through."""
    if not isinstance(layer, QgsRasterLayer):
        return
    colors = [QColor(color) for color in class_colors]
    if colors:
        colors[0].setAlpha(0)
    classes = [QgsPalettedRasterRenderer.Class(value, color, str(name))
               for value, (name, color) in enumerate(zip(class_names, colors))]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


def outline_polygons(layer: QgsMapLayer, color: str) -> None:
    """Polygons drawn as outlines only (the imagery stays visible inside them)."""
    if isinstance(layer, QgsVectorLayer):
        layer.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(
            {"style": "no", "outline_color": color, "outline_width": "0.6"})))


#: The fill's opacity (0-255) of labels drawn by class: light enough to see the image under every label.
LABEL_FILL_ALPHA = 50


def style_labels_by_class(layer: QgsMapLayer, field: str) -> None:
    """Label polygons whose ``field`` holds class numbers drawn in the engine's default class colours (those a
    model trained on them gets): the class's colour as the outline and a light, see-through fill of it, so the
    image stays visible under every label. A colour by value, for any class accepted later (no legend to keep up)."""
    if not isinstance(layer, QgsVectorLayer):
        return
    palette = [QColor(c) for c in dict.fromkeys(engine_api().fill_class_colors([], 64))]  # the palette, once each
    colours = ", ".join(f"'{c.red()},{c.green()},{c.blue()},255'" for c in palette)
    pick = f'array_get(array({colours}), coalesce(to_int("{field}"), 0) % {len(palette)})'
    symbol = QgsFillSymbol.createSimple({"style": "solid", "color": "128,128,128,50", "outline_color": "128,128,128",
                                         "outline_width": "0.6"})
    fill = symbol.symbolLayer(0)
    fill.setDataDefinedProperty(SYMBOL_STROKE_COLOR, QgsProperty.fromExpression(pick))
    fill.setDataDefinedProperty(SYMBOL_FILL_COLOR,
                                QgsProperty.fromExpression(f"set_color_part({pick}, 'alpha', {LABEL_FILL_ALPHA})"))
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))


#: The outline of each round's windows to label (the first as the engine's style gives it): two rounds' windows
#: on the map apart at a glance.
ROUND_COLOURS = ("#ff6e00", "#00b0ff", "#ffd600", "#d500f9", "#00e676", "#ff1744")


def colour_windows(layer: QgsMapLayer, colour: str) -> None:
    """The windows' outline, see-through fill and rank labels' halo in ``colour`` (the rest of their style as
    stored in their GeoPackage)."""
    renderer = layer.renderer() if isinstance(layer, QgsVectorLayer) else None
    if renderer is None or not hasattr(renderer, "symbol") or renderer.symbol() is None:
        return
    stroke = QColor(colour)
    fill = QColor(stroke)
    fill.setAlpha(40)
    for index in range(renderer.symbol().symbolLayerCount()):
        symbol_layer = renderer.symbol().symbolLayer(index)
        symbol_layer.setStrokeColor(stroke)
        symbol_layer.setFillColor(fill)
    labeling = layer.labeling()
    if labeling is not None and hasattr(labeling, "settings"):
        settings = labeling.settings()
        text = settings.format()
        halo = text.buffer()
        halo.setColor(stroke.darker(125))
        text.setBuffer(halo)
        settings.setFormat(text)
        labeling.setSettings(settings)
