"""Compare predicted class rasters with label rasters or polygon layers, streaming in row blocks.

The label is brought onto the prediction's grid by the same reader as training (raster labels warped with
nearest neighbour from any CRS/grid, polygon layers reprojected and rasterised), so a label on another grid
still compares pixel for pixel. Pixels that are nodata in the prediction or the label are left out.

Writes, where asked (``output``), JSON (everything) and CSV (one row per class plus a mean row; the confusion matrix
in ``<stem>_confusion.csv``); optionally per-image Dice and the building-segmentation competition's run-length
CSV (row-major, 1-indexed "start length" pairs of the foreground, ``-1`` for an empty mask).
Prediction and label may be two files, or two folders whose rasters are paired by file name stem.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from .callbacks import Callback, QuietCallback, Stage
from .config import EvaluateConfig
from .errors import ConfigError, DataError, mention
from .io import locations
from .io.atomic import output_locks, write_text_atomic
from .io.formats import RASTER_SUFFIXES, VECTOR_SUFFIXES, csv_text, is_vector_path
from .io.prediction_tags import prediction_models, read_prediction_tags
from .io.safety import check_outputs, check_writable, evaluate_files, metrics_files
from .models.configuration_utils import NO_CHANGE
from .runtime.environment import require
from .training.metrics import ConfusionMatrix

PREDICTION_SUFFIXES = (*RASTER_SUFFIXES, ".png")  # a prediction may also be a PNG (a plain class image)
LABEL_SUFFIXES = PREDICTION_SUFFIXES + VECTOR_SUFFIXES
BLOCK_ROWS = 512


class RunLengthEncoder:
    """Streaming run-length encoding of a binary mask read row block by row block (row-major, 1-indexed)."""

    def __init__(self) -> None:
        self._edges: list[int] = []  # where the mask turns on, off, on, ... (0-based pixel positions)
        self._offset = 0  # pixels consumed so far

    def update(self, mask: np.ndarray) -> None:
        """Append the next rows (h, w) of the mask."""
        flat = np.asarray(mask, dtype=bool).ravel()
        on = len(self._edges) % 2 == 1  # a run is open at the end of what came before
        changes = np.flatnonzero(np.diff(np.concatenate([[on], flat]).astype(np.int8)))
        self._edges += (changes + self._offset).tolist()
        self._offset += flat.size

    def finish(self) -> str:
        """The encoding: "start length start length ..." or "-1" for an empty mask."""
        edges = self._edges + [self._offset] * (len(self._edges) % 2)
        return " ".join(f"{s + 1} {e - s}" for s, e in zip(edges[::2], edges[1::2])) or "-1"


def _pairs(prediction: str, label: str) -> list[tuple[str, str, str]]:
    """(name, prediction, label) pairs: two files, or two folders matched by file stem."""
    if not locations.exists(prediction):
        raise DataError(f"The prediction '{prediction}' does not exist; pass the class raster written by segment.")
    if not locations.exists(label):
        raise DataError(f"The label '{label}' does not exist; pass a label raster or polygon layer.")
    pred_dir, label_dir = (locations.local_file(p) is not None and Path(p).is_dir() for p in (prediction, label))
    if pred_dir != label_dir:
        raise ConfigError(f"Give two files or two folders (got prediction '{prediction}' and label '{label}').")
    if not pred_dir:
        return [(locations.stem(prediction), str(prediction), str(label))]
    labels = {p.stem: p for p in sorted(Path(label).iterdir()) if p.suffix.lower() in LABEL_SUFFIXES}
    found = {p: labels.get(p.stem) or next((v for k, v in labels.items() if p.stem in k or k in p.stem), None)
             for p in sorted(Path(prediction).iterdir()) if p.suffix.lower() in PREDICTION_SUFFIXES}
    missing = [p.name for p, match in found.items() if match is None]
    pairs = [(p.stem, str(p), str(match)) for p, match in found.items() if match is not None]
    if missing:
        raise DataError(f"No label in '{label}' matches the prediction(s) {missing[:10]} (matched by file name); "
                        f"give labels with the same names.")
    if not pairs:
        raise DataError(f"The folder '{prediction}' holds no rasters to evaluate.")
    return pairs


def _class_info(path: str, requested: int | None) -> tuple[int, list[str] | None]:
    """Class count and names: requested, else the raster's category names, else its maximum value + 1."""
    gdal = require("osgeo.gdal")
    if (ds := gdal.Open(path)) is None:
        raise DataError(f"The prediction '{path}' could not be read as a raster.")
    ds.GetFileList()  # loads the .aux.xml with the category names
    band = ds.GetRasterBand(1)
    type_name = gdal.GetDataTypeName(band.DataType)
    if not type_name.startswith(("Byte", "Int", "UInt")):
        raise DataError(f"The prediction '{path}' holds {type_name} values, not class numbers (like segment's "
                        f"probabilities, {mention('segment.probabilities')}); evaluate scores classes: give the "
                        f"classes raster segment wrote ({mention('segment.output')}).")
    names = [str(n) for n in band.GetCategoryNames() or []] or None
    if requested:
        return int(requested), (names[:requested] if names and len(names) >= requested else None)
    if names:
        return len(names), names
    low, high = band.ComputeRasterMinMax(False)
    nodata = band.GetNoDataValue()
    if nodata is not None and high == nodata:
        high = low  # all nodata or nodata at the top: min is the best bound we have cheaply
    return max(int(high) + 1, 2), None


#: How to give a label mapping: each front end names its own control.
MAPPING_HINT = mention("evaluate.label_mapping")
#: How to score the label values as class numbers (an empty label_mapping), in both front ends' words.
CLASS_NUMBERS_HINT = ("in QGIS, Label values 'class numbers'; on the command line, each class mapped to itself, e.g. "
                      "--label-map 0=0 --label-map 1=1")


def _label_mapping(cfg: EvaluateConfig, pairs: list[tuple[str, str, str]], num_classes: int,
                   names: list[str] | None, callback: Callback) -> tuple[dict[str, int] | None, str]:
    """The label mapping to score with and where it came from: the user's (empty: the label values are the class
    numbers), else the one the first prediction carries (the model's training mapping), else the labels' coding
    recognised, else none."""
    if cfg.label_mapping == {}:
        return None, "the label values as class numbers"
    if cfg.label_mapping is not None:
        return cfg.label_mapping, "the label mapping given"
    if mapping := read_prediction_tags(pairs[0][1]).get("label_mapping"):
        said = ", ".join(f"{k} -> {v}" for k, v in mapping.items())
        callback.info(f"Label mapping {said} taken from the prediction (the model's training mapping); give "
                      f"one ({MAPPING_HINT}) to score with another.")
        return {str(k): int(v) for k, v in mapping.items()}, "the label mapping the prediction carries"
    return (_recognised_coding(pairs, cfg, num_classes, names, callback)
            or (None, "no label mapping (label values are class numbers)"))


def _recognised_coding(pairs: list[tuple[str, str, str]], cfg: EvaluateConfig, num_classes: int,
                       names: list[str] | None, callback: Callback) -> tuple[dict[str, int], str] | None:
    """Where no mapping is given or carried: raster labels of a two-class prediction coded as a 0/255 mask (255 is
    the ignore index: read as class numbers, its 255 would score as unlabelled) are read with that coding, said."""
    from .data.label_scan import coding_line, label_coding
    from .data.scene import SceneReader

    if num_classes != 2 or any(is_vector_path(label) for _, _, label in pairs):
        return None
    counts = {}
    for _, pred_path, label_path in pairs:
        callback.check_canceled()
        with SceneReader(pred_path, label=label_path, ignore_index=cfg.ignore_index, label_classes=num_classes,
                         callback=QuietCallback(), role="prediction") as reader:
            counts[label_path] = reader.label_value_counts()
    if (found := label_coding(counts, num_classes)) is None:
        return None
    callback.info(coding_line(*found, names[1] if names and len(names) > 1 else None, MAPPING_HINT))
    return found[0], f"the labels' coding ({found[1].split(',')[0]})"


def _check_label_classes(truth: np.ndarray, num_classes: int, names: list[str] | None, ignore_index: int,
                         label_path: str, mapping_source: str) -> None:
    """Label values that are not classes of the prediction: an error that says which mapping to give."""
    if bad := np.unique(truth[(truth != ignore_index) & (truth >= num_classes)])[:10].tolist():
        classes = ", ".join(f"{i} {n}" for i, n in enumerate(names)) if names else f"0..{num_classes - 1}"
        raise DataError(f"The label '{label_path}' has values {bad} that are not classes of the prediction "
                        f"({classes}) under {mapping_source}; map them to classes ({MAPPING_HINT}), e.g. "
                        f"{bad[0]}=1, or mark them unlabelled with {bad[0]}={ignore_index}.")


def _check_prediction_classes(pred: np.ndarray, valid: np.ndarray, num_classes: int, path: str) -> None:
    """Prediction values that are no class number (negative, or beyond the classes): an error naming them."""
    if bad := np.unique(pred[valid & ((pred < 0) | (pred >= num_classes))])[:10].tolist():
        raise DataError(f"The prediction '{path}' has values {bad} that are not class numbers (0..{num_classes - 1}); "
                        f"give the classes raster segment wrote ({mention('segment.output')}), or the class count "
                        f"({mention('evaluate.num_classes')}) that covers them.")


def model_suspect(prediction: str) -> str | None:
    """Where the model that made ``prediction`` (as segment recorded it) learned nothing by its own validation: the
    words that name it as the suspect; None when it found something, or cannot be read."""
    from .bundle.describe import learned_nothing
    from .bundle.store import read_metadata
    from .errors import DualStreamError

    for model in prediction_models(prediction):
        try:
            meta = read_metadata(model)
        except (DualStreamError, OSError, ValueError):
            continue  # moved or deleted since: the label mapping stays the hint
        if why := learned_nothing(meta.metrics, meta.data.class_names, meta.data.binary):
            return (f"the model '{Path(model).name}' is the suspect, not the label mapping: it learned nothing "
                    f"({why}); train it longer or on more labels")
    return None


def _check_mapping_used(matrix: ConfusionMatrix, mapping: dict[str, int] | None, mapping_source: str,
                        names: list[str] | None, callback: Callback, suspect: str | None = None) -> None:
    """A mapping none of whose target classes occurs in the labels scores every pixel as background: an error.
    Label classes the prediction never uses get a warning (a wrong mapping or a model that misses a class; the
    model named where ``suspect`` says it learned nothing)."""
    truth = matrix.matrix.sum(axis=1)
    predicted = matrix.matrix.sum(axis=0)
    targets = {int(v) for v in (mapping or {}).values() if 0 < int(v) < matrix.num_classes}
    if targets and not any(truth[t] for t in targets):
        raise DataError(f"None of the values of {mapping_source} ({', '.join(mapping)}) occurs in the label, so every "
                        f"labelled pixel would count as class 0. Give the mapping that fits the label's values "
                        f"({MAPPING_HINT}), or score the label values as class numbers ({CLASS_NUMBERS_HINT}).")
    for index in np.flatnonzero((truth > 0) & (predicted == 0)):
        name = names[index] if names and index < len(names) else f"class {index}"
        callback.warning(f"Class {index} ({name}) occurs in the label ({int(truth[index]):,} px) but never in the "
                         f"prediction; " + (suspect or f"check the label mapping ({mapping_source}) if that is "
                                                        f"unexpected") + ".")


def evaluate(cfg: EvaluateConfig, callback: Callback | None = None) -> dict[str, Any]:
    """Compare prediction(s) with label(s); write JSON + CSV (+ RLE CSV); return the metrics dict. ConfigError,
    DataError, AlignmentError: bad or non-overlapping inputs; OutputLockedError: another run writes the same file."""
    callback = callback or Callback()
    if not cfg.prediction or not cfg.label:
        raise ConfigError(f"evaluate needs a prediction ({mention('evaluate.prediction')}) and a label "
                          f"({mention('evaluate.label')}).")
    check_outputs(*evaluate_files(cfg))
    with output_locks({f"metrics ({mention('evaluate.output')})": cfg.output,
                       f"run-length CSV ({mention('evaluate.rle_csv')})": cfg.rle_csv,
                       f"HTML report ({mention('evaluate.html')})": cfg.html}):
        return _evaluate(cfg, callback)


def _evaluate(cfg: EvaluateConfig, callback: Callback) -> dict[str, Any]:
    from .data.scene import SceneReader

    pairs = _pairs(cfg.prediction, cfg.label)
    for path, what in ((cfg.output, "metrics file"), (cfg.rle_csv, "run-length CSV"), (cfg.html, "HTML report")):
        if path:
            check_writable(path, what)
    num_classes, names = _class_info(pairs[0][1], cfg.num_classes)
    label_mapping, mapping_source = _label_mapping(cfg, pairs, num_classes, names, callback)
    matrix = ConfusionMatrix(num_classes, cfg.ignore_index)
    images: list[dict[str, Any]] = []  # per image: its name, Dice, pixels and foreground counts
    rles: list[tuple[str, str]] = []
    for index, (name, pred_path, label_path) in enumerate(pairs):
        callback.check_canceled()
        image_matrix = ConfusionMatrix(num_classes, cfg.ignore_index)
        encoder = RunLengthEncoder()
        with SceneReader(pred_path, label=label_path, label_field=cfg.label_field, label_mapping=label_mapping,
                         ignore_index=cfg.ignore_index, label_classes=num_classes, callback=callback,
                         role="prediction") as reader:
            height, width = reader.grid.height, reader.grid.width
            for row in range(0, height, BLOCK_ROWS):
                callback.check_canceled()
                rows = min(BLOCK_ROWS, height - row)
                tile = reader.read(0, row, width, rows)
                pred = tile.vision[0].astype(np.int64)
                truth = tile.label.astype(np.int64)
                truth[~tile.valid] = cfg.ignore_index  # prediction nodata: not compared
                _check_prediction_classes(pred, tile.valid, num_classes, pred_path)
                _check_label_classes(truth, num_classes, names, cfg.ignore_index, label_path, mapping_source)
                image_matrix.update(pred, truth)
                encoder.update((pred == 1) & tile.valid)
                callback.progress(index + (row + rows) / height, len(pairs), Stage.EVALUATE)
        counts = image_matrix.matrix  # rows: labels; the foreground is class 1
        pixels, inter = int(counts.sum()), int(counts[1, 1])
        pred_fg, true_fg = int(counts[:, 1].sum()), int(counts[1].sum())
        if pixels == 0:
            callback.warning(f"The prediction '{pred_path}' and the label '{label_path}' share no valid pixels.")
        matrix.merge(image_matrix)
        images.append({"image": name, "dice": 2.0 * inter / (pred_fg + true_fg) if pred_fg + true_fg else None,
                       "pixels": pixels, "true_positive": inter, "predicted_foreground": pred_fg,
                       "true_foreground": true_fg})
        rles.append((name, encoder.finish()))
    if int(matrix.matrix.sum()) == 0:
        raise DataError(f"The prediction(s) and label(s) share no valid pixels (first pair: '{pairs[0][1]}' and "
                        f"'{pairs[0][2]}'); check that they cover the same area and the label's nodata.")
    _check_mapping_used(matrix, label_mapping, mapping_source, names, callback, model_suspect(pairs[0][1]))
    summary = matrix.summary(names if names and len(names) == matrix.num_classes else None)
    metrics: dict[str, Any] = {"prediction": cfg.prediction, "label": cfg.label, "num_classes": matrix.num_classes,
                               **summary, "images": len(images)}
    if names and str(names[0]).strip().lower() == NO_CHANGE:  # a change raster: change found against change labelled
        metrics["change"] = change_scores(matrix.matrix)
    if cfg.per_image_dice:
        scored = [r["dice"] for r in images if r["dice"] is not None]
        metrics.update(dice=float(np.mean(scored)) if scored else None, dice_images=len(scored),
                       dice_images_empty_excluded=len(images) - len(scored), per_image=images)
    if cfg.output:  # only where asked: the figures are returned (and printed) either way
        json_path, csv_path, confusion_path = metrics_files(cfg.output)
        write_text_atomic(json_path, json.dumps(metrics, indent=2))
        write_text_atomic(csv_path, _class_csv(summary))
        write_text_atomic(confusion_path, _confusion_csv(summary))
    if cfg.rle_csv:
        # csv_text: class names and file names neutralised against formula injection
        write_text_atomic(cfg.rle_csv, csv_text(["ImageId", "EncodedPixels"], rles))
        metrics["rle_csv"] = cfg.rle_csv
    if cfg.html:
        write_text_atomic(cfg.html, report_html(metrics))
    wrote = f"wrote {', '.join(repr(p) for p in metrics_files(cfg.output))}" if cfg.output else (
        f"no metrics file written ({mention('evaluate.output')} not given)")
    callback.info(f"mIoU {summary['miou']:.4f}, pixel accuracy {summary['pixel_accuracy']:.4f} over "
                  f"{summary['pixels']:,} pixels; {wrote}.")
    return metrics


def change_scores(matrix: np.ndarray) -> dict[str, float | None]:
    """Precision, recall, F1 and IoU of change (any class but 0) in a confusion matrix (rows: labels), whatever kinds
    of change the two name: a from-to change raster scores against a change mask."""
    tp, fp, fn = int(matrix[1:, 1:].sum()), int(matrix[0, 1:].sum()), int(matrix[1:, 0].sum())

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "iou": ratio(tp, tp + fp + fn), "changed_labelled": tp + fn, "changed_found": tp + fp}


#: Per-class metrics of the summary, as the report's (and the QGIS table's) columns.
PER_CLASS = ("iou", "f1", "precision", "recall")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _class_csv(summary: dict[str, Any]) -> str:
    matrix = np.asarray(summary["confusion_matrix"])
    rows = [[i, name, *(_fmt(summary[key][i]) for key in PER_CLASS), int(matrix[i].sum()), int(matrix[:, i].sum())]
            for i, name in enumerate(summary["class_names"])]
    rows.append(["", "mean", _fmt(summary["miou"]), "", "", "", int(matrix.sum()), ""])
    rows.append(["", "pixel_accuracy", _fmt(summary["pixel_accuracy"]), "", "", "", "", ""])
    return csv_text(["class_id", "class_name", *PER_CLASS, "truth_pixels", "predicted_pixels"], rows)


def _confusion_csv(summary: dict[str, Any]) -> str:
    names = summary["class_names"]
    rows = [[f"truth {n}", *row] for n, row in zip(names, summary["confusion_matrix"])]
    return csv_text(["", *[f"predicted {n}" for n in names]], rows)


def class_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per class (class_id, class_name and the per-class metrics) from the metrics."""
    return [{"class_id": i, "class_name": str(name), **{key: metrics[key][i] for key in PER_CLASS}}
            for i, name in enumerate(metrics["class_names"])]


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"


def report_html(metrics: dict[str, Any]) -> str:
    """A small self-contained HTML page: the summary, the per-class table and the confusion matrix."""
    rows = class_rows(metrics)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ("class", "name", *PER_CLASS))
    body = "".join("<tr>" + f"<td>{r['class_id']}</td><td>{html.escape(r['class_name'])}</td>"
                   + "".join(f"<td>{_cell(r[k])}</td>" for k in PER_CLASS) + "</tr>" for r in rows)
    names = [r["class_name"] for r in rows]
    cm_head = "<th>truth \\ predicted</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names)
    cm_body = "".join(f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{int(v):,}</td>" for v in line) + "</tr>"
                      for name, line in zip(names, metrics["confusion_matrix"]))
    summary = {k: metrics[k] for k in ("miou", "pixel_accuracy", "foreground_iou")}
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>DualStream evaluation</title><style>"
        "body{font-family:sans-serif}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .5em}"
        "</style></head><body><h1>DualStream evaluation</h1>"
        f"<p>Prediction: {html.escape(str(metrics['prediction']))}<br>"
        f"Labels: {html.escape(str(metrics['label']))}</p>"
        "<p>" + ", ".join(f"<b>{k}</b> {_cell(v)}" for k, v in summary.items()) + "</p>"
        f"<h2>Per class</h2><table><tr>{head}</tr>{body}</table>"
        f"<h2>Confusion matrix (pixels)</h2><table><tr>{cm_head}</tr>{cm_body}</table>"
        f"<h2>All metrics</h2><pre>{html.escape(json.dumps(metrics, indent=2, default=str))}</pre></body></html>"
    )
