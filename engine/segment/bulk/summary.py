"""The summary of a bulk run beside its outputs: ``summary.json``, ``summary.csv``, ``summary.html``, mosaics, the
run's polygons layer.

Every file is written atomically. ``summary.json``'s ``"scenes"`` are :class:`SceneRecord` items. A run of a change
model's pairs lists each pair's later date and its change in every summary, and writes ``change_table.csv``: one
row per pair and kind of change, the table a report of a monitoring series quotes.

Every finished scene's polygons go into one layer, the scene as an attribute, reprojected into the first scene's
CRS where the scenes differ. It is brought up to date from the scenes' own GeoPackages at the end of the run, one
scene at a time and each in one transaction (its old features deleted, its current ones inserted): a run killed
at any point leaves every scene's features in it once or not at all, and a resume brings in what is missing.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...callbacks import Callback
from ...config.output_kinds import OUTPUT_KINDS
from ...errors import render
from ...imagery.door import web_source
from ...io.atomic import write_text_atomic
from ...io.formats import dict_csv_text
from ...io.geopackage import create_layer, new_geopackage
from ...io.locations import is_web_description
from ...io.polygons import fields
from ...io.writers import gdal_errors, writing
from ...runtime.environment import require
from .scenes import MARKER_FOLDER, RUN_LAYER

STATUSES = ("done", "skipped", "failed", "canceled")
REPORTS = tuple(kind.report for kind in OUTPUT_KINDS if kind.report)  # a column each (SegmentResult.report)
CSV_COLUMNS = ("image", "status", "error", "pixels", "seconds", "model_seconds", "px_per_s", "tiles", "output",
               *REPORTS, "rank", "warnings")
PAIR_COLUMNS = ("later_date", "change")  # after the image's, in a run of a change model's pairs
CHANGE_TABLE = "change_table.csv"  # every pair's change, in the output folder
CHANGE_COLUMNS = ("image", "later_date", "output", "class", "name", "from", "to", "pixels", "hectares")


@dataclass
class SceneRecord:
    """One scene of a bulk run as the summary lists it (an item of summary.json's ``"scenes"``, in this order)."""

    image: str
    aux: list[str]
    name: str
    status: str = "failed"  # one of STATUSES
    error: str | None = None
    pixels: int = 0
    seconds: float = 0.0  # the scene's own time: its tiles and its publishing
    model_seconds: float | None = None  # of it, the model computing (the rest: reading, writing, planning)
    px_per_s: float | None = None
    tiles: int = 0
    output: str | None = None  # the class raster, once there is one
    warnings: list[str] = field(default_factory=list)
    rank: int = 0  # the torchrun process that ran it
    order: int = 0  # its place in the run (largest scene first)
    started_s: float | None = None  # when it started, from the start of the run
    report: dict[str, float] = field(default_factory=dict)  # figures its outputs give (SegmentResult.report)
    after: list[str] = field(default_factory=list)  # a change model's pair: the later date(s)
    change: list[dict[str, Any]] = field(default_factory=list)  # its change table's rows (SegmentResult.change)
    dates: list[str] = field(default_factory=list)  # a season model's place: its dates as given

    @property
    def shown(self) -> str:
        """The scene as messages and the HTML page name it: its image, or a web layer handed over by a front end
        (``DESCRIPTION|layername=NAME``) or as inline XML by its name (the description, perhaps a page of XML,
        stays in the JSON and the CSV)."""
        if not is_web_description(self.image):
            return self.image
        given, _, name = web_source(self.image)
        return name if given != self.image.strip() or given.startswith("<") else self.image

    @property
    def finished(self) -> bool:
        """Done now or earlier (skipped): its outputs are in place."""
        return self.status in ("done", "skipped")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneRecord:
        """A record as written (keys this version does not know are left out)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def change_text(rows: list[dict[str, Any]]) -> str:
    """A pair's change in words, e.g. ``change: 1.2 ha (12,000 px)``; hectares where the raster has a CRS."""
    return "; ".join(f"{row['name']}: " + (f"{row['hectares']:,.2f} ha" if row.get("hectares") is not None else
                                          f"{row['pixels']:,} px") for row in rows)


def counts(scenes: list[SceneRecord]) -> dict[str, int]:
    """Scenes per status."""
    return {status: sum(1 for s in scenes if s.status == status) for status in STATUSES}


def _csv_text(scenes: list[SceneRecord]) -> str:
    pairs = any(scene.after for scene in scenes)
    columns = (CSV_COLUMNS[0], *PAIR_COLUMNS, *CSV_COLUMNS[1:]) if pairs else CSV_COLUMNS
    rows = ({**{k: scene.report.get(k, "") if k in REPORTS else "" if getattr(scene, k) is None else getattr(scene, k)
                for k in CSV_COLUMNS}, "warnings": " | ".join(scene.warnings),
             **({"later_date": " | ".join(scene.after), "change": change_text(scene.change)} if pairs else {})}
            for scene in scenes)
    return dict_csv_text(columns, rows)  # image names and errors neutralised against formula injection


def _change_table_text(scenes: list[SceneRecord]) -> str:
    """Every finished pair's change table: one row per pair and kind of change."""
    rows = [{"image": scene.image, "later_date": " | ".join(scene.after), "output": scene.output or "",
             "class": row["value"], "name": row["name"], "from": row["from_class"], "to": row["to_class"],
             "pixels": row["pixels"], "hectares": "" if row.get("hectares") is None else round(row["hectares"], 4)}
            for scene in scenes if scene.finished for row in scene.change]
    return dict_csv_text(CHANGE_COLUMNS, rows)


def summary_html(summary: dict[str, Any], scenes: list[SceneRecord]) -> str:
    """A self-contained HTML page of the summary (QGIS's Results viewer shows it)."""
    n = summary["counts"]
    rows = []
    for scene in scenes:
        colour = {"failed": "#b00020", "canceled": "#8a6d00"}.get(scene.status, "#1b5e20")
        seconds, rate = scene.seconds, scene.px_per_s
        # its figures in words, e.g. "low confidence: 12.3%"
        figures = "; ".join(f"{name.replace('_', ' ')}: {share:.1%}" for name, share in scene.report.items())
        rows.append(
            f"<tr><td>{html.escape(scene.shown)}"
            f"{''.join(f'<br>&rarr; {html.escape(a)}' for a in scene.after)}</td>"
            f"<td style='color:{colour}'>{scene.status}</td>"
            f"<td>{'' if seconds is None else f'{seconds:.1f}'}</td><td>{scene.pixels or 0:,}</td>"
            f"<td>{'' if not rate else f'{rate:,.0f}'}</td>"
            f"<td>{html.escape(str(scene.output or ''))}<br>{html.escape(figures)}"
            f"{'<br>' + html.escape(change_text(scene.change)) if scene.change else ''}</td>"
            f"<td>{html.escape(str(scene.error or ''))}</td>"
            f"<td style='color:#8a6d00'>{'<br>'.join(html.escape(w) for w in scene.warnings)}</td></tr>")
    mosaics = "".join(f"<li>{html.escape(m)}</li>" for m in summary.get("mosaics", []))
    canceled = f", {n['canceled']} canceled" if n["canceled"] else ""
    processes = f" x {summary['world_size']} processes" if summary["world_size"] > 1 else ""
    backend = summary.get("backend")
    backend = ", ".join(backend) if isinstance(backend, list) else backend
    processes += f" with {backend}" if backend else ""
    return (
        "<html><head><meta charset='utf-8'><title>DualStream bulk segmentation</title></head><body>"
        "<h2>DualStream bulk segmentation</h2>"
        f"<p>{len(scenes)} scene(s): {n['done']} done, {n['skipped']} skipped (finished earlier), "
        f"{n['failed']} failed{canceled}; {summary['pixels']:,} pixels in {summary['seconds']:.1f} s on "
        f"{html.escape(str(summary['device']))}{processes}.</p>"
        f"<p>Output folder: {html.escape(summary['out_dir'])}</p>"
        + (f"<p>Mosaic(s):</p><ul>{mosaics}</ul>" if mosaics else "")
        + "<table border='1' cellspacing='0' cellpadding='3'><tr><th>image</th><th>status</th><th>seconds</th>"
        "<th>pixels</th><th>px/s</th><th>class raster</th><th>error</th><th>warnings</th></tr>"
        + "".join(rows) + "</table>"
        "</body></html>")


def write_summary(out_dir: str | Path, summary: dict[str, Any], scenes: list[SceneRecord]) -> dict[str, str]:
    """Write summary.json (``summary``, whose ``"scenes"`` are ``scenes``' dicts), summary.csv and summary.html
    into ``out_dir``, and a run of pairs' change_table.csv; returns their paths."""
    out = Path(out_dir)
    paths = {"json": out / "summary.json", "csv": out / "summary.csv", "html": out / "summary.html"}
    if any(scene.after for scene in scenes):
        paths["change_table"] = out / CHANGE_TABLE
        write_text_atomic(paths["change_table"], _change_table_text(scenes))
    # the scenes' errors name settings by marker (engine.errors.mention); the files by the settings' names
    scenes = [dataclasses.replace(scene, error=render(scene.error) if scene.error else scene.error,
                                  warnings=[render(w) if isinstance(w, str) else w for w in scene.warnings])
              for scene in scenes]
    summary = {**summary, "scenes": [scene.to_dict() for scene in scenes]}
    write_text_atomic(paths["csv"], _csv_text(scenes))
    write_text_atomic(paths["html"], summary_html(summary, scenes))
    write_text_atomic(paths["json"], json.dumps(summary, indent=2, default=str))
    return {k: str(v) for k, v in paths.items()}


def write_mosaics(out_dir: str | Path, scenes: list[SceneRecord], callback: Callback) -> list[str]:
    """VRT mosaics of the class rasters of finished scenes: ``mosaic.vrt``, or one per CRS when they differ."""
    rasterio, gdal = require("rasterio"), require("osgeo.gdal")
    groups: dict[str, list[str]] = defaultdict(list)
    nodata: dict[str, float] = {}
    for scene in scenes:
        if scene.finished and scene.output and Path(scene.output).is_file():
            with rasterio.open(scene.output) as ds:
                crs = ds.crs.to_string() if ds.crs else "none"
                nodata[crs] = ds.nodata if ds.nodata is not None else 255  # 65535 for a UInt16 class raster
            groups[crs].append(scene.output)
    out = Path(out_dir)
    written = []
    for crs, files in sorted(groups.items()):
        name = "mosaic.vrt" if len(groups) == 1 else f"mosaic_{''.join(c if c.isalnum() else '_' for c in crs)}.vrt"
        target = out / name
        tmp = out / f".{name}.tmp.vrt"
        with gdal_errors(gdal):
            vrt = gdal.BuildVRT(str(tmp), sorted(files), options=gdal.BuildVRTOptions(srcNodata=nodata[crs],
                                                                                    VRTNodata=nodata[crs]))
            vrt = None  # noqa: F841 - closing the dataset writes the file
        tmp.replace(target)
        written.append(str(target))
    if len(groups) > 1:
        callback.warning(f"The class rasters are in {len(groups)} CRSs; one VRT mosaic per CRS: {written}.")
    return written


LAYER_NAME = "polygons"
SYNCED = "run_polygons.json"  # in the state folder: each scene's GeoPackage (size, mtime) as last brought in


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _bring_in(run: Any, layer: Any, scene: str, polygons: Path, ogr: Any, osr: Any) -> int:
    """Replace the scene's features in the run's layer by those of its GeoPackage, in one transaction."""
    source = ogr.Open(str(polygons))
    scene_layer = source.GetLayer(0)
    transform = None
    srs, target = scene_layer.GetSpatialRef(), layer.GetSpatialRef()
    if srs is not None and target is not None and not srs.IsSame(target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(srs, target)
    names = {layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())}
    definition = layer.GetLayerDefn()
    count = 0
    run.StartTransaction()
    try:
        quoted = scene.replace("'", "''")
        run.ExecuteSQL(f"DELETE FROM \"{LAYER_NAME}\" WHERE scene = '{quoted}'")
        for feature in scene_layer:
            new = ogr.Feature(definition)
            for key, value in feature.items().items():
                if key in names and value is not None:
                    new.SetField(key, value)
            new.SetField("scene", scene)
            geometry = feature.GetGeometryRef().Clone()
            if transform is not None:
                geometry.Transform(transform)
            new.SetGeometry(geometry)
            layer.CreateFeature(new)
            count += 1
        run.CommitTransaction()
    except BaseException:
        run.RollbackTransaction()
        raise
    finally:
        scene_layer = source = None
    return count


def update_run_layer(out_dir: str | Path, records: list[SceneRecord], polygons_of: dict[str, Path],
                     callback: Callback) -> str | None:
    """Bring every finished scene's polygons (``polygons_of``: scene name -> its GeoPackage) into the run's layer;
    returns its path (None when no scene has polygons)."""
    gdal, ogr, osr = require("osgeo.gdal"), require("osgeo.ogr"), require("osgeo.osr")
    path = Path(out_dir) / RUN_LAYER
    state = Path(out_dir) / MARKER_FOLDER / SYNCED
    try:
        synced = json.loads(state.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        synced = {}
    scenes = [(r.name, polygons_of[r.name]) for r in records
              if r.finished and r.name in polygons_of and polygons_of[r.name].exists()]
    if not scenes and not path.exists():
        return None
    brought = 0
    with gdal_errors(gdal), writing(path):
        run = layer = None
        try:
            for name, polygons in scenes:
                if synced.get(name) == _stamp(polygons):
                    continue
                if run is None and path.exists():
                    run = ogr.Open(str(path), 1)
                    layer = run.GetLayerByName(LAYER_NAME)
                elif run is None:  # created like the first scene's: its CRS, the polygon fields
                    first = ogr.Open(str(polygons))
                    srs = first.GetLayer(0).GetSpatialRef()
                    run = new_geopackage(path, "run's polygons layer")
                    layer = create_layer(run, LAYER_NAME, srs, fields(srs is not None and bool(srs.IsProjected())))
                    srs = first = None
                brought += _bring_in(run, layer, name, polygons, ogr, osr)
                synced[name] = _stamp(polygons)
                write_text_atomic(state, json.dumps(synced, indent=1))
        finally:
            layer = run = None
    if brought:
        callback.info(f"{brought} polygon(s) brought into the run's layer '{path}'.")
    return str(path)
