"""Cases of issue 61, item 10: the labelling wing (label, suggest, propose, accept) given what a careless user
gives it.

Before, each of these ended in a traceback, was changed without a word (a class value clamped, an AOI ignored), or
wrote a silent wrong answer (polygons appended to a point layer, "1" among class names, polygons of a blank
picture); the error must now name the input or the flag and what to do, and leave every input as it was. The
inputs are built by :mod:`.labelling_inputs`; none of these reaches a model, so none downloads one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def label(w: dict[str, Any], d: Path, *extra: str, image: str = "", prompts: str = "") -> list[str]:
    """``label`` of the suite's scene (or ``image``) with a click (or ``prompts``) into ``d``."""
    return ["label", "--image", image or w["image"], "--prompts", prompts or w["lab_prompts"], "--model",
            "sam2.1-tiny", "--out", str(d / "labels.gpkg"), "--device", "cpu", *extra]


def accept(w: dict[str, Any], d: Path, *extra: str, proposals: str = "", labels: str = "") -> list[str]:
    """``accept`` of window 1 of the suite's proposals (or ``proposals``) into ``labels`` (default: new in ``d``)."""
    return ["accept", "--proposals", proposals or w["lab_proposals"], "--windows", w["lab_windows"], "--window",
            "1", "--labels", labels or str(d / "labels.gpkg"), "--labelled-area", str(d / "area.gpkg"), *extra]


def labelling_cases() -> list[Any]:
    """The cases (``cases.Case``; imported here, as cases.py imports this module to add them to its table)."""
    from .cases import Case

    return [
        Case("label_class_value_past_every_class", lambda w, d: label(w, d, "--class-value", "3000000000"),
             ("--class-value", "65534")),
        Case("label_min_pixels_infinite", lambda w, d: label(w, d, "--min-pixels", "inf"), ("--min-pixels",)),
        Case("propose_min_pixels_infinite", lambda w, d: [
            "propose", "--windows", w["lab_windows"], "--model", w["plain_bundle"], "--min-pixels", "inf", "--out",
            str(d / "p.gpkg")], ("--min-pixels",)),
        Case("label_extent_infinite", lambda w, d: label(w, d, "--extent", "0", "0", "inf", "10"),
             ("--extent", "finite")),
        Case("suggest_aoi_and_labelled_area_both", lambda w, d: [
            "suggest", "--model", w["plain_bundle"], "--image", w["image"], "--aoi", w["lab_windows"],
            "--labelled-area", w["empty_vector"], "--out", str(d / "s.gpkg")], ("--aoi", "--labelled-area", "once")),
        Case("label_prompts_file_of_two_layers", lambda w, d: label(w, d, prompts=w["lab_two_layers"]),
             ("two_layers.gpkg", "clicks", "more_clicks", "layername")),
        Case("label_prompt_label_a_word", lambda w, d: label(w, d, prompts=w["lab_word_label"]),
             ("word_label.gpkg", "maybe")),
        Case("label_image_all_nodata", lambda w, d: label(w, d, image=w["lab_nodata_image"]),
             ("nodata.tif", "no valid pixel")),
        Case("accept_into_a_point_layer", lambda w, d: accept(w, d, labels=w["lab_points"]),
             ("points.gpkg", "points", "polygon")),
        Case("accept_a_number_among_class_names", lambda w, d: accept(w, d, labels=w["lab_names"]),
             ("names.gpkg", "building", "--label-field")),
        Case("accept_a_text_class_id", lambda w, d: accept(w, d, proposals=w["lab_text_class"]),
             ("text_class.gpkg", "class_id", "'field'")),
    ]
