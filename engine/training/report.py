"""Training outputs beside the bundle: metrics CSV/JSON, loss/IoU curves, a prediction grid, an HTML report,
each written atomically. Plots use matplotlib's object API with the Agg canvas (no pyplot, no global backend
switch), so this works headless and inside QGIS. The HTML embeds the PNGs: one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle.describe import format_value, learned_nothing
from ..bundle.schema import BundleMetadata
from ..data.band_names import RgbChoice, pick_rgb
from ..io.atomic import write_bytes_atomic
from ..io.formats import dict_csv_text, json_safe
from ..io.writers import hex_to_rgb

IGNORE_COLOR = (0.5, 0.5, 0.5)


REPORT_SUFFIXES = {"metrics_csv": "_metrics.csv", "metrics_json": "_metrics.json", "curves_png": "_curves.png",
                   "predictions_png": "_predictions.png", "report_html": "_report.html",
                   "stac_item": "_stac.json"}  # stac_item: the STAC MLM model card (engine/export/stac.py)


def report_paths(output: str | os.PathLike) -> dict[str, str]:
    """Paths of the outputs that belong to bundle ``output`` (``dir/<stem>_metrics.csv`` and so on)."""
    output = Path(output)
    return {key: f"{output.parent / output.stem}{suffix}" for key, suffix in REPORT_SUFFIXES.items()}


def write_metrics(history: list[dict[str, Any]], csv_path: str | os.PathLike, json_path: str | os.PathLike) -> None:
    """One row per epoch. Per-class IoU lists become ``val_iou_class<i>`` columns in the CSV."""
    write_bytes_atomic(json_path, json.dumps(json_safe(history), indent=2).encode("utf-8"))
    rows = [{**{k: v for k, v in entry.items() if not isinstance(v, list)},
             **{f"val_iou_class{i}": v for i, v in enumerate(entry.get("val_class_iou") or [])}} for entry in history]
    columns = list(dict.fromkeys(k for row in rows for k in row))  # every epoch's keys, in order of appearance
    text = dict_csv_text(columns, ({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
                                   for row in rows))
    write_bytes_atomic(csv_path, text.encode("utf-8"))


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _write_png(fig: Any, path: str | os.PathLike) -> bytes:
    """The figure as PNG, written to ``path``; returns its bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes_atomic(path, buffer.getvalue())
    return buffer.getvalue()


def plot_curves(history: list[dict[str, Any]], path: str | os.PathLike) -> bytes:
    """Loss (train, validation) and validation IoU per epoch; the frozen-encoder stage is shaded."""
    fig = _figure(10, 4)
    ax_loss, ax_iou = fig.subplots(1, 2)
    epochs = [e["epoch"] for e in history]
    ax_loss.plot(epochs, [e.get("train_loss", np.nan) for e in history], "o-", label="train")
    if any("val_loss" in e for e in history):
        ax_loss.plot(epochs, [e.get("val_loss", np.nan) for e in history], "o-", label="validation")
    ax_loss.set(title="Loss", xlabel="epoch")
    if any("val_iou" in e for e in history):
        ax_iou.plot(epochs, [e.get("val_iou", np.nan) for e in history], "o-", color="tab:green", label="IoU")
        ax_iou.set_ylim(0, 1)
        ax_iou.legend()
    else:
        ax_iou.text(0.5, 0.5, "no validation", ha="center", va="center", transform=ax_iou.transAxes)
    ax_iou.set(title="Validation IoU", xlabel="epoch")
    frozen = [e["epoch"] for e in history if e.get("stage") == "frozen"]
    for ax in (ax_loss, ax_iou):
        if frozen:
            ax.axvspan(min(frozen) - 0.5, max(frozen) + 0.5, color="0.9", zorder=0,
                       label="encoders frozen" if ax is ax_loss else "_frozen")
        ax.grid(alpha=0.3)
    ax_loss.legend()
    fig.tight_layout()
    return _write_png(fig, path)


def quicklook(image: np.ndarray, rgb: RgbChoice | None = None) -> np.ndarray:
    """(C,H,W) normalised bands -> (H,W,3) in [0,1], 2-98 % stretch: the bands ``rgb`` chose (default: the
    first three, or the first as grey)."""
    rgb = rgb or pick_rgb([None] * image.shape[0])
    rgb = np.moveaxis(image[list(rgb.positions)].astype(np.float64), 0, -1)
    out = np.zeros_like(rgb)
    for c in range(3):
        band = rgb[..., c]
        finite = band[np.isfinite(band)]
        if finite.size == 0:
            continue
        low, high = np.percentile(finite, [2, 98])
        out[..., c] = np.clip((band - low) / (high - low), 0, 1) if high > low else 0.0
    return np.nan_to_num(out)


def colorize(classes: np.ndarray, colors: list[str]) -> np.ndarray:
    """Class map (H,W) -> RGB (H,W,3) in [0,1]; values outside the palette (ignore index) grey."""
    palette = np.array([np.divide(hex_to_rgb(c), 255) for c in colors] + [IGNORE_COLOR], dtype=np.float64)
    index = np.where((classes >= 0) & (classes < len(colors)), classes, len(colors)).astype(np.int64)
    return palette[index]


def plot_predictions(previews: list[dict[str, Any]], class_colors: list[str], path: str | os.PathLike,
                     rgb: RgbChoice | None = None) -> bytes:
    """A grid with one row per validation tile: image quicklook (the bands ``rgb`` chose, named in the figure's
    caption), truth, prediction."""
    rows = max(1, len(previews))
    fig = _figure(7.5, 2.5 * rows + 0.4)
    axes = np.atleast_2d(fig.subplots(rows, 3, squeeze=False))
    for r, sample in enumerate(previews):
        panels = (quicklook(sample["image"], rgb), colorize(sample["truth"], class_colors),
                  colorize(sample["prediction"], class_colors))
        for c, (panel, title) in enumerate(zip(panels, ("image", "truth", "prediction"))):
            axes[r, c].imshow(panel, interpolation="nearest")
            if r == 0:
                axes[r, c].set_title(title)
    if previews:
        shown = rgb or pick_rgb([None] * previews[0]["image"].shape[0])
        fig.text(0.5, 0.005, f"image: {shown.how}", ha="center", va="bottom", fontsize=8, wrap=True)
    for ax in axes.ravel():
        ax.set_axis_off()
    if not previews:
        axes[0, 1].text(0.5, 0.5, "no validation tiles", ha="center", va="center", transform=axes[0, 1].transAxes)
    fig.tight_layout(rect=(0, 0.04 if previews else 0, 1, 1))
    return _write_png(fig, path)


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _fmt(value: Any) -> str:
    return "" if value is None else format_value(value)


def render_html(title: str, metadata: BundleMetadata, history: list[dict[str, Any]], images: dict[str, bytes],
                stopped: str | None = None, rgb: RgbChoice | None = None) -> str:
    """A self-contained page: summary, settings, metrics per epoch, embedded PNGs; ``stopped``: why training
    ended before its last epoch; ``rgb``: the preview's bands."""
    model, data, train, best = metadata.model, metadata.data, metadata.train_config(), metadata.metrics
    summary = [("model", f"{model.name} ({model.preset})"),
               ("best epoch", metadata.best_epoch), ("validation IoU", best.get("val_iou")),
               ("validation mIoU", best.get("val_miou")), ("classes", data.class_names),
               ("vision bands", data.vision_bands), ("aux channels", data.aux_channels),
               ("tile size", data.tile_size), ("epochs run", len(history))]
    if stopped:
        summary.append(("stopped", stopped))
    nothing = learned_nothing(best, data.class_names, data.binary)
    if nothing:
        summary.insert(0, ("learned nothing", f"{nothing}: train it longer or on more labels"))
    if rgb is not None:
        summary.append(("preview colours", rgb.how))
    settings = [] if train is None else [
        (k, getattr(train, k)) for k in ("epochs", "warmup_epochs", "time_budget", "batch_size", "learning_rate",
                                         "vision_lr_factor", "aux_lr_factor", "schedule", "grad_accumulation", "amp",
                                         "early_stop_patience", "seed")]
    # a blank cell would read as unknown; the budget is in minutes
    settings = [(k, ("none" if v is None else f"{v:g} min") if k == "time_budget" else v) for k, v in settings]
    columns = ["epoch", "stage", "train_loss", "val_loss", "val_iou", "val_miou", "lr", "seconds"]
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(e.get(c)))}</td>" for c in columns) + "</tr>"
                   for e in history)
    figures = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">' for name, png in images.items())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:60em}}table{{border-collapse:collapse;margin:.5em 0}}
th,td{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}img{{max-width:100%}}
.warning{{color:#b00;font-weight:bold}}</style></head>
<body><h1>{html.escape(title)}</h1>
{f'<p class="warning">The model learned nothing: {html.escape(nothing)}.</p>' if nothing else ''}
<h2>Summary</h2>{_table(summary)}
<h2>Settings</h2>{_table(settings)}
<h2>Metrics per epoch</h2><table><tr>{head}</tr>{body}</table>
{figures}
</body></html>
"""


def write_report(paths: dict[str, str], history: list[dict[str, Any]], metadata: BundleMetadata,
                 previews: list[dict[str, Any]], stopped: str | None = None, rgb: RgbChoice | None = None) -> str:
    """Write every output listed in ``paths`` (see :func:`report_paths`); returns the HTML path. ``stopped``: why
    training ended before its last epoch, for the summary; ``rgb``: the bands the preview shows as colours."""
    write_metrics(history, paths["metrics_csv"], paths["metrics_json"])
    images = {"Loss and IoU": plot_curves(history, paths["curves_png"])}
    if previews:
        colors = metadata.data.class_colors or ["#000000", "#ff0000"]
        images["Validation predictions (best epoch)"] = plot_predictions(previews, colors, paths["predictions_png"],
                                                                         rgb)
    title = f"DualStream training report: {Path(paths['report_html']).name.removesuffix('_report.html')}"
    page = render_html(title, metadata, history, images, stopped, rgb if previews else None)
    write_bytes_atomic(paths["report_html"], page.encode("utf-8"))
    return paths["report_html"]
