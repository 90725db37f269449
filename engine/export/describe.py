"""A model bundle described in words, from its JSON metadata only (no weights, no torch): what the model expects
(:func:`describe_bundle`: family, image bands, aux inputs in order, classes, training resolution and tile size, label
mapping), shown by the QGIS Segment dialogs and log, and the full account ``dualstream info`` prints
(:func:`format_metadata`), which starts with the same lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..data.bands import BandSelection


def _resolution(gsd: Any, crs: Any) -> str:
    """"1 m/px"; the pixel size of imagery without a CRS is no size on the ground, so it is not given as one."""
    if not crs:
        return "an unknown pixel size (imagery without georeferencing)"
    if isinstance(gsd, (list, tuple)) and gsd:
        unit = " deg/px" if str(crs).lstrip().upper().startswith("GEOG") else " m/px"
        x = float(gsd[0])
        return f"{x:g}{unit}" if len(gsd) < 2 or float(gsd[1]) == x else f"{x:g} x {float(gsd[1]):g}{unit}"
    return "an unknown pixel size"


def aux_inputs(data: dict[str, Any]) -> list[str]:
    """The aux inputs in the order the model stacks them: "1. GEMS_* (12 bands)" or "1. 48 bands"."""
    if not data.get("aux_channels"):
        return []
    prefixes = list(data.get("aux_prefixes") or [])
    per_file = list(data.get("aux_file_bands") or [])
    count = max(len(prefixes), len(per_file), int(data.get("aux_files_per_scene") or 1))
    if not per_file:
        per_file = [data.get("aux_bands_per_file") or data["aux_channels"] // count] * count
    lines = []
    for index in range(count):
        name = f"{prefixes[index]}*" if index < len(prefixes) else "aux raster"
        bands = per_file[index] if index < len(per_file) else "?"
        lines.append(f"{index + 1}. {name} ({bands} band{'' if bands == 1 else 's'})")
    return lines


def _image_line(data: dict[str, Any], model: dict[str, Any]) -> str:
    if data.get("bands"):
        return (f"  image: bands {','.join(str(b) for b in data['bands'])} (counted from 1) of a "
                f"{data.get('image_bands', '?')}-band image")
    return f"  image: {data.get('vision_bands', model.get('vision_channels', '?'))} bands, in the training order"


def describe_bundle(path: str, meta: dict[str, Any]) -> list[str]:
    """Log lines saying what the model in ``path`` expects."""
    model, data = meta.get("model", {}), meta.get("data", {})
    names = [str(n) for n in data.get("class_names", [])]
    colors = list(data.get("class_colors", []))
    classes = ", ".join(f"{i} {n}" + (f" ({colors[i]})" if i < len(colors) else "") for i, n in enumerate(names))
    lines = [
        f"Model {Path(path).name}: {model.get('name', '?')} (preset {model.get('preset', '?')}), trained at "
        f"{_resolution(data.get('gsd'), data.get('crs'))} with {data.get('tile_size', '?')}-px tiles",
        _image_line(data, model),
    ]
    if data.get("x_bands"):
        lines.append(f"  aux input: bands {','.join(str(b) for b in data['x_bands'])} of the same image (X bands)")
    else:
        aux = aux_inputs(data)
        lines.append("  aux inputs, in this order: " + ("; ".join(aux) if aux else "none (vision-only model)"))
    lines.append(f"  classes: {classes or '?'}")
    mapping = data.get("label_mapping")
    lines.append("  training labels: " + (", ".join(f"{k} -> {v}" for k, v in mapping.items()) if mapping
                                          else "values are classes"))
    lines.append("  " + _trained_line(meta))
    return lines


def _trained_line(meta: dict[str, Any]) -> str:
    """When it was trained and how well it scored on its validation tiles."""
    created = str(meta.get("created") or "")
    when = f"trained {created[:16].replace('T', ' ')}" if created else "training date unknown"
    metrics = meta.get("metrics") or {}
    iou = metrics.get("val_iou")
    if isinstance(iou, (int, float)):
        epoch = f" (epoch {metrics['epoch']})" if metrics.get("epoch") is not None else ""
        return f"{when}, validation IoU {iou:.3f}{epoch}"
    return f"{when}, no validation score"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _aux_input(model: dict[str, Any], data: dict[str, Any]) -> str:
    """The model's aux input in words: none, the image's own X bands, or aux rasters at their ratio."""
    if not model.get("aux_channels"):
        return "no aux input"
    if data.get("x_bands"):
        return f"aux channels {model['aux_channels']} (X bands of the image)"
    ratio = int(model.get("aux_ratio") or 1)
    where = "on the image grid" if ratio == 1 else f"at 1/{ratio} of the image grid"
    return f"aux channels {model['aux_channels']}, aux ratio {ratio} (aux rasters read {where})"


def format_metadata(path: str, meta: dict[str, Any]) -> str:
    """A bundle's metadata as readable lines: what it expects (:func:`describe_bundle`), then its architecture,
    data settings and statistics, training settings and metrics."""
    model, data = meta.get("model", {}), meta.get("data", {})
    train, metrics, versions = meta.get("train") or {}, meta.get("metrics") or {}, meta.get("versions") or {}
    classes = data.get("num_classes", model.get("num_classes"))
    lines = [
        f"Model bundle: {path}",
        f"  format {meta.get('format')} v{meta.get('format_version')}, created {meta.get('created', '?')}",
        "  made with " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "What it expects:",
        *("  " + line.strip() for line in describe_bundle(path, meta)),
        f"Architecture: {model.get('name')} family (preset {model.get('preset')}"
        + (f", encoder {model['encoder']}" if model.get("encoder") else "") + ")",
        f"  vision channels {model.get('vision_channels')}, {_aux_input(model, data)}, outputs {classes} "
        f"({'binary, sigmoid' if classes == 1 else 'softmax'})",
        "Data:",
    ]
    if data.get("label_mapping") is not None:
        mapping = ", ".join(f"{k} -> {v}" for k, v in data["label_mapping"].items())
        lines.append(f"  label mapping: {mapping or 'values are classes'}; other values -> "
                     f"{data.get('label_default_class', 0)}; ignore index {data.get('ignore_index', 255)}")
    if data.get("bands") or data.get("x_bands"):
        selection = BandSelection.from_metadata(data)
        lines.append(f"  band selection of the {data.get('image_bands')}-band training images: "
                     f"{selection.describe(int(data.get('image_bands') or 0))}"
                     + (" (X = the aux input)" if selection.x else ""))
    for label, key in (("vision", "vision_stats"), ("aux", "aux_stats")):
        stats = data.get(key)
        if stats:
            n = len(stats.get("low", []))
            low, high = stats.get("low", [])[:4], stats.get("high", [])[:4]
            more = " ..." if n > 4 else ""
            lines.append(f"  {label} band statistics ({stats.get('method')}, {n} bands): low {_fmt(low)}{more}; "
                         f"high {_fmt(high)}{more}")
    if train:
        budget = train.get("time_budget")
        within = f" within a time budget of {budget:g} min" if budget else ""
        lines.append(f"Training: {train.get('warmup_epochs')} frozen + {'at most ' if budget else ''}"
                     f"{train.get('epochs')} epochs{within}, batch "
                     f"{train.get('batch_size')}, lr {_fmt(train.get('learning_rate'))}, schedule "
                     f"{train.get('schedule')}, seed {train.get('seed')}")
        loss = TrainConfig.from_dict({k: v for k, v in train.items() if k in ("loss", "focal_weight",
                                                                              "lovasz_weight")}).loss
        lines.append(f"  loss {loss.describe(str(model.get('name')))}, optimizer {train.get('optimizer', 'adamw')}")
    if metrics:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in metrics.items() if k != "epoch")
        lines.append(f"Metrics (best epoch {metrics.get('epoch')}): {shown}")
    return "\n".join(lines)
