"""The one scan of every training label before training: raw value counts, checked against the label settings
(every file and value outside the configured set listed with its pixel count), and the coarse per-scene index of
labelled and foreground cells that the tile sampler draws from (:mod:`.sampling`), and the labelled pixels of each
class in both ends a training scene's validation band may take (the end is chosen from them: no second pass).

Label semantics are those of the scene reader's label mapper (:mod:`.labels`); see :mod:`.dataset` for the rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import Callback, CondensedCallback, HeldCallback
from ..config import DataConfig
from ..errors import DataError, mention
from ..io.formats import is_vector_path
from .holdout_choice import counted_regions
from .labels import raw_key
from .sampling import DEFAULT_CELL, CellIndex, CellIndexBuilder, Region, Split
from .scene import SceneReader
from .scene_labels import count_values
from .units import as_float

SCAN_BLOCK = 1024  # label scan block side (a multiple of the cell size)


def scan_label(reader: SceneReader, region: Region, data_cfg: DataConfig,
               counted: list[Region]) -> tuple[CellIndex, dict[str, int], list[np.ndarray]]:
    """Raw value counts, the coarse labelled/foreground cell index of one training scene, and the labelled pixels of
    each class inside each of the ``counted`` regions (its validation bands: :func:`.holdout_choice.choose_ends`),
    in one pass."""
    classes_n = len(data_cfg.class_names)
    class_pixels = [np.zeros(classes_n, np.int64) for _ in counted]
    builder = CellIndexBuilder(reader.grid.width, reader.grid.height, DEFAULT_CELL)
    c0, r0 = region.col // DEFAULT_CELL * DEFAULT_CELL, region.row // DEFAULT_CELL * DEFAULT_CELL
    c1, r1 = region.col + region.width, region.row + region.height
    raster = not is_vector_path(reader.label_path)
    fast = raster and not reader.region.active
    counts: dict[str, int] = {}
    for row in range(r0, r1, SCAN_BLOCK):
        for col in range(c0, c1, SCAN_BLOCK):
            w, h = min(SCAN_BLOCK, c1 - col), min(SCAN_BLOCK, r1 - row)
            if raster:
                raw, ok = reader.read_raw_label(col, row, w, h)
                count_values(raw[ok], counts)
            # fast: the reader's rule, its classes; vector labels or extent/AOI: its full label path rasterises, masks
            classes = reader.mapper.map_raster(raw, ok, strict=False) if fast else reader.read(col, row, w, h).label
            labelled = classes != data_cfg.ignore_index
            foreground = labelled & (classes != 0)
            builder.add(col, row, foreground, labelled)
            for part, pixels in zip(counted, class_pixels):
                pixels += _classes_inside(classes, labelled, col, row, part, classes_n)
    if not raster:
        counts = {str(k): v for k, v in reader.label_value_counts().items()}
    return builder.build(), counts, class_pixels


def labelled_share_line(reader: SceneReader, index: CellIndex, data_cfg: DataConfig) -> str:
    """What the log says of one training scene: how much of it is labelled, and what its unlabelled pixels mean
    (without a labelled area, every pixel outside label polygons is class 0: the line says how to label a part)."""
    name = Path(reader.image).name
    share = 100.0 * index.labelled_pixels / max(reader.grid.width * reader.grid.height, 1)
    if reader.aoi:
        return (f"Labelled area of '{name}': {share:.1f} % of the scene is labelled ({index.labelled_pixels:,} px "
                f"inside '{Path(reader.aoi).name}'); pixels outside it are ignored by the loss and the metrics, not "
                f"taken as background.")
    if is_vector_path(reader.label_path or ""):
        return (f"No labelled area for '{name}': every pixel outside the label polygons of "
                f"'{Path(reader.label_path).name}' is class 0 ('{data_cfg.class_names[0]}'), {share:.1f} % of the "
                f"scene labelled. If you labelled only part of the scene, give the part as a labelled area "
                f"({mention('data.train_scenes#aoi')}): the rest is then ignored, not background.")
    return f"Labels of '{name}': {share:.1f} % of the scene labelled (the rest is nodata or ignored)."


def _classes_inside(classes: np.ndarray, labelled: np.ndarray, col: int, row: int, region: Region,
                    classes_n: int) -> np.ndarray:
    """Labelled pixels of each class 0..``classes_n - 1`` of a block at ``col, row`` inside ``region`` (values
    outside the classes are the label checks' to report)."""
    c0, c1 = max(col, region.col) - col, min(col + classes.shape[1], region.col + region.width) - col
    r0, r1 = max(row, region.row) - row, min(row + classes.shape[0], region.row + region.height) - row
    if c1 <= c0 or r1 <= r0:
        return np.zeros(classes_n, np.int64)
    values = classes[r0:r1, c0:c1][labelled[r0:r1, c0:c1]].astype(np.int64)
    return np.bincount(values[(values >= 0) & (values < classes_n)], minlength=classes_n)


def held_out_bands(split: Split, class_pixels: dict[int, list[np.ndarray]], readers: list[SceneReader],
                   callback: Callback) -> bool:
    """Whether the bands held out of the training scenes (once :func:`.holdout_choice.choose_ends` chose them) hold a
    class other than 0; warns of a band with no labelled pixel, its labelled area lying elsewhere."""
    counted = counted_regions(split)
    foreground = False
    for scene, band in split.val_regions:
        if scene not in counted:
            continue
        pixels = class_pixels[scene][counted[scene].index(band)]
        foreground |= bool(pixels[1:].sum())
        if not pixels.sum() and readers[scene].aoi:
            callback.warning(f"The validation band held out of '{readers[scene].image}' holds no labelled pixel (the "
                             f"labelled area lies elsewhere), so the epochs cannot be scored on it. Give a validation "
                             f"scene, or a labelled area that reaches across the scene.")
    return foreground


def has_foreground(reader: SceneReader, counts: dict[str, int]) -> bool:
    """Whether a label's value counts (raw values of a raster, classes of a vector layer) hold any pixel of a
    class other than 0, the raw values mapped by the reader's :class:`~.labels.LabelMapper`."""
    values = np.array([as_float(key) for key, count in counts.items() if count], np.float64)
    if not is_vector_path(reader.label_path):
        values = reader.mapper.map_raster(values, ~np.isnan(values), strict=False)
    return bool(((values != 0) & (values != reader.ignore_index)).any())


#: Two-class labels coded otherwise than 0/1, recognised when no label mapping is given and the labels hold these
#: values only, the second among them: (values, mapping, how the line names them, raster labels only).
LABEL_CODINGS = (
    ({"0", "90"}, {"90": 1}, "0 and 90, as in the reference data", False),
    # 255 is also the ignore index: read so, such a mask teaches class 0 alone and every model predicts it
    ({"0", "255"}, {"255": 1}, "0 and 255, a mask as change and building datasets publish them (LEVIR-CD, WHU, "
                               "Inria)", True),
)
#: The coding a pair's change masks holding 255 alone are in: those datasets' masks have no nodata, so all 255 is
#: a place that changed everywhere (a label of one date holding 255 alone stays unlabelled: 255 is its nodata).
CHANGE_MASK_VALUE = "255"


def label_coding(counts: dict[str, dict[str, int]], classes: int,
                 change: bool = False) -> tuple[dict[str, int], str] | None:
    """The mapping of the one of LABEL_CODINGS that labels of ``classes`` classes with these raw value counts (per
    label file or layer) are coded in, and how to name it; None where none is (or not two classes). ``change``:
    the labels are change masks of pairs, which may hold :data:`CHANGE_MASK_VALUE` alone."""
    if classes != 2 or not counts:
        return None
    found = {key for values in counts.values() for key, count in values.items() if count}
    rasters = {key for path, values in counts.items() if not is_vector_path(path)
               for key, count in values.items() if count}
    vectors = any(is_vector_path(path) for path in counts)
    alone = change and rasters == {CHANGE_MASK_VALUE}
    return next(((dict(mapping), named) for values, mapping, named, rasters_only in LABEL_CODINGS
                 if found <= values and next(iter(mapping)) in found
                 and (not rasters or rasters == values or (alone and CHANGE_MASK_VALUE in mapping))
                 and not (rasters_only and vectors)), None)


def coding_line(mapping: dict[str, int], named: str, class_one: str | None, hint: str) -> str:
    """The line that says a recognised label coding is used (``hint``: the setting that says otherwise)."""
    shown = f" ('{class_one}')" if class_one else ""
    return (f"The label values are {named}: {next(iter(mapping))} is class 1{shown}, 0 is class 0. Give {hint} to "
            f"say otherwise.")


def label_problems(path: str, counts: dict[str, int], data_cfg: DataConfig) -> list[str]:
    """One line per label file with values outside the configured set, with their pixel counts."""
    classes = {float(c) for c in range(len(data_cfg.class_names))}
    if is_vector_path(path):  # vector counts are classes (already mapped): they must be known classes
        allowed = classes
    elif data_cfg.label_mapping and not data_cfg.strict_labels:
        return []
    else:
        allowed = ({0.0} | {as_float(k) for k in data_cfg.label_mapping} if data_cfg.label_mapping
                   else classes | {float(data_cfg.ignore_index)})
    bad = {k: v for k, v in counts.items() if as_float(k) not in allowed}
    return [f"'{path}': {_listing(bad)}"] if bad else []


def _listing(counts: dict[str, int], more: str = " ...") -> str:
    """``value (pixels px)`` of the 20 commonest values, and ``more`` when there are more."""
    shown = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} ({v:,} px)" for k, v in shown[:20]) + (more if len(shown) > 20 else "")


def note_unmapped(counts: dict[str, dict[str, int]], data_cfg: DataConfig, callback: Callback) -> None:
    """Strict labels off: say which raw values became the default class, with their pixel counts."""
    mapped = {as_float(k) for k in data_cfg.label_mapping}
    other: Counter[str] = Counter()
    for path, values in counts.items():
        if not is_vector_path(path):
            other.update({key: count for key, count in values.items() if as_float(key) not in mapped})
    if other:
        default = data_cfg.label_default_class
        callback.info(f"Raw label values not in the label mapping are class {default} "
                      f"('{data_cfg.class_names[default]}'): {_listing(other, more='')}.")


def label_fix_hint(data_cfg: DataConfig, counts: dict[str, dict[str, int]]) -> str:
    """What to change when label values are outside the configured set (``counts``: label file -> raw value ->
    pixels, of the rasters scanned)."""
    classes = _class_numbers(counts, data_cfg.ignore_index)
    if data_cfg.label_mapping:
        default = data_cfg.label_default_class
        hint = (f"Raw 0 is class {default} ({mention('data.label_default_class')}); every other raw value must be in "
                f"{mention('data.label_mapping')}. Map these values to their classes, set them as the label "
                f"raster's nodata, or turn {mention('data.strict_labels')} off to make every "
                f"value not in the mapping class {default}.")
        if classes:  # a land-cover raster whose values already are its classes
            hint += (f" If the raw values are the class numbers themselves (here up to {classes - 1}), give an empty "
                     f"{mention('data.label_mapping')} ('' on the command line) and {classes} "
                     f"{mention('data.class_names')}, class 0 first.")
        return hint
    more = f" ({classes} names for classes 0..{classes - 1})" if classes > len(data_cfg.class_names) else ""
    return (f"Give a {mention('data.label_mapping')} from raw values to classes 0..{len(data_cfg.class_names) - 1}, "
            f"or add {mention('data.class_names')} for the extra classes{more}.")


def _class_numbers(counts: dict[str, dict[str, int]], ignore_index: int) -> int:
    """How many classes the raw values make when they are class numbers (whole numbers 0..254 of raster labels,
    the ignore value aside); 0 when they cannot be."""
    found = {as_float(key) for path, values in counts.items() if not is_vector_path(path) for key in values}
    found.discard(float(ignore_index))
    whole = all(value.is_integer() and 0 <= value < 255 for value in found)
    return int(max(found, default=-1)) + 1 if whole else 0


def _no_labelled_pixel(reader: SceneReader, values: dict[str, int], data_cfg: DataConfig) -> str:
    """Why a training label teaches nothing, saying what it holds where that is the ignore value alone."""
    held = {key for key, count in values.items() if count}
    if held == {raw_key(data_cfg.ignore_index)}:
        return (f"The label '{reader.label_path}' of the image '{reader.image}' holds the value "
                f"{data_cfg.ignore_index} alone, the value of unlabelled pixels ({mention('data.ignore_index')}), so "
                f"no pixel is labelled. If {data_cfg.ignore_index} is a class there, map it: "
                f"{mention('data.label_mapping')} {data_cfg.ignore_index}:1.")
    return (f"The label '{reader.label_path}' has no labelled pixel inside the image '{reader.image}' (all "
            f"nodata/outside the extent); check its nodata value and extent.")


@dataclass
class _Scan:
    """What one pass over every label found (see :func:`scan_labels`)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # raw value counts per label
    indexes: list[CellIndex] = field(default_factory=list)  # the training scenes' sampling indexes
    problems: list[str] = field(default_factory=list)  # values outside the configured set, per label
    val_foreground: bool = False  # any pixel of a class other than 0 in the validation scenes' labels
    # training scene -> the labelled pixels of each class in each of its counted regions (scan_label)
    class_pixels: dict[int, list[np.ndarray]] = field(default_factory=dict)
    empty: str | None = None  # why a training label cannot teach anything


def scan_labels(data_cfg: DataConfig, callback: Callback, kwargs: list[dict[str, Any]],
                train_readers: list[SceneReader], val_readers: list[SceneReader],
                counted: dict[int, list[Region]]) -> tuple[dict[str, dict[str, int]], list[CellIndex], bool,
                                                           dict[int, list[np.ndarray]]]:
    """One scan of every label: (value counts per label, the training scenes' sampling indexes, whether the
    validation scenes' labels hold a class other than 0, the labelled pixels of each class in each training scene's
    ``counted`` regions). A recognised label coding (:func:`label_coding`) is
    applied to ``kwargs`` (the readers' arguments) and the readers, and the labels scanned again with it (the
    sampling index counts a 0/255 mask's 255 as unlabelled otherwise); values outside the configured set stop the
    run, naming them."""
    condensed = CondensedCallback(callback)  # a line a scene: the first few of a dataset of hundreds
    try:
        held = HeldCallback(condensed)  # the first pass's lines, said unless a coding found makes it scan again
        scan = _scan_all(data_cfg, held, train_readers, val_readers, counted)
        # no label mapping given and the labels coded as one of LABEL_CODINGS: its mapping is taken
        change = any(reader.after_paths for reader in train_readers)
        found = None if data_cfg.label_mapping else label_coding(scan.counts, len(data_cfg.class_names), change)
        if found is None:
            held.release()
        else:
            held.drop()
            data_cfg.label_mapping = found[0]
            condensed.info(coding_line(*found, data_cfg.class_names[1], mention("data.label_mapping")))
            for kw in kwargs:  # the readers (and the loaders' copies) map with it from now on
                kw["label_mapping"] = dict(data_cfg.label_mapping)
            for reader in train_readers + val_readers:
                reader.use_label_mapping(data_cfg.label_mapping)
            scan = _scan_all(data_cfg, condensed, train_readers, val_readers, counted)
        if scan.empty:
            raise DataError(scan.empty)
        if not scan.problems and data_cfg.label_mapping and not data_cfg.strict_labels:
            note_unmapped(scan.counts, data_cfg, condensed)
        if scan.problems:
            raise DataError(f"Label values outside the configured set ({mention('data.label_mapping')} "
                            f"{data_cfg.label_mapping or 'none: values are classes'}, classes 0.."
                            f"{len(data_cfg.class_names) - 1}):\n  " + "\n  ".join(scan.problems) + "\n"
                            + label_fix_hint(data_cfg, scan.counts))
        return scan.counts, scan.indexes, scan.val_foreground, scan.class_pixels
    finally:
        condensed.finish()


def _scan_all(data_cfg: DataConfig, callback: Callback, train_readers: list[SceneReader],
              val_readers: list[SceneReader], counted: dict[int, list[Region]]) -> _Scan:
    """One pass over every label with the readers' current mapping."""
    scan = _Scan()
    for i, reader in enumerate(train_readers):
        callback.check_canceled()
        scan_region = Region(*reader.region_window())  # whole usable scene: held-out band rows are filtered later
        index, values, scan.class_pixels[i] = scan_label(reader, scan_region, data_cfg, counted.get(i, []))
        callback.info(labelled_share_line(reader, index, data_cfg))
        scan.indexes.append(index)
        scan.counts[reader.label_path] = values
        scan.problems += label_problems(reader.label_path, values, data_cfg)
        if reader.label_polygon_count == 0 and not scan.empty:
            scan.empty = (f"The label layer '{reader.label_path}' of the image '{reader.image}' has no polygons (an "
                          f"empty layer): it cannot teach anything. Give the layer with the labelled polygons, or "
                          f"leave this scene out.")
        if index.labelled_pixels == 0 and not scan.empty:
            scan.empty = _no_labelled_pixel(reader, values, data_cfg)
    for reader in val_readers:
        callback.check_canceled()
        values = reader.label_value_counts(SCAN_BLOCK)  # a label layer's: classes -> polygons
        if not is_vector_path(reader.label_path):
            scan.counts[reader.label_path] = values
            scan.problems += label_problems(reader.label_path, values, data_cfg)
        scan.val_foreground |= has_foreground(reader, values)
    return scan


def foreground_boxes(spec: Any, data_cfg: DataConfig) -> tuple[int, int, list[Region]] | None:
    """(width, height, the pixel boxes of the separate foreground parts) of a training scene whose label is a raster
    read whole, mapped to classes as training maps it (parts touch at a side to be one); None for a polygon label,
    a labelled area or extent, or a scene that cannot be read (the training says why when it reads the data)."""
    from rasterio.features import shapes

    from ..callbacks import QuietCallback

    if not spec.label or is_vector_path(str(spec.label)) or spec.aoi or spec.extent:
        return None
    try:
        with SceneReader(spec.image, label=spec.label, label_mapping=dict(data_cfg.label_mapping) or None,
                         label_default_class=data_cfg.label_default_class, ignore_index=data_cfg.ignore_index,
                         callback=QuietCallback()) as reader:
            width, height = reader.grid.width, reader.grid.height
            raw, ok = reader.read_raw_label(0, 0, width, height)
            classes = reader.mapper.map_raster(raw, ok, strict=False)
    except (DataError, OSError):
        return None
    foreground = ((classes != data_cfg.ignore_index) & (classes != 0)).astype(np.uint8)
    boxes = []
    for shape, _ in shapes(foreground, mask=foreground.astype(bool), connectivity=4):
        cols, rows = zip(*(point for ring in shape["coordinates"] for point in ring))
        boxes.append(Region(int(min(cols)), int(min(rows)), int(max(cols) - min(cols)), int(max(rows) - min(rows))))
    return width, height, boxes
