"""Cases of issue 40 (items 1-5, 8): models made elsewhere, described wrongly or giving what is no probability.

Before, each of these ended in a traceback, was taken silently, blamed the wrong setting, or allocated until
memory ran out; the error must now name the file and key (or the flag) and the value. The inputs are built by
:mod:`.imported_inputs`; what the outputs hold (nodata, UInt16) is checked in ``cli/test_model_outputs.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .imported_inputs import ESCAPE


def imp(w: dict[str, Any], d: Path, key: str, *extra: str) -> list[str]:
    """``import`` of the suite's graph ``key`` into ``d``."""
    return ["import", w[f"imp_{key}"], "--output", str(d / "m.dsmodel"), *extra]


def run(w: dict[str, Any], d: Path, key: str, *extra: str) -> list[str]:
    """``segment`` of the 3-band scene with the suite's model ``key`` (a graph or a bundle) into ``d``."""
    return ["segment", "--model", w[f"imp_{key}"], "--image", w["imp_scene"], "--out", str(d / "out.tif"),
            "--quiet", *extra]


def given(w: dict[str, Any], d: Path, *flags: str) -> list[str]:
    """``import`` of the undescribed graph, described by ``flags``."""
    return imp(w, d, "plain", "--classes", "background,field,forest", *flags)


def imported_cases() -> list[Any]:
    """The cases (``cases.Case``; imported here, as cases.py imports this module to add them to its table)."""
    from .cases import Case

    return [
        # item 1: a value of the wrong type in a description ended in a traceback (ValueError, TypeError)
        Case("import_deepness_tile_size_text", lambda w, d: imp(w, d, "tiles_size_text"),
             ("tiles_size_text.onnx", "`tiles_size`", "integer", "'big'")),
        Case("segment_deepness_mean_text", lambda w, d: run(w, d, "mean_text"),
             ("mean_text.onnx", "`standardization_mean`", "'a'")),
        Case("import_deepness_threshold_text", lambda w, d: imp(w, d, "threshold_text"),
             ("`seg_thresh`", "a number", "'high'")),
        Case("import_deepness_overlap_text", lambda w, d: imp(w, d, "overlap_text"), ("`tiles_overlap", "'lots'")),
        Case("import_sidecar_bands_text", lambda w, d: imp(w, d, "sc_bands_text"),
             ("sc_bands_text.json", "`bands`", "'three'")),
        Case("import_sidecar_scale_text", lambda w, d: imp(w, d, "sc_scale_text"),
             ("sc_scale_text.json", "`scale`", "'x'")),
        # item 2: values that make no sense were taken silently
        Case("import_deepness_resolution_negative", lambda w, d: imp(w, d, "resolution_negative"),
             ("resolution_negative.onnx", "`resolution", "> 0", "-1")),
        Case("import_sidecar_resolution_zero", lambda w, d: imp(w, d, "sc_resolution_zero"),
             ("sc_resolution_zero.json", "`resolution`", "> 0", "got 0")),
        Case("import_sidecar_std_nan", lambda w, d: imp(w, d, "sc_std_nan"), ("sc_std_nan.json", "`std`", "nan")),
        Case("import_sidecar_duplicate_classes", lambda w, d: imp(w, d, "sc_duplicate_classes"),
             ("sc_duplicate_classes.json", "`class_names`", "'a' given twice")),
        Case("import_sidecar_blank_class", lambda w, d: imp(w, d, "sc_blank_class"),
             ("sc_blank_class.json", "`class_names`", "item 1", "non-blank")),
        Case("import_sidecar_class_names_a_string", lambda w, d: imp(w, d, "sc_classes_string"),
             ("sc_classes_string.json", "`class_names`", "a list", "'abc'")),
        Case("import_sidecar_colour_names", lambda w, d: imp(w, d, "sc_colour_names"),
             ("sc_colour_names.json", "`class_colors`", "'red'", "#rrggbb")),
        Case("import_scale_infinite", lambda w, d: given(w, d, "--scale", "inf"), ("--scale must be finite", "inf")),
        Case("import_resolution_negative_flag", lambda w, d: given(w, d, "--resolution", "-1"),
             ("--resolution", "> 0", "-1")),
        Case("import_border_huge_like_negative", lambda w, d: given(w, d, "--border", "100000"),
             ("--border", "100000 px", "less than the tile size")),
        Case("import_border_negative", lambda w, d: given(w, d, "--border", "-3"), ("--border", ">= 0", "-3")),
        # item 2: outputs that are not probabilities were used as if they were
        Case("segment_logits_declared_probabilities", lambda w, d: run(w, d, "logits"),
             ("logits.onnx", "seems to give logits", "--output-kind logits")),
        Case("segment_one_channel_logits_declared_probabilities", lambda w, d: run(w, d, "logit1"),
             ("logit1.onnx", "seems to give logits", "sigmoid", "--output-kind logits")),
        Case("import_logits_declared_probabilities", lambda w, d: imp(w, d, "logits"),
             ("logits.onnx", "seems to give logits")),
        Case("segment_nan_scores_are_nodata", lambda w, d: run(w, d, "nan", "--confidence", str(d / "c.tif")), code=0,
             produces=("out.tif", "c.tif"), warns=("nan or infinite scores at", "nodata in every output")),
        Case("segment_inf_scores_are_nodata", lambda w, d: run(w, d, "inf"), code=0, produces=("out.tif",),
             warns=("nan or infinite scores at", "nodata in every output")),
        # item 5: errors that named the wrong cause
        Case("import_deepness_tile_negative_names_the_tile", lambda w, d: imp(w, d, "tile_negative"),
             ("tile_negative.onnx", "`tile_size`", "-64"), absent=("border must",)),
        Case("segment_border_recorded_in_the_model_names_the_model", lambda w, d: run(w, d, "border_bundle"),
             ("border recorded in the model", "border.dsmodel", "100000 px", "--border")),
        Case("import_sidecar_threshold_names_the_file", lambda w, d: imp(w, d, "sc_threshold"),
             ("sc_threshold.json", "`threshold`", "(0, 1)", "got 7")),
        Case("segment_sidecar_threshold_names_the_file", lambda w, d: run(w, d, "sc_threshold"),
             ("sc_threshold.json", "`threshold`", "got 7")),
        Case("resample_to_training_gsd_uses_an_imported_resolution",
             lambda w, d: run(w, d, "sc_resolution", "--resample-to-training-gsd"), code=0, produces=("out.tif",),
             absent=("records no training pixel size",)),
        Case("import_fixed_batch_of_a_million_refused_at_once", lambda w, d: imp(w, d, "batch"),
             ("batch.onnx", "1,000,000", "gib", "batch")),
        Case("segment_fixed_batch_of_a_million_refused_at_once",
             lambda w, d: ["segment", "--model", w["imp_batch"], "--image", w["imp_scene"], "--out", str(d / "out.tif"),
                           "--quiet"], ("batch.onnx", "1,000,000", "gib")),
        Case("import_a_billion_bands_refused_at_once", lambda w, d: given(w, d, "--bands", "1000000000"),
             ("--bands", "1000000000")),
        # item 8: terminal control sequences in names reached the terminal
        Case("info_shows_control_characters_as_escapes", lambda w, d: ["info", w["imp_escape_bundle"]], code=0,
             warns=("\\x1b[2jcleared",), absent=("\x1b", "\x07")),
        Case("segment_log_shows_control_characters_as_escapes",  # a file name is a name too
             lambda w, d: ["segment", "--model", w["imp_escape_bundle"], "--image", w["imp_scene"], "--out",
                           str(d / f"out{ESCAPE}.tif")], code=0, produces=(f"out{ESCAPE}.tif",),
             warns=("out\\x1b[2jcleared",), absent=("\x1b", "\x07")),
    ]
