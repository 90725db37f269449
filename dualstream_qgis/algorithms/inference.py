"""The model and inference parameters that Segment and Segment-in-bulk share: definitions with their help,
and reading them back as SegmentConfig keyword arguments. One place, so the two dialogs cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .common import add_parameter, enum_value, parse_floats

TTA_MODES = ("none", "flips", "d4")
DEVICES = ("auto", "cpu", "cuda")
MODEL_FILTER = "DualStream model (*.dsmodel)"
MODEL, WEIGHTS = "MODEL", "WEIGHTS"
OVERLAP, TTA, DEVICE, BATCH_SIZE = "OVERLAP", "TTA", "DEVICE", "BATCH_SIZE"
THRESHOLD, TILE_SIZE, RESAMPLE_TO_TRAINING_GSD = "THRESHOLD", "TILE_SIZE", "RESAMPLE_TO_TRAINING_GSD"


def model_paths(value: Any) -> list[str]:
    """The bundle paths of a MODEL value: one path, several joined by ';', or a list (qgis_process repeats
    MODEL=..., processing.run may pass a list)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [part.strip() for item in items if item not in (None, "")
            for part in str(item).split(";") if part.strip()]


def add_model_parameters(alg: QgsProcessingAlgorithm) -> None:
    """MODEL (one or more .dsmodel files) and WEIGHTS (ensemble weights)."""
    tr = alg.tr
    add_parameter(alg, QgsProcessingParameterFile(
        MODEL, tr("Model bundle (.dsmodel; several separated by ; for an ensemble)"),
        behavior=QgsProcessingParameterFile.Behavior.File, fileFilter=MODEL_FILTER),
        tr("The .dsmodel file written by Train DualStream. For an ensemble give several, separated by ';' "
           "(their probabilities are averaged); in qgis_process repeat MODEL=... or join them with ';'. "
           "The log shows what the model expects (bands, aux inputs in order, classes, resolution)."))
    add_parameter(alg, QgsProcessingParameterString(WEIGHTS, tr("Ensemble weights (comma-separated)"), optional=True),
                  tr("One weight per model bundle, e.g. 2,1. Empty: equal weights."))


def add_run_parameters(alg: QgsProcessingAlgorithm) -> None:
    """Overlap, TTA, device, batch size; advanced: threshold and tile size."""
    tr = alg.tr
    add_parameter(alg, QgsProcessingParameterNumber(
        OVERLAP, tr("Tile overlap (share of the tile)"), QgsProcessingParameterNumber.Type.Double, 0.25,
        minValue=0.0, maxValue=0.89),
        tr("Overlap between neighbouring tiles; overlapping predictions are blended, which removes seams."))
    add_parameter(alg, QgsProcessingParameterEnum(TTA, tr("Test-time augmentation"), options=list(TTA_MODES),
                                                  defaultValue=0),
                  tr("none; flips (3 passes: as is, flipped left-right, flipped up-down); d4 (8 passes: all "
                     "rotations and flips). More passes: smoother results, proportionally slower."))
    add_parameter(alg, QgsProcessingParameterEnum(DEVICE, tr("Device"), options=list(DEVICES), defaultValue=0),
                  tr("auto: the GPU when CUDA is available, else the CPU."))
    add_parameter(alg, QgsProcessingParameterNumber(
        BATCH_SIZE, tr("Batch size"), QgsProcessingParameterNumber.Type.Integer, 4, minValue=1),
        tr("Tiles predicted at once; lower it when memory runs out."))
    add_parameter(alg, QgsProcessingParameterNumber(
        THRESHOLD, tr("Probability threshold (binary models)"), QgsProcessingParameterNumber.Type.Double,
        0.5, minValue=0.01, maxValue=0.99),
        tr("A pixel is foreground when its probability is at least this (binary models only)."), advanced=True)
    add_parameter(alg, QgsProcessingParameterNumber(
        TILE_SIZE, tr("Tile size (0 = the model's)"), QgsProcessingParameterNumber.Type.Integer, 0, minValue=0,
        maxValue=8192),
        tr("Edge of the predicted tiles in pixels, a multiple of 32. 0: the training tile size."), advanced=True)


def add_resample_parameter(alg: QgsProcessingAlgorithm) -> None:
    """RESAMPLE_TO_TRAINING_GSD (advanced)."""
    add_parameter(alg, QgsProcessingParameterBoolean(
        RESAMPLE_TO_TRAINING_GSD, alg.tr("Resample to the training resolution"), defaultValue=False),
        alg.tr("Predict on a virtual copy of the image at the model's training pixel size (averaged when "
               "shrinking, interpolated when enlarging), then bring the results back onto the image's grid. "
               "Use it when the image resolution differs much from the training one (the log warns with the "
               "factor)."), advanced=True)


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


def run_settings(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                 context: QgsProcessingContext) -> dict[str, Any]:
    """Overlap, TTA, device, batch size, threshold, tile size and resampling for SegmentConfig."""
    tile_size = alg.parameterAsInt(parameters, TILE_SIZE, context)
    return {
        "overlap": alg.parameterAsDouble(parameters, OVERLAP, context),
        "tta": enum_value(alg, parameters, TTA, context, TTA_MODES),
        "device": enum_value(alg, parameters, DEVICE, context, DEVICES),
        "batch_size": alg.parameterAsInt(parameters, BATCH_SIZE, context),
        "threshold": alg.parameterAsDouble(parameters, THRESHOLD, context),
        "tile_size": tile_size or None,
        "resample_to_training_gsd": alg.parameterAsBool(parameters, RESAMPLE_TO_TRAINING_GSD, context),
    }


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
