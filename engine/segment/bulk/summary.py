"""The summary of a bulk run beside its outputs: ``summary.json``, ``summary.csv``, ``summary.html``, mosaics.

Every file is written atomically. ``summary.json`` has a ``"scenes"`` list whose items carry at least ``image``,
``status`` (``done`` / ``skipped`` / ``failed``; ``canceled`` for scenes a canceled run did not finish),
``error``, ``seconds``, ``pixels`` and ``px_per_s``.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ...callbacks import Callback
from ...errors import render
from ...io.atomic import write_text_atomic
from ...io.tables import dict_csv_text

STATUSES = ("done", "skipped", "failed", "canceled")
CSV_COLUMNS = ("image", "status", "error", "pixels", "seconds", "px_per_s", "tiles", "output", "rank", "warnings")


def counts(scenes: list[dict[str, Any]]) -> dict[str, int]:
    """Scenes per status."""
    return {status: sum(1 for s in scenes if s["status"] == status) for status in STATUSES}


def _csv_text(scenes: list[dict[str, Any]]) -> str:
    rows = []
    for scene in scenes:
        row = {k: ("" if scene.get(k) is None else scene.get(k)) for k in CSV_COLUMNS}
        row["warnings"] = " | ".join(scene.get("warnings") or [])
        rows.append(row)
    return dict_csv_text(CSV_COLUMNS, rows)  # image names and errors neutralised against formula injection


def summary_html(summary: dict[str, Any]) -> str:
    """A self-contained HTML page of the summary (QGIS's Results viewer shows it)."""
    n = summary["counts"]
    rows = []
    for scene in summary["scenes"]:
        colour = {"failed": "#b00020", "canceled": "#8a6d00"}.get(scene["status"], "#1b5e20")
        seconds = scene.get("seconds")
        rate = scene.get("px_per_s")
        rows.append(
            f"<tr><td>{html.escape(str(scene['image']))}</td><td style='color:{colour}'>{scene['status']}</td>"
            f"<td>{'' if seconds is None else f'{seconds:.1f}'}</td><td>{scene.get('pixels') or 0:,}</td>"
            f"<td>{'' if not rate else f'{rate:,.0f}'}</td>"
            f"<td>{html.escape(str(scene.get('output') or ''))}</td>"
            f"<td>{html.escape(str(scene.get('error') or ''))}</td>"
            f"<td style='color:#8a6d00'>{'<br>'.join(html.escape(w) for w in scene.get('warnings') or [])}</td></tr>")
    mosaics = "".join(f"<li>{html.escape(m)}</li>" for m in summary.get("mosaics", []))
    canceled = f", {n['canceled']} canceled" if n["canceled"] else ""
    processes = f" x {summary['world_size']} processes" if summary["world_size"] > 1 else ""
    return (
        "<html><head><meta charset='utf-8'><title>DualStream bulk segmentation</title></head><body>"
        "<h2>DualStream bulk segmentation</h2>"
        f"<p>{len(summary['scenes'])} scene(s): {n['done']} done, {n['skipped']} skipped (finished earlier), "
        f"{n['failed']} failed{canceled}; {summary['pixels']:,} pixels in {summary['seconds']:.1f} s on "
        f"{html.escape(str(summary['device']))}{processes}.</p>"
        f"<p>Output folder: {html.escape(summary['out_dir'])}</p>"
        + (f"<p>Mosaic(s):</p><ul>{mosaics}</ul>" if mosaics else "")
        + "<table border='1' cellspacing='0' cellpadding='3'><tr><th>image</th><th>status</th><th>seconds</th>"
        "<th>pixels</th><th>px/s</th><th>class raster</th><th>error</th><th>warnings</th></tr>"
        + "".join(rows) + "</table>"
        "</body></html>")


def _plain(scene: dict[str, Any]) -> dict[str, Any]:
    """A scene record with the settings its error and warnings name written as the settings' names."""
    plain = dict(scene)
    if plain.get("error"):
        plain["error"] = render(plain["error"])
    if plain.get("warnings"):
        plain["warnings"] = [render(w) if isinstance(w, str) else w for w in plain["warnings"]]
    return plain


def write_summary(out_dir: str | Path, summary: dict[str, Any]) -> dict[str, str]:
    """Write summary.json, summary.csv and summary.html into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    paths = {"json": out / "summary.json", "csv": out / "summary.csv", "html": out / "summary.html"}
    # the scenes' errors name settings by marker (engine.errors.setting); the files by the settings' names
    summary = {**summary, "scenes": [_plain(scene) for scene in summary["scenes"]]}
    write_text_atomic(paths["csv"], _csv_text(summary["scenes"]))
    write_text_atomic(paths["html"], summary_html(summary))
    write_text_atomic(paths["json"], json.dumps(summary, indent=2, default=str))
    return {k: str(v) for k, v in paths.items()}


def write_mosaics(out_dir: str | Path, scenes: list[dict[str, Any]], callback: Callback) -> list[str]:
    """VRT mosaics of the class rasters of finished scenes: ``mosaic.vrt``, or one per CRS when they differ."""
    from ...io.writers import gdal_errors
    from ...runtime.environment import require

    rasterio = require("rasterio")
    gdal = require("osgeo.gdal")
    groups: dict[str, list[str]] = defaultdict(list)
    for scene in scenes:
        if scene["status"] in ("done", "skipped") and scene.get("output") and Path(scene["output"]).is_file():
            with rasterio.open(scene["output"]) as ds:
                crs = ds.crs.to_string() if ds.crs else "none"
            groups[crs].append(scene["output"])
    out = Path(out_dir)
    written = []
    for crs, files in sorted(groups.items()):
        name = "mosaic.vrt" if len(groups) == 1 else f"mosaic_{''.join(c if c.isalnum() else '_' for c in crs)}.vrt"
        target = out / name
        tmp = out / f".{name}.tmp.vrt"
        with gdal_errors(gdal):
            vrt = gdal.BuildVRT(str(tmp), sorted(files), options=gdal.BuildVRTOptions(srcNodata=255, VRTNodata=255))
            vrt = None  # noqa: F841 - closing the dataset writes the file
        tmp.replace(target)
        written.append(str(target))
    if len(groups) > 1:
        callback.warning(f"The class rasters are in {len(groups)} CRSs; one VRT mosaic per CRS: {written}.")
    return written
