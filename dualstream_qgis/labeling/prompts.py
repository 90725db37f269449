"""The panel's one door to the engine's prompted segmentation (``engine.api``), in QGIS's terms.

A :class:`Window` is the part of a raster layer one embedding covers: the layer's GDAL source (a file, a remote
source, or a web layer's service description read at a pixel size), an extent in the layer's CRS and a model. The
engine keeps the embedding, so each further prompt of the same window answers without computing it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qgis.core import QgsGeometry, QgsProcessingException, QgsRectangle

from ..engine_bridge import engine_api

#: The first line the panel shows.
HOW_TO = ("Click an object in the raster layer (Shift+click or right click: not this), or drag a box around it; "
          "text-prompted models also take a word. Accept adds the mask to the polygon layer with the class value; "
          "Undo takes the last accept back.")


def model_choices() -> list[tuple[str, str]]:
    """(name, description) of the prompted models the engine knows by name."""
    return [(name, text) for name, text in engine_api().prompt_models().items()]


def model_help() -> str:
    return engine_api().prompt_model_help()


@dataclass
class Request:
    """Prompts in the layer's CRS: points ``((x, y), positive)``, one box, a text."""

    points: list = field(default_factory=list)
    box: QgsRectangle | None = None
    text: str = ""


@dataclass
class Answer:
    geometries: list[QgsGeometry]
    score: float
    summary: str


class Window:
    """One embedded window of ``layer`` at its native pixel size (web layers: the pixel size the engine picks)."""

    def __init__(self, layer, model: str, extent: QgsRectangle):
        self.layer = layer
        self.model = model
        self.extent = QgsRectangle(extent)
        self._session = None

    def matches(self, layer, model: str) -> bool:
        return layer is self.layer and model == self.model

    def embedded(self) -> bool:
        return self._session is not None and self._session.embedded

    def answer(self, request: Request) -> Answer:
        """The mask for ``request`` (the window embedded first when it is not yet): runs in a task or the GUI."""
        if self._session is None:
            from ..algorithms.sources import raster_file

            source = raster_file(self.layer, "Raster layer")
            extent = self.extent
            self._session = engine_api().prompt_window(
                source if isinstance(source, str) else source.description,
                (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()),
                model=self.model)
        box = request.box
        result = self._session.predict(
            points=[((point.x(), point.y()), positive) for point, positive in request.points],
            box=(box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()) if box is not None else None,
            text=request.text or None)
        geometries = [QgsGeometry.fromWkt(wkt) for wkt in result.polygons_wkt]
        return Answer([g for g in geometries if not g.isEmpty()], float(result.score), result.summary)


def explain(exception: BaseException) -> str:
    """What the panel shows for a failed embedding or prompt: the engine's own message, which says what to do."""
    if isinstance(exception, QgsProcessingException):
        return str(exception)
    return f"{type(exception).__name__}: {exception}" if not str(exception) else str(exception)
