"""What a model bundle expects, in words for the Segment log: family, image bands, aux inputs in order, classes,
training resolution and tile size, label mapping. Reads the bundle's JSON metadata only (no weights, no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _resolution(gsd: Any) -> str:
    if isinstance(gsd, (list, tuple)) and gsd:
        x = float(gsd[0])
        return f"{x:g} m/px" if len(gsd) < 2 or float(gsd[1]) == x else f"{x:g} x {float(gsd[1]):g} m/px"
    return "unknown"


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
        f"{_resolution(data.get('gsd'))} with {data.get('tile_size', '?')}-px tiles",
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
