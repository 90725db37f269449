"""The model and inference parameters that Segment and Segment-in-bulk share: definitions with their help,
and reading them back as SegmentConfig keyword arguments. One place, so the two dialogs cannot drift apart."""

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

from .common import add_parameter, parse_floats

MODEL_FILTER = "DualStream model (*.dsmodel)"
MODEL, WEIGHTS = "MODEL", "WEIGHTS"
#: The inference settings both algorithms offer, in dialog order (Segment in bulk adds its reader threads).
RUN_SETTINGS = ("segment.overlap", "segment.tta", "segment.device", "segment.batch_size", "segment.threshold",
                "segment.tile_size", "segment.backend")


def model_paths(value: Any) -> list[str]:
    """The bundle paths of a MODEL value: one path, several joined by ';', or a list (qgis_process repeats
    MODEL=..., processing.run may pass a list)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [part.strip() for item in items if item not in (None, "")
            for part in str(item).split(";") if part.strip()]


def add_model_parameters(alg: QgsProcessingAlgorithm, **watch: str) -> None:
    """MODEL (one or more .dsmodel files) and WEIGHTS (ensemble weights). ``watch`` names the parameters the
    dialog's model summary checks against the bundle (``image``, ``aux`` layers or ``aux_patterns``)."""
    tr = alg.tr
    model = add_parameter(alg, QgsProcessingParameterFile(
        MODEL, tr("Model bundle (.dsmodel; several separated by ; for an ensemble)"),
        behavior=QgsProcessingParameterFile.Behavior.File, fileFilter=MODEL_FILTER),
        tr("The .dsmodel file written by Train DualStream. For an ensemble give several, separated by ';' "
           "(their probabilities are averaged); in qgis_process repeat MODEL=... or join them with ';'. "
           "The dialog shows what the model expects (family and size, bands, aux inputs in order, classes, "
           "resolution, tile size, training date and score) as soon as it is chosen, and what of the chosen "
           "layers does not fit; the log shows it too."))
    model.setMetadata({"widget_wrapper": {"class": f"{__package__.rpartition('.')[0]}.model_summary."
                                                   "ModelSummaryWrapper", **watch}})
    add_parameter(alg, QgsProcessingParameterString(WEIGHTS, tr("Ensemble weights (comma-separated)"), optional=True),
                  tr("One weight per model bundle, e.g. 2,1. Empty: equal weights."))


def model_settings(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                   context: QgsProcessingContext) -> dict[str, Any]:
    """``models`` and ``model_weights`` for SegmentConfig, checked with the parameter named in every error."""
    models = model_paths(parameters.get(MODEL))
    if not models:
        raise QgsProcessingException("Parameter MODEL: choose at least one model bundle (.dsmodel) written by "
                                     "Train DualStream.")
    for path in models:
        if not Path(path).is_file():
            raise QgsProcessingException(f"Parameter MODEL: the model bundle '{path}' does not exist; choose a "
                                         f".dsmodel file written by Train DualStream.")
    weights = parse_floats(alg.parameterAsString(parameters, WEIGHTS, context), WEIGHTS) or None
    if weights is not None and len(weights) != len(models):
        raise QgsProcessingException(f"Parameter WEIGHTS: {len(weights)} weight(s) for {len(models)} model "
                                     f"bundle(s); give one weight per bundle or leave it empty.")
    return {"models": models, "model_weights": weights}


class ModelChecksMixin:
    """Refuses a MODEL that is not a .dsmodel before the run starts (and joins several with ';')."""

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext  # noqa: N802
                             ) -> tuple[bool, str]:
        models = model_paths(parameters.get(MODEL))
        wrong = [path for path in models if Path(path).suffix.lower() != ".dsmodel"]
        if wrong:
            return False, (f"Parameter MODEL: '{wrong[0]}' is not a model bundle; choose the .dsmodel file written "
                           f"by Train DualStream (several: separate them with ';').")
        return super().checkParameterValues(dict(parameters, **{MODEL: ";".join(models)}), context)  # type: ignore[misc]
