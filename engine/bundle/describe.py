"""A model bundle described in words from its JSON metadata only (no weights, no torch): what the model expects
(:func:`describe_bundle`, shown by the QGIS Segment dialogs and log) and the full account ``dualstream info`` prints
(:func:`format_metadata`), which starts with the same lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config.bands import BandSelection
from ..data.ground import DEGREES
from ..data.metadata import DataMetadata
from ..io.formats import ONNX
from ..models.configuration_utils import ModelConfig
from ..models.encoders.weights import model_pretrained
from ..text import name, printable
from .imported import is_imported
from .schema import BundleMetadata
from .view import model_view


def _resolution(data: DataMetadata) -> str:
    """"1 m/px"; in metres on the ground with the map units beside them where these are no metres (Mercator's at the
    training latitude, degrees, feet). Imagery without a CRS has no size on the ground, so none is given."""
    if not data.crs:
        return "an unknown pixel size (imagery without georeferencing)"
    resolution = model_view(data).resolution
    if resolution is None:
        return "an unknown pixel size"
    (x, y), ground = resolution.size, resolution.ground
    units = "deg/px" if ground.kind == DEGREES else "map units/px"
    size = f"{x:g} {units}" if y == x else f"{x:g} x {y:g} {units}"
    if ground.kind != DEGREES and not ground.mercator and ground.metres_per_unit == 1.0:
        return size.replace(units, "m/px")  # metres already (UTM and the other projections)
    if resolution.latitude is None and (ground.kind == DEGREES or ground.mercator):
        return f"{size} of a {'geographic' if ground.kind == DEGREES else 'Mercator'} CRS (the training latitude " \
               f"is not recorded)"
    metres = resolution.metres()
    where = f" at latitude {resolution.latitude:.4g}" if resolution.latitude is not None else ""
    across = " east-west" if ground.kind == DEGREES else ""
    return f"{metres:.4g} m/px{across} on the ground ({size}{where})"


def aux_inputs(data: DataMetadata) -> list[str]:
    """The aux inputs in the order the model stacks them: "1. GEMS_* (12 bands)" or "1. 48 bands"."""
    if not data.aux_channels:
        return []
    prefixes = list(data.aux_prefixes)
    per_file = list(data.aux_file_bands)
    count = max(len(prefixes), len(per_file), data.aux_files_per_scene or 1)
    if not per_file:
        per_file = [data.aux_bands_per_file or data.aux_channels // count] * count
    names = [f"{prefix}*" for prefix in prefixes] + ["aux raster"] * (count - len(prefixes))
    bands = per_file + ["?"] * (count - len(per_file))
    return [f"{i}. {n} ({b} band{'' if b == 1 else 's'})" for i, (n, b) in enumerate(zip(names, bands), 1)]


def _image_line(data: DataMetadata) -> str:
    named = f" ({', '.join(data.band_names)})" if data.band_names else ""
    # a change model takes its dates in time order, each with these bands
    what = ("image" if data.dates == 1 else "two dates (before, after), each" if data.dates == 2
            else f"{data.dates} dates in time order{_months(data)}, each")
    if data.bands:
        return (f"  {what}: bands {','.join(str(b) for b in data.bands)}{named} (counted from 1) of a "
                f"{data.image_bands or '?'}-band image{_range(data)}")
    plural = "" if data.vision_bands == 1 else "s"
    return f"  {what}: {data.vision_bands} band{plural}{named}, in the training order{_range(data)}"


def _months(data: DataMetadata) -> str:
    """A season model's training months in words (empty when it records none)."""
    from ..time_axis import months_said

    return f" (months {months_said(data.date_months)})" if data.date_months else ""


def _range(data: DataMetadata) -> str:
    """The value range the model expects, in words (empty when it records none)."""
    low_high = model_view(data).value_range
    return f", values {format_value(low_high[0])}..{format_value(low_high[1])}" if low_high else ""


def _classes(data: DataMetadata) -> str:
    names, colors = [name(n) for n in data.class_names], [name(c) for c in data.class_colors]
    return ", ".join(f"{i} {n}" + (f" ({colors[i]})" if i < len(colors) else "") for i, n in enumerate(names))


def describe_imported(path: str, meta: BundleMetadata) -> list[str]:
    """What a model made elsewhere expects: its bands in order, their scaling, its classes and where it is from."""
    model, data = meta.model, meta.data
    view = model_view(data)
    info, names = view.record, view.band_names
    order = f" in this order: {', '.join(map(name, names))}" if names else ", in its maker's order"
    scaling = (f"(raw x {format_value(float(info.get('scale', 1.0)))} - mean) / std, mean "
               f"{format_value(info.get('mean', []))}, std {format_value(info.get('std', []))}")
    tile = f"{data.tile_size}-px tiles" + (" (fixed by the graph)" if model.fixed_tile else "")
    where = view.pixel_size_metres() if view.resolution is not None and view.resolution.recorded else None
    made = f", made for {where:g} m/px" if where else ""
    lines = [f"Model {name(Path(path).name)}: imported ONNX model ({model.output} output, {model.layout}), run by "
             f"onnxruntime with {tile}{made}",
             f"  image: {data.vision_bands} bands{order}{_range(data)}",
             f"  input scaling: {scaling}",
             f"  classes: {_classes(data)}"]
    tiling = [f"tiles overlapping by {100 * float(info['overlap']):.3g} %"] if info.get("overlap") is not None else []
    tiling += [f"the scene mirrored by {info['border']} px"] if info.get("border") else []
    if model.num_classes == 1:
        tiling.append(f"threshold {format_value(float(model.threshold))}")
    if tiling:
        lines.append(f"  as its maker ran it (segment's defaults for it): {', '.join(tiling)}")
    if about := ", ".join(f"{k} {name(info[k])}" for k in ("task", "sensor", "source", "licence") if info.get(k)):
        lines.append(f"  {about}")
    if info.get("assumed"):  # a graph that says nothing of itself: Deepness's defaults, each one said
        lines.append("  carries no description; runs as Deepness runs such a model, assuming:")
        lines += [f"    - {printable(item)}" for item in info["assumed"]]
    return lines


#: One class at this share of a model's validation or result pixels is one class nearly everywhere.
ONE_CLASS_SHARE = 0.99
#: ... and a model's validation labels holding that class on at most this share show other classes it missed.
ONE_CLASS_LABELLED = 0.9


def nearly_one_class(counts: Any) -> tuple[int, float] | None:
    """(the class, its share of the pixels) where one class holds :data:`ONE_CLASS_SHARE` of the pixels counted
    (``counts``: pixels per class) and there are classes to choose from; else None. The rule for a result: a season
    from fewer dates than it learnt from (``segment.scene_outputs.judge_few_dates``), suggest's ranking."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    if total == 0 or len(counts) < 2:
        return None
    top = int(counts.argmax())
    share = float(counts[top] / total)
    return (top, share) if share >= ONE_CLASS_SHARE else None


def learned_nothing(metrics: dict[str, Any], class_names: list[str], binary: bool) -> str | None:
    """Why the validation of a model's best epoch (``metrics``: the bundle's, with the shares training records) shows
    that it learned nothing, in words: it predicts class 0 everywhere, or (several classes) one class nearly
    everywhere where its labels hold others too, or (``binary``: one foreground class, scored by its IoU) it scores
    below calling every pixel foreground. None when it found something, or when nothing tells
    (no labelled foreground to validate on, a bundle that records no shares)."""
    predicted, labelled = metrics.get("val_predicted_share"), metrics.get("val_labelled_share")
    if not isinstance(predicted, (int, float)) or not isinstance(labelled, (int, float)) or labelled <= 0:
        return None
    names = [str(n) for n in class_names] or ["0"]
    found = names[1] if binary and len(names) > 1 else "another class"
    if predicted <= 0:
        what = f"finds no {found} anywhere" if binary else f"predicts {names[0]} everywhere"
        return f"it {what} on its validation pixels, where {_percent(labelled)} % are {found}"
    top, top_predicted, top_labelled = (metrics.get(f"val_top_{k}") for k in ("class", "predicted_share",
                                                                              "labelled_share"))
    if (not binary and isinstance(top, int) and isinstance(top_predicted, (int, float))
            and isinstance(top_labelled, (int, float)) and top_predicted >= ONE_CLASS_SHARE
            and top_labelled <= ONE_CLASS_LABELLED):
        one = names[top] if top < len(names) else str(top)
        return (f"it predicts {one} on {_percent(top_predicted)} % of its validation pixels, where "
                f"{_percent(top_labelled)} % are {one}")
    iou = metrics.get("val_iou")
    if binary and isinstance(iou, (int, float)) and iou < labelled:
        return (f"its validation IoU {iou:.3f} is below the {labelled:.3f} of calling every pixel {found} (it puts "
                f"{found} on {_percent(predicted)} % of its validation pixels, where {_percent(labelled)} % are)")
    return None


def _percent(share: float) -> str:
    """A share as a percentage of two significant digits, whole from 10 up (``.2g`` writes 100 as ``1e+02``)."""
    return f"{100 * share:.2g}" if 100 * share < 10 else f"{100 * share:.0f}"


def describe_bundle(path: str, meta: BundleMetadata) -> list[str]:
    """Log lines saying what the model in ``path`` expects."""
    model, data = meta.model, meta.data
    if is_imported(meta):
        return [printable(line) for line in describe_imported(path, meta)]
    encoder = getattr(model, "encoder_name", None)  # a named encoder (Prithvi, DINOv3, ResNet, ...), else MiT's
    lines = [
        f"Model {name(Path(path).name)}: {model.name} (preset {model.preset}"
        f"{f', encoder {encoder}' if encoder else ''}), trained at {_resolution(data)} with "
        f"{data.tile_size}-px tiles",
        _image_line(data),
    ]
    source = model_pretrained(model).said()
    if source:  # what the model started from: a foundation model's release, an ImageNet checkpoint, a folder
        lines.append(f"  {encoder or 'vision'} encoder pretrained from {source}")
    elif encoder and not meta.parent:
        lines.append(f"  {encoder} encoder trained from random weights (no pretrained weights)")
    if model_view(data, model).takes_date_and_place:
        lines.append("  date and place: each tile's (year, day of year, latitude, longitude), from the image's STAC "
                     "item, tags or file name and its CRS")
    if data.x_bands:
        lines.append(f"  aux input: bands {','.join(str(b) for b in data.x_bands)} of the same image (X bands)")
    else:
        aux = aux_inputs(data)
        lines.append("  aux inputs, in this order: " + ("; ".join(aux) if aux else "none (vision-only model)"))
    lines.append(f"  classes: {_classes(data) or '?'}")
    view = model_view(data, model)
    picked = [f"threshold {format_value(view.threshold)}"] if view.threshold else []
    picked += [f"test-time {view.tta}"] if view.tta and view.tta != "none" else []
    if picked:  # a change model's, picked on validation; segment's own settings override them
        lines.append(f"  as its training picked (segment's defaults for it): {', '.join(picked)}")
    mapping = data.label_mapping
    lines.append("  training labels: " + (", ".join(f"{k} -> {v}" for k, v in mapping.items()) if mapping
                                          else "values are classes"))
    created, iou = str(meta.created or ""), meta.metrics.get("val_iou")  # when, and the best validation score
    when = f"trained {created[:16].replace('T', ' ')}" if created else "training date unknown"
    epoch = f" (epoch {meta.best_epoch})" if meta.best_epoch is not None else ""
    lines.append(f"  {when}, " + (f"validation IoU {iou:.3f}{epoch}" if isinstance(iou, (int, float))
                                  else "no validation score"))
    if data.held_out:  # where a map of it can be scored on pixels training never saw
        held = [f"'{w['scene']}' columns {w['window'][0]}-{w['window'][0] + w['window'][2] - 1}, rows "
                f"{w['window'][1]}-{w['window'][1] + w['window'][3] - 1}" for w in data.held_out[:3]]
        more = f" and {len(data.held_out) - 3} more" if len(data.held_out) > 3 else ""
        lines.append(f"  validated on windows held out of training: {'; '.join(held)}{more}")
    if nothing := learned_nothing(meta.metrics, data.class_names, data.binary):
        lines.append(f"  warning: the model learned nothing ({nothing}); train it longer or on more labels")
    if parent := meta.parent:
        lines.append(f"  fine-tuned from {parent.get('name')} (sha256 {str(parent.get('sha256', ''))[:12]}..., "
                     f"{parent.get('family')} {parent.get('preset')})")
    return [printable(line) for line in lines]  # names from the file never drive a terminal or a log


def format_value(value: Any) -> str:
    """A metadata value as people read it: floats to 4 significant digits, lists joined by commas."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def _aux_input(model: ModelConfig, data: DataMetadata) -> str:
    """The model's aux input in words: none, the image's own X bands, or aux rasters at their ratio."""
    if not model.aux_channels:
        return "no aux input"
    if data.x_bands:
        return f"aux channels {model.aux_channels} (X bands of the image)"
    ratio = model.aux_ratio or 1
    where = "on the image grid" if ratio == 1 else f"at 1/{ratio} of the image grid"
    return f"aux channels {model.aux_channels}, aux ratio {ratio} (aux rasters read {where})"


def format_metadata(path: str, meta: BundleMetadata) -> str:
    """A bundle's metadata as readable lines: what it expects (:func:`describe_bundle`), then its architecture,
    data settings and statistics, training settings and metrics."""
    model, data, metrics = meta.model, meta.data, meta.metrics
    classes = data.num_classes
    # several output channels become classes by a softmax, or (an imported graph's scores) as Deepness reads them
    head = "scores 0..1 each, Deepness's reading" if getattr(model, "output", None) == "scores" else "softmax"
    encoder = getattr(model, "encoder", None)
    onnx = ONNX.matches(path)
    made = ", ".join(f"{k} {v}" for k, v in meta.versions.items())
    lines = [
        f"{'ONNX model' if onnx else 'Model bundle'}: {path}",
        *([] if onnx and not meta.created else  # one made elsewhere records neither
          [f"  format {meta.format} v{meta.format_version}, created {meta.created or '?'}"]),
        *(["  made with " + made] if made else []),
        "What it expects:",
        *("  " + line.strip() for line in describe_bundle(path, meta)),
        f"Architecture: {model.name} family (preset {model.preset}" + (f", encoder {encoder}" if encoder else "") + ")",
        f"  vision channels {model.vision_channels}, {_aux_input(model, data)}, outputs {classes} "
        f"({'binary, sigmoid' if classes == 1 else head})",
        "Data:",
    ]
    if data.label_mapping is not None:
        mapping = ", ".join(f"{k} -> {v}" for k, v in data.label_mapping.items())
        lines.append(f"  label mapping: {mapping or 'values are classes'}; other values -> "
                     f"{data.label_default_class}; ignore index {data.ignore_index}")
    if data.bands or data.x_bands:
        selection = BandSelection.of(data.bands, data.x_bands)
        lines.append(f"  band selection of the {data.image_bands}-band training images: "
                     f"{selection.describe(data.image_bands or 0)}" + (" (X = the aux input)" if selection.x else ""))
    for label, stats in (("vision", data.vision_stats), ("aux", data.aux_stats)):
        if stats is not None:
            n = stats.bands
            more = " ..." if n > 4 else ""
            lines.append(f"  {label} band statistics ({stats.method}, {n} bands): low "
                         f"{format_value(stats.low[:4])}{more}; high {format_value(stats.high[:4])}{more}")
    if (train := meta.train_config()) is not None:
        budget = train.time_budget
        within = f" within a time budget of {budget:g} min" if budget else ""
        lines.append(f"Training: {train.warmup_epochs} frozen + {'at most ' if budget else ''}{train.epochs} "
                     f"epochs{within}, batch {train.batch_size}, lr {format_value(train.learning_rate)}, schedule "
                     f"{train.schedule}, seed {train.seed}")
        lines.append(f"  loss {train.loss.describe(model.name)}, optimizer {train.optimizer}")
    if metrics:
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in metrics.items() if k != "epoch")
        lines.append(f"Metrics (best epoch {meta.best_epoch}): {shown}")
    return printable("\n".join(lines), lines=True)  # what a file says never drives the terminal
