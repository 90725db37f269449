"""The model and inference parameters that Segment and Segment-in-bulk share (and, where they run a model over an
image too, Suggest and Propose): definitions with their help, and reading them back as the engine's config keyword
arguments. One place, so the dialogs cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)

from ..compat import FILE_BEHAVIOR_FILE
from ..engine_bridge import engine_api
from .common import add_parameter, parse_floats
from .parameters import add_settings, declared_text, read_settings

MODEL_FILTER = engine_api().MODEL_FILTER
MODEL, WEIGHTS = "MODEL", "WEIGHTS"
#: The inference settings both algorithms offer, in dialog order (Segment in bulk adds its reader threads).
RUN_SETTINGS = ("segment.overlap", "segment.tta", "segment.device", "segment.batch_size", "segment.threshold",
                "segment.zoom",
                "segment.tile_size", "segment.border", "segment.backend", "segment.strict_inputs",
                "segment.accept_one_class", "segment.low_confidence")


def unit_settings(section: str) -> tuple[str, ...]:
    """The units of the image's values, the one-class rule and strict inputs (declared once:
    engine/config/reading.py) as ``section``'s settings: every algorithm that runs a model on imagery offers them, as
    a QGIS user cannot run gdal_edit."""
    return tuple(f"{section}.{name}" for name in engine_api().UNIT_FIELDS)


#: The units of the image's values beside the bands the model reads, in Segment and Segment in bulk (which list the
#: one-class rule and strict inputs with their run settings).
UNIT_SETTINGS = tuple(key for key in unit_settings("segment") if key.endswith(("value_scale", "value_offset")))


class ReadingParameters:
    """How the image is read for the model (declared once: engine/config/reading.py) as ``section``'s parameters,
    in an algorithm that runs a model over scenes it does not pick bands of one by one (Suggest, Propose): the
    bands as text, the same for every scene, the rest generated from the declarations."""

    def __init__(self, section: str):
        self.section = section

    def add(self, alg: QgsProcessingAlgorithm, bands_note: str) -> None:
        """The parameters, ``bands_note`` after the bands' declared help (which scenes they are for)."""
        param, label, text = declared_text(alg, f"{self.section}.bands")
        add_parameter(alg, QgsProcessingParameterString(param, label, optional=True), text + bands_note)
        api = engine_api()
        add_settings(alg, *(f"{self.section}.{name}" for name in api.READING_FIELDS
                            if name != "bands" and api.find_setting(f"{self.section}.{name}").param))

    def read(self, alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
             context: QgsProcessingContext) -> dict[str, Any]:
        """The bands as the engine's config takes them (the generated ones: ``read_settings``)."""
        return {"bands": band_choice(alg, parameters, "BANDS", context)}


def band_choice(alg: Any, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> Any:
    """The BANDS parameter as typed (``2,3,4``, ``B02,B03``) or listed (a script's ``[3, 2, 1]``), None when empty:
    the engine's config parses it (engine/config/bands.py), so ``2,,3`` is refused here as on the command line."""
    value = parameters.get(name)
    if isinstance(value, (list, tuple)):
        return list(value) or None
    return alg.parameterAsString(parameters, name, context).strip() or None


class PolygonParameters:
    """The polygon settings Segment, Segment in bulk and Polygons offer (how each class's outlines are drawn, the
    engine's declared group): added and read here, for ``section`` (``segment`` or ``polygons``)."""

    NAMES = tuple(engine_api().POLYGON_DIALOG_OPTIONS)

    def __init__(self, section: str):
        self.section = section

    def add(self, alg: QgsProcessingAlgorithm) -> None:
        add_settings(alg, *(f"{self.section}.{name}" for name in self.NAMES))

    def read(self, alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
             context: QgsProcessingContext) -> dict[str, Any]:
        """The group's settings as the engine's config takes them (the others: ``read_settings(skip=NAMES)``)."""
        return read_settings(alg, parameters, context, self.section, only=self.NAMES)


def model_paths(value: Any) -> list[str]:
    """The bundle paths of a MODEL value: one path, several joined by ';', or a list (qgis_process repeats
    MODEL=..., processing.run may pass a list)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [part.strip() for item in items if item not in (None, "")
            for part in str(item).split(";") if part.strip()]


def add_model_parameters(alg: QgsProcessingAlgorithm, **watch: str | int) -> None:
    """MODEL (one or more .dsmodel files) and WEIGHTS (ensemble weights). ``watch`` names the parameters the
    dialog's model summary checks against the bundle (``image``, ``aux`` layers or ``aux_patterns``), and the
    dates of a place the form gives (``dates``: 1 an image, 2 a pair; unset: not checked)."""
    param, label, text = declared_text(alg, "segment.models")
    model = add_parameter(alg, ModelFileParameter(param, label, behavior=FILE_BEHAVIOR_FILE, fileFilter=MODEL_FILTER),
                          text + alg.tr(
        " Several are separated by ';'; in qgis_process repeat MODEL=... or join them with ';'. The dialog shows "
        "what the model expects (family and size, bands, aux inputs in order, classes, resolution, tile size, "
        "training date and score) as soon as it is chosen, and what of the chosen layers does not fit; the log "
        "shows it too."))
    model.setMetadata({"widget_wrapper": {"class": f"{__package__.rpartition('.')[0]}.model_summary."
                                                   "ModelSummaryWrapper", **watch}})
    param, label, text = declared_text(alg, "segment.model_weights")
    add_parameter(alg, QgsProcessingParameterString(param, label, optional=True), text)


def model_settings(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                   context: QgsProcessingContext) -> dict[str, Any]:
    """``models`` and ``model_weights`` for SegmentConfig (which checks one weight per bundle), each model checked
    with the parameter named in the error."""
    models = checked_models(parameters.get(MODEL), "choose at least one model bundle (.dsmodel) written by "
                                                   "Train DualStream.")
    weights = parse_floats(alg.parameterAsString(parameters, WEIGHTS, context), WEIGHTS) or None
    return {"models": models, "model_weights": weights}


def checked_models(value: Any, missing: str) -> list[str]:
    """The bundle paths of a MODEL value, each checked (QgsProcessingException naming MODEL: ``missing`` when there
    is none, else why a path is no bundle)."""
    models = model_paths(value)
    if not models:
        raise QgsProcessingException(f"Parameter MODEL: {missing}")
    for path in models:
        problem = model_problem(path)
        if problem:
            raise QgsProcessingException(problem)
    return models


def model_problem(path: str) -> str | None:
    """Why ``path`` cannot be a MODEL (a folder, a FIFO, missing, not a bundle by its content), or None.

    A bundle is recognised by its content, not its name: ``train --out model.bundle`` of an older version, or a
    bundle renamed by hand, works as it does on the command line."""
    kind = engine_api().path_kind(path)
    if kind is not None:
        bundle = engine_api().FORMAT_TABLE["bundle"].suffixes[0]
        found = sorted(p.name for p in Path(path).glob(f"*{bundle}")) if kind == "a folder" else []
        inside = f" It holds {', '.join(found[:5])}." if found else ""
        return (f"Parameter MODEL: '{path}' is {kind}, not a model bundle file; choose the .dsmodel file written "
                f"by Train DualStream.{inside}")
    if not Path(path).exists():
        return (f"Parameter MODEL: the model bundle '{path}' does not exist; choose a .dsmodel file written by "
                f"Train DualStream.")
    if Path(path).suffix.lower() not in engine_api().MODEL_SUFFIXES and not engine_api().looks_like_bundle(path):
        return (f"Parameter MODEL: '{path}' is not a model bundle (its content is not a DualStream bundle); choose "
                f"the .dsmodel file written by Train DualStream (several: separate them with ';').")
    return None


class ModelFileParameter(QgsProcessingParameterFile):
    """The MODEL file parameter: a bundle is accepted by its content whatever its name (QGIS's own check
    accepts only names ending as the file filter does)."""

    def checkValueIsAcceptable(self, value: Any, context: QgsProcessingContext | None = None  # noqa: N802
                               ) -> bool:
        paths = model_paths(value)
        if paths and all(model_problem(path) is None for path in paths):
            return True
        return super().checkValueIsAcceptable(value, context)


class ModelChecksMixin:
    """Refuses a MODEL that is not a bundle before the run starts (and joins several with ';')."""

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext  # noqa: N802
                             ) -> tuple[bool, str]:
        models = model_paths(parameters.get(MODEL))
        for path in models:
            problem = model_problem(path)
            if problem:
                return False, problem
        return super().checkParameterValues(dict(parameters, **{MODEL: ";".join(models)}), context)  # type: ignore[misc]
