"""The Train form's two modes and its required outputs, whatever generates the rest of its parameters.

Train reads either layers (an image with its labels, aux layers, an extent, a validation share) or a dataset folder
in the reference layout. Both sets of parameters are optional to Processing, which cannot say "one or the other",
so the form marked the image and labels "[optional]" although they are required whenever no folder is given. Here
a **Training data** choice (``MODE``) comes first: the dialog's widget (``widgets.TrainModeWrapper``) shows the
parameters of the chosen mode without "[optional]" and greys out the others, and :func:`check_train_form` refuses a
run that lacks what the chosen mode needs, or whose model bundle would go to a temporary file, before it starts.
Scripts that give no ``MODE`` keep working: a dataset folder alone means the folder mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingUtils,
)

from .common import add_parameter

MODE = "MODE"
#: The choices of MODE, in this order (index 0 is the default).
MODES = ("layers: an image, its labels and aux layers", "a dataset folder")
LAYERS, FOLDER = 0, 1
#: Parameters each mode uses; those in REQUIRED must be given in that mode.
MODE_PARAMETERS = {LAYERS: ("INPUT", "AFTER", "LABELS", "LABEL_FIELD", "LABELLED_AREA", "AUX", "EXTENT",
                             "VALIDATION_SHARE"),
                   FOLDER: ("DATA_FOLDER", "AUX_BANDS_PER_FILE")}
REQUIRED = {LAYERS: {"INPUT": "the image layer", "AFTER": "the later date", "LABELS": "the label layer"},
            FOLDER: {"DATA_FOLDER": "the dataset folder"}}
#: Parameter metadata giving MODE its dialog widget (a string, so qgis_process never imports Processing's GUI).
MODE_WRAPPER = {"widget_wrapper": {"class": f"{__package__.rpartition('.')[0]}.widgets.TrainModeWrapper"}}
OUTPUT = "OUTPUT"


def add_mode_parameter(alg: QgsProcessingAlgorithm) -> None:
    """MODE: train from layers or from a dataset folder (first in the form)."""
    mode = add_parameter(alg, QgsProcessingParameterEnum(
        MODE, alg.tr("Training data"), options=list(MODES), defaultValue=LAYERS, optional=True),
        alg.tr("Where the training data comes from: layers (an image layer with its label layer, optionally aux "
               "layers, an extent and a validation share) or a dataset folder (the reference layout, or a "
               "change-detection dataset as published: A/, B/ and label/). The parameters of the other mode are not "
               "used. Not given (scripts): a dataset folder alone means "
               "the folder mode."))
    mode.setMetadata(MODE_WRAPPER)


def _given(parameters: dict[str, Any], name: str) -> bool:
    return parameters.get(name) not in (None, "", [])


def mode_index(value: Any) -> int | None:
    """A MODE value (an index or the option's text) as LAYERS or FOLDER; None when unknown."""
    text = str(value).strip().lower()
    if text.isdigit() and int(text) in (LAYERS, FOLDER):
        return int(text)
    return {option.lower(): index for index, option in enumerate(MODES)}.get(text)


def train_mode(parameters: dict[str, Any]) -> int | None:
    """LAYERS or FOLDER: as chosen, else inferred (a folder given without an image: FOLDER); None when a script
    gives both a folder and an image without saying which to use."""
    if _given(parameters, MODE) and mode_index(parameters[MODE]) is not None:
        return mode_index(parameters[MODE])
    if _given(parameters, "DATA_FOLDER"):
        return None if _given(parameters, "INPUT") else FOLDER
    return LAYERS


def is_temporary(path: str) -> bool:
    """Whether ``path`` is Processing's temporary output or lies in its temporary folder."""
    if str(path) == "TEMPORARY_OUTPUT":
        return True
    try:
        return Path(path).resolve().is_relative_to(Path(QgsProcessingUtils.tempFolder()).resolve())
    except OSError:
        return False


def check_train_form(parameters: dict[str, Any], context: QgsProcessingContext,
                     offered: set[str] | None = None) -> tuple[bool, str]:
    """What the chosen mode needs of the parameters the form ``offered`` (None: all), and a model bundle file that
    outlives QGIS; (ok, message)."""
    mode = train_mode(parameters)
    if mode is None:
        return False, ("Give either a dataset folder (DATA_FOLDER) or an image layer with labels (INPUT, LABELS), "
                       "not both; clear one of them, or choose the mode in Training data (MODE).")
    missing = [f"{what} ({name})" for name, what in REQUIRED[mode].items()
               if (offered is None or name in offered) and not _given(parameters, name)]
    if missing:
        return False, (f"Training data is '{MODES[mode]}': choose {' and '.join(missing)}"
                       + (", or switch Training data to the other mode." if mode == LAYERS else "."))
    output = parameters.get(OUTPUT)
    output = getattr(getattr(output, "sink", None), "staticValue", lambda: output)()
    if not output or is_temporary(str(output)):
        return False, ("Parameter OUTPUT (Model bundle): choose where to save the model bundle (.dsmodel); a "
                       "temporary file is deleted when QGIS closes, and a training run's result with it.")
    return True, ""


def unused_inputs(parameters: dict[str, Any], mode: int, feedback: QgsProcessingFeedback) -> None:
    """Say which given parameters the chosen mode does not use."""
    other = MODE_PARAMETERS[FOLDER if mode == LAYERS else LAYERS]
    unused = [name for name in other if name not in ("AUX_BANDS_PER_FILE", "VALIDATION_SHARE")
              and _given(parameters, name)]
    if unused:
        feedback.pushWarning(f"Training data is '{MODES[mode]}': {', '.join(unused)} not used.")


def require_form(parameters: dict[str, Any], context: QgsProcessingContext, offered: set[str] | None = None) -> int:
    """The training mode, or QgsProcessingException with :func:`check_train_form`'s message."""
    ok, message = check_train_form(parameters, context, offered)
    if not ok:
        raise QgsProcessingException(message)
    return int(train_mode(parameters))
