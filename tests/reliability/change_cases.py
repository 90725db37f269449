"""Cases of issue 63: change detection given what a careless user gives it.

Two dates that do not overlap, a date all nodata or all masked (cloud), dates in the wrong order by their metadata
(a warning: the run goes on), a later date of other bands, a change label covering neither date, and every output
of ``train``, ``segment`` and ``compare`` naming either date: each gets one error naming the file or the parameter,
and no input is written. The inputs are built by :mod:`.change_inputs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .workspace import TRAIN_ARGS


def train(w: dict[str, Any], d: Path, *extra: str, after: str = "", label: str = "", out: str = "") -> list[str]:
    """``train`` of a tiny change model on the suite's pair (or its ``after``, ``label``) into ``d``."""
    return ["train", "--image", w["cd_before"], "--after", after or w["cd_after"], "--label", label or w["cd_label"],
            "--model", "change", *TRAIN_ARGS, "--out", out or str(d / "m.dsmodel"), *extra]


def segment(w: dict[str, Any], d: Path, *extra: str, before: str = "", after: str = "", out: str = "") -> list[str]:
    """``segment`` of the suite's pair (or ``before``, ``after``) with its change model into ``d``."""
    return ["segment", "--model", w["cd_bundle"], "--image", before or w["cd_before"], "--after",
            after or w["cd_after"], "--out", out or str(d / "change.tif"), "--device", "cpu", "--quiet", *extra]


def compare(w: dict[str, Any], d: Path, *extra: str, after: str = "", out: str = "", before: str = "") -> list[str]:
    """``compare`` of the class rasters of the suite's pair (or of ``before``, ``after``) into ``d``."""
    return ["compare", "--before-classes", before or w["cd_classes"], "--after-classes", after or w["cd_after_classes"],
            "--out", out or str(d / "change.tif"), "--quiet", *extra]


def folder(w: dict[str, Any], d: Path, broken: str) -> list[str]:
    """``train --data`` on one of the suite's broken change-detection dataset folders."""
    return ["train", "--data", w[f"cd_folder_{broken}"], *TRAIN_ARGS, "--out", str(d / "m.dsmodel")]


def _classes_copy(w: dict[str, Any], path: Path, values: Any, dtype: str) -> None:
    """The suite's first class raster rewritten at ``path`` in ``dtype``, ``values`` in its top rows."""
    import rasterio

    with rasterio.open(w["cd_classes"]) as src:
        profile, data = src.profile, src.read().astype(dtype)
    data[:, :4] = values
    profile.update(dtype=dtype, nodata=None)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def change_cases() -> list[Any]:
    """The cases (``cases.Case``; imported here, as cases.py imports this module to add them to its table)."""
    from .cases import Case

    return [
        # two dates that do not overlap: both footprints named
        Case("change_segment_dates_not_overlapping", lambda w, d: segment(w, d, after=w["cd_far_after"]),
             ("far_after.tif", "first date", "footprints")),
        Case("change_train_dates_not_overlapping", lambda w, d: train(w, d, after=w["cd_far_after"]),
             ("far_after.tif", "first date", "footprints")),
        Case("change_compare_dates_not_overlapping", lambda w, d: compare(w, d, after=w["cd_far_label"]),
             ("far_change.tif",)),
        # one date with no data: all nodata, or all masked (a cloud mask)
        Case("change_segment_later_date_all_nodata", lambda w, d: segment(w, d, after=w["cd_nodata_after"]),
             ("nodata_after.tif", "no valid pixel")),
        Case("change_segment_later_date_all_cloud", lambda w, d: segment(w, d, after=w["cd_cloud_after"]),
             ("cloud_after.tif", "no valid pixel")),
        Case("change_train_later_date_all_nodata", lambda w, d: train(w, d, after=w["cd_nodata_after"]),
             ("nodata_after.tif", "no valid pixel")),
        Case("change_segment_first_date_all_nodata",
             lambda w, d: segment(w, d, before=w["cd_nodata_after"], after=w["cd_after"]),
             ("nodata_after.tif", "no valid pixel")),
        # the dates in the wrong order by their metadata: a warning naming both, the run goes on
        Case("change_segment_dates_in_the_wrong_order_warn",
             lambda w, d: segment(w, d, before=w["cd_late_first"], after=w["cd_early_after"]), code=0,
             produces=("change.tif",), warns=("20210601", "taken on 2021-06-01, before the first date", "swap")),
        # different band counts where the model needs the same
        Case("change_segment_later_date_of_other_bands", lambda w, d: segment(w, d, after=w["cd_two_bands_after"]),
             ("two_bands_after.tif", "band")),
        Case("change_train_later_date_of_other_bands", lambda w, d: train(w, d, after=w["cd_two_bands_after"]),
             ("two_bands_after.tif", "band")),
        # a change label that covers neither date
        Case("change_train_label_covers_neither_date", lambda w, d: train(w, d, label=w["cd_far_label"]),
             ("far_change.tif", "does not overlap")),
        # an output that names either date
        Case("change_train_out_is_the_later_date", lambda w, d: train(w, d, out=w["cd_after"]), ("--out", "--after")),
        Case("change_segment_out_is_the_later_date", lambda w, d: segment(w, d, out=w["cd_after"]),
             ("--out", "--after")),
        Case("change_segment_out_is_the_first_date", lambda w, d: segment(w, d, out=w["cd_before"]),
             ("--out", "--image")),
        Case("change_segment_table_onto_the_later_date",
             lambda w, d: segment(w, d, "--change-table", w["cd_after"]), ("--change-table", "--after")),
        Case("change_segment_polygons_onto_the_first_date",
             lambda w, d: segment(w, d, "--polygons", w["cd_before"]), ("--polygons", "--image")),
        Case("change_compare_out_is_the_first_date", lambda w, d: [
            "compare", "--before-classes", w["cd_classes"], "--after-classes", w["cd_after_classes"], "--out",
            w["cd_classes"], "--quiet"], ("--out", "--before-classes")),
        Case("change_compare_table_onto_the_later_date",
             lambda w, d: compare(w, d, "--change-table", w["cd_after_classes"]),
             ("--change-table", "--after-classes")),
        # a change-detection dataset's folder (--data) with a part missing or wrong
        Case("change_train_folder_without_labels", lambda w, d: folder(w, d, "no_labels"),
             ("dataset_no_labels", "not label/")),
        Case("change_train_folder_pair_without_its_later_date", lambda w, d: folder(w, d, "no_later"),
             ("pair 'p1'", "later date not found", "--skip-incomplete")),
        Case("change_train_folder_later_date_of_another_size", lambda w, d: folder(w, d, "other_size"),
             ("p2.png", "differ in size")),
        Case("change_train_folder_list_names_a_missing_pair", lambda w, d: folder(w, d, "listed"),
             ("pair 'p9'", "first date not found")),
        # a 0/255 mask scored without a mapping: 255 is change, said (it is also the ignore index)
        Case("change_evaluate_a_mask_of_0_and_255", lambda w, d: [
            "evaluate", "--pred", w["cd_mask_prediction"], "--label", w["cd_mask_255"], "--out", str(d / "m.json")],
             code=0, produces=("m.json",), warns=("0 and 255", "255 is class 1")),
        # issue 79: class rasters holding no class, classes too many for transitions, an output folder to make,
        # the export of a change model
        Case("change_compare_a_class_value_of_minus_1",
             lambda w, d: compare(w, d, before=str(d / "minus.tif"), out=str(d / "c.tif")),
             ("minus.tif", "-1", "nodata"), setup=lambda w, d: _classes_copy(w, d / "minus.tif", -1, "int16")),
        Case("change_compare_class_codes_past_what_transitions_hold",
             lambda w, d: compare(w, d, before=str(d / "thousand.tif"),
                                  out=str(d / "c.tif")),
             ("up to 1000", "--mask"), absent=("1,001,001",),
             setup=lambda w, d: _classes_copy(w, d / "thousand.tif", 1000, "uint16")),
        Case("change_compare_out_in_a_folder_not_made_yet",
             lambda w, d: compare(w, d, out=str(d / "new" / "change.tif")), code=0, produces=("new/change.tif",),
             absent=("free space",)),
        Case("change_export_names_the_two_dates", lambda w, d: [
            "export", "--model", w["cd_bundle"], "--onnx", str(d / "c.onnx"), "--single-input"], code=0,
             produces=("c.onnx",), warns=("2 dates, one input each (before, after)", "is a change model"),
             absent=("coarser grid", "one input anyway")),
        Case("change_compare_with_a_model_out_is_the_later_date", lambda w, d: [
            "compare", "--model", w["plain_bundle"], "--image", w["cd_before"], "--after", w["cd_after"], "--out",
            w["cd_after"], "--quiet"], ("--out", "--after")),
    ]
