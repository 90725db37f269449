"""The panel's one door to the engine's prompted segmentation (``engine.api``), in QGIS's terms.

A :class:`Window` is the part of a raster layer one embedding covers: the layer's GDAL source (a file, a remote
source, a web layer's service description read at a pixel size, or for a layer shown for a STAC item the item
itself with its bands), an extent in the layer's CRS and a model. The
engine keeps the embedding, so each further prompt of the same window answers without computing it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qgis.core import QgsGeometry, QgsProcessingException, QgsRectangle

from ..engine_bridge import engine_api
from .drawing import Sight, for_canvas

#: The first line the panel shows.
HOW_TO = ("Click an object in the raster layer (Shift+click or right click: not this), or drag a box around it; "
          "text-prompted models also take a word. Accept adds the mask to the polygon layer with the class value; "
          "Undo takes the last accept back.")


def model_choices() -> list[tuple[str, str]]:
    """(name, description) of the Segment Anything models the engine offers by name, its default first."""
    api = engine_api()
    models = sorted(api.prompt_models(), key=lambda m: m.name != api.DEFAULT_PROMPT_MODEL)
    return [(m.name, f"{m.note} ({m.hub_id})") for m in models]


def model_help() -> str:
    return ("A model by name, a Hugging Face id (owner/name) or a local save_pretrained folder; it is downloaded "
            "once into the Hugging Face cache, and read from there offline.")


@dataclass
class Request:
    """Prompts in the layer's CRS: points ``((x, y), positive)``, one box, a text."""

    points: list = field(default_factory=list)
    box: QgsRectangle | None = None
    text: str = ""


#: What the status says once Clear prompts (or a new layer, model or window) has taken the mask away.
CLEARED = "No prompts: click an object in the raster layer, or drag a box around it."


@dataclass
class Answer:
    """The mask's polygons in the layer's CRS (what Accept writes), the model's score and seconds, and the
    polygons as the canvas draws them (:func:`.drawing.for_canvas`)."""

    geometries: list[QgsGeometry]
    score: float
    seconds: float = 0.0
    drawn: list[QgsGeometry] = field(default_factory=list)

    def summary(self, seconds: float) -> str:
        """What the status says, ``seconds`` being the whole wait: the model, tracing the polygons, drawing them."""
        if not self.geometries:
            return "The model found no object there: click elsewhere, add a box, or try another model."
        return (f"{len(self.geometries)} polygon(s), score {self.score:.2f}, answered in {seconds:.2f} s (the model "
                f"{self.seconds:.2f} s of it). Accept, or click again to correct.")


class ProgressLine(str):
    """A line the engine said on its progress channel (``Callback.progress_line``: a download's share): kept for
    the log panel and the live status, left out of the notes that follow an answer."""


def engine_messages(messages: list[str]) -> "object":
    """An engine callback that keeps what the engine says for the panel. Nothing may reach stderr from the task's
    thread: QGIS's stderr hook fails there (a RecursionError in the desktop)."""
    api = engine_api()

    class Said(api.Callback):
        def info(self, message: str) -> None:
            messages.append(message)

        def warning(self, message: str) -> None:
            messages.append(f"Warning: {message}")

        def progress_line(self, message: str) -> None:
            messages.append(ProgressLine(message))

    return Said()


class Window:
    """One window of ``layer`` (its part the canvas showed at the first prompt) embedded once by ``model``."""

    def __init__(self, layer, model: str, extent: QgsRectangle, pixel_size: float | None = None,
                 stac: tuple[str, list[str]] | None = None):
        self.layer = layer
        self.model = model
        self.extent = QgsRectangle(extent)
        self.pixel_size = pixel_size  # metres per pixel a web layer is read at: what the canvas shows (no finer
        # than the service's finest level)
        self.stac = stac  # (STAC item, asset keys) of a layer shown for an item: its windows are read from the item
        self._session = None
        self.said: list[str] = []  # what the engine said while embedding (model download, licence, window)

    def matches(self, layer, model: str) -> bool:
        return layer is self.layer and model == self.model

    def embedded(self) -> bool:
        return self._session is not None

    def answer(self, request: Request, sight: Sight | None = None) -> Answer:
        """The mask for ``request`` (the window embedded first when it is not yet), and as ``sight``'s canvas draws
        it: runs in the panel's task, never in the GUI thread (tracing a large mask takes seconds)."""
        api = engine_api()
        crs = self.layer.crs().authid() or self.layer.crs().toWkt()
        if self._session is None:
            self._embed(api, crs)
        box = request.box
        answers = api.predict_prompts(
            self._session,
            points=[(point.x(), point.y()) for point, _positive in request.points],
            labels=[1 if positive else 0 for _point, positive in request.points],
            box=(box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()) if box is not None else None,
            text=request.text, crs=crs)
        geometries = [QgsGeometry.fromWkt(polygon.wkt) for answer in answers for polygon in answer.polygons]
        geometries = [g for g in geometries if not g.isEmpty()]
        if not geometries:
            return Answer([], 0.0)
        return Answer(geometries, max(answer.score for answer in answers), sum(a.seconds for a in answers),
                      for_canvas(geometries, sight) if sight is not None else [])

    def _embed(self, api, crs: str) -> None:
        import warnings

        from ..algorithms.sources import raster_file

        source, bands = self.stac or (raster_file(self.layer, "Raster layer"), None)
        extent = self.extent
        name = ""
        if not isinstance(source, str):  # a web layer: the engine reads its service at the canvas's pixel size
            if not self.pixel_size:
                raise QgsProcessingException(f"The web layer '{source.name}' needs a pixel size: zoom the canvas "
                                             f"to it.")
            source, name = source.description, f"{source.kind} layer '{source.name}'"
        with warnings.catch_warnings(record=True) as caught:  # library warnings would print to stderr
            warnings.simplefilter("always")
            self._session = api.prompted_session(
                source,
                (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()),
                self.model, extent_crs=crs, bands=bands, callback=engine_messages(self.said),
                pixel_size=self.pixel_size if name else None, name=name)
        self.said += self._session.said + [f"Warning: {w.message}" for w in caught]  # what was read, how


def notes(said: list[str], most: int = 4) -> str:
    """What the engine said while embedding, for the panel's status: its last lines without the download's progress
    (the log panel has every line)."""
    kept = [line for line in said if not isinstance(line, ProgressLine)]
    return "\n".join(kept[-most:])


def explain(exception: BaseException) -> str:
    """What the panel shows for a failed embedding or prompt: the engine's own message, which says what to do."""
    if isinstance(exception, QgsProcessingException):
        return str(exception)
    return f"{type(exception).__name__}: {exception}" if not str(exception) else str(exception)
