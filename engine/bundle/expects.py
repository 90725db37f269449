"""Whether inputs fit a model bundle, from its metadata and band counts alone: the one rule a front end shows
before a run (:func:`input_mismatches`, :func:`dates_problem`) and the run (``plan``) refuses an image, its dates
or aux files by."""

from __future__ import annotations

import datetime as dt

from ..config.bands import BandSelection
from ..data.metadata import DataMetadata
from ..errors import DataError, command, mention
from ..time_axis import months_said
from .view import model_view


def aux_files_expected(data: DataMetadata) -> int:
    """How many aux files the model stacks (0: none, or X bands of the image itself)."""
    if not data.aux_channels or data.x_bands:
        return 0
    return data.aux_files_per_scene or len(data.aux_file_bands) or len(data.aux_prefixes) or 1


def dates_problem(takes: int, given: int, family: str = "", trained: bool = True) -> str | None:
    """The one rule of how many dates of a place a model takes, for front ends, segment and training alike: None
    when ``given`` dates (1: an image alone) fit a model taking ``takes``, else one line saying what it takes and
    what to use instead. A season model (``family``) takes any count: fewer dates than it was trained on are padded
    and masked, more run as well (None; the log says the counts: :func:`season_dates_note`). ``trained``: a
    trained model (its bundle) is meant; False: ``family`` before training, whose scenes hold ``given`` dates."""
    from ..models.configuration_utils import takes_a_season

    if given == takes or (family and takes_a_season(family)):
        return None
    how = f"{command('train_season')}, {mention('model.name')} season"
    season = f"a season model to map classes from the dates ({how})"
    if not trained:
        if takes == 1:
            return (f"the {family} family takes one date: train a season model to map classes from the dates ({how}, "
                    f"or leave the model to the engine), a change model on one later date to map what changed "
                    f"({mention('model.name')} change), or leave the later dates out")
        return (f"the {family} family takes {takes} dates of each place (before, after): give each scene one later "
                f"date ({mention('scene.after')}), "
                + (f"or train {season}" if given > 2 else "or train a family of one date"))
    if takes == 1:
        return (f"the model was trained on one date, so it takes no later date: compare its segmentations of the "
                f"dates (the post-classification comparison, {command('compare')}), or train a change model on "
                f"pairs ({command('train_change')}) or {season}")
    had = "no later date is given" if given == 1 else f"{given} dates are given"
    return (f"the model is a change model of {takes} dates (before, after), and {had}: give one pair at a time to "
            f"{command('detect_change')}, the later date as {mention('segment.after')}"
            + (f", or train {season}" if given > 2 else ""))


def season_dates_note(data: DataMetadata, given: list[dt.date], model: str) -> str | None:
    """A season model given another count of dates than it was trained on (which :func:`dates_problem` lets run):
    one line naming both counts and their months, for the log; None for the same count. A result of nearly one
    class from fewer dates is said after the run (``segment.scene_outputs.judge_few_dates``)."""
    trained, count = int(data.dates), len(given)
    if count == trained:
        return None
    months = f"months {months_said(data.date_months)}" if data.date_months else "its months not recorded"
    line = (f"The season model '{model}' was trained on {trained} date(s) of each place ({months}) and is given "
            f"{count} ({months_said([d.month for d in given])})")
    if count > trained:
        return f"{line}: it reads them all."
    return (f"{line}: the {trained - count} missing date(s) are masked, as clouds are, but from fewer dates than it "
            f"learnt from a model may map one class nearly everywhere. Give the place's dates over the same months, "
            f"or train a season model on the dates you have ({command('train_season')}).")


def scenes_dates_problem(takes: int, given: int, family: str) -> str | None:
    """:func:`dates_problem` of training scenes holding ``given`` dates of each place for ``family`` (taking
    ``takes``), as one sentence naming what the scenes hold; None when they fit."""
    problem = dates_problem(takes, given, family, trained=False)
    if problem is None:
        return None
    held = ("one image" if given == 1 else
            f"{given} dates (the image and {given - 1} later date(s), {mention('scene.after')})")
    return f"The training scenes hold {held} of each place, but {problem}."


def image_problem(data: DataMetadata, image_bands: int, image: str | None = None,
                  named: str | None = None) -> str | None:
    """Why an image of ``image_bands`` bands (the file ``image``; ``named``: its name instead, e.g. "the WMS layer
    'Ortho'") does not fit the model trained on ``data`` (None: it fits), naming "the model"."""
    trained = data.vision_bands
    selection = BandSelection.of(data.bands, data.x_bands)
    named = named or (f"the image '{image}'" if image else "the image")
    if not selection.active:
        if image_bands != trained:
            return f"{named} has {image_bands} band(s); the model was trained on {trained}"
        return None
    try:
        selection.check(image_bands, image or "the image")
    except DataError as exc:
        return f"the model reads {selection.describe(max(image_bands, 1))} of its image: {str(exc).rstrip('.')}"
    if len(selection.vision_bands(image_bands)) != trained:
        read = selection.describe(data.image_bands or image_bands)
        return (f"the model was trained on {trained} vision band(s) ({read} of a {data.image_bands}-band image), "
                f"but {named} has {image_bands} band(s)")
    return None


def aux_problem(data: DataMetadata, aux_bands: list[int]) -> str | None:
    """Why aux files giving ``aux_bands`` bands each, in their order, do not fit the model trained on ``data``,
    which stacks aux files (:func:`aux_files_expected` > 0); None when they fit."""
    expected = aux_files_expected(data)
    if len(aux_bands) != expected:
        return f"{len(aux_bands)} aux layer(s) chosen; the model was trained with {expected}, in a fixed order"
    per_file = data.aux_bands_per_file
    used = [min(b, per_file) if per_file else b for b in aux_bands]
    trained_files = list(data.aux_file_bands)
    if trained_files and used != trained_files:
        return (f"the aux layers give {', '.join(map(str, used))} band(s); the model was trained with "
                f"{', '.join(map(str, trained_files))}, in this order")
    if sum(used) != data.aux_channels:
        return f"the aux layers give {sum(used)} channel(s); the model needs {data.aux_channels}"
    return None


def input_mismatches(data: DataMetadata, image_bands: int | None, aux_bands: list[int] | None,
                     image_names: list[str | None] | None = None, chosen: list[str] | None = None) -> list[str]:
    """What does not fit the bundle of ``data``: the image's band count (None: no image yet), its band descriptions
    (``image_names``: picked by name where the model records names), the bands chosen (``chosen``: numbers or
    names) and the aux layers' band counts in order (None: not known). Empty when all fit."""
    problems: list[str | None] = []
    if image_bands is not None and data.vision_bands and not _picked(data, image_bands, image_names, chosen,
                                                                     problems):
        problems.append(_with_choice(data, image_bands, image_problem(data, image_bands)))
    if aux_bands is not None:
        if aux_files_expected(data):
            problems.append(aux_problem(data, aux_bands))
        elif aux_bands and not data.x_bands:
            problems.append(f"{len(aux_bands)} aux layer(s) chosen; the model uses none (they are not read)")
    return [p for p in problems if p]


def _with_choice(data: DataMetadata, image_bands: int, problem: str | None) -> str | None:
    """``problem`` pointing at the bands setting where choosing bands mends it: the image has more bands than the
    model takes, and the model does not pick its own."""
    if not problem or image_bands <= data.vision_bands or BandSelection.of(data.bands, data.x_bands).active:
        return problem
    names = model_view(data).band_names
    order = f" ({', '.join(names)})" if names else ""
    return (f"{problem}: choose {data.vision_bands} of them, in the model's order{order}, in "
            f"{mention('segment.bands')} (numbers or names)")


def _picked(data: DataMetadata, image_bands: int, image_names: list[str | None] | None, chosen: list[str] | None,
            problems: list[str | None]) -> bool:
    """Whether the model's bands are picked from the image (by ``chosen`` or by name), adding what does not fit to
    ``problems``; False when band counts decide (the image's bands carry no names, the model records none)."""
    from ..data.band_match import match_bands, pick_bands

    names = image_names if image_names is not None and len(image_names) == image_bands else [None] * image_bands
    model_names = model_view(data).band_names
    try:
        if chosen:
            pick_bands(chosen, model_names, data.vision_bands, names, "the image", "Bands")
            return True
        if model_names and image_bands >= len(model_names):
            return match_bands(model_names, names, "the image") is not None
    except DataError as exc:
        problems.append(str(exc).split(". The model takes")[0].rstrip("."))
        return True
    return False
