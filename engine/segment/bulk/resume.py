"""Completion markers of a bulk run: what finished a scene, checked on a rerun instead of guessed from files.

While a scene runs, before any of its outputs is published, its marker says ``running``; after they are
published it says ``done`` and records the bundle(s) (SHA-256 and weight), the settings that shape the outputs,
every input (size and modification time: the image, aux, a pair's later date, a place's dates) and every output
file with its size. A rerun skips a scene only when all of that still holds. A ``running`` marker is a scene a
killed run left half-written: it is redone. Outputs that another run (other bundles or settings) finished, or
files no bulk run wrote, are never replaced without ``--overwrite``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...config import BulkConfig, SegmentConfig
from ...config.output_kinds import OUTPUT_KINDS
from ...errors import mention
from ...io import locations
from ...io.atomic import write_text_atomic
from ...io.digest import file_sha256
from ...runtime.environment import require
from ..members import Member
from ..scene_outputs import SceneOutputs
from .scenes import MARKER_FOLDER, Scene
from .summary import SceneRecord

MARKER_VERSION = 1
# settings that change how a run goes, not what it writes
EXECUTION_SETTINGS = ("image", "aux", *(kind.config_key for kind in OUTPUT_KINDS), "models", "model_weights",
                      "device", "batch_size", "prefetch", "readers", "reader_processes",
                      *(kind.report for kind in OUTPUT_KINDS if kind.report))  # only what the result says
# the bulk switches every marker has held since version 1; a later kind's only when it is on, so the markers of
# runs without it stay valid
SWITCHES_V1 = ("probabilities", "polygons")


def run_fingerprint(members: list[Member], template: SegmentConfig, bulk: BulkConfig) -> dict[str, Any]:
    """The bundles and settings every scene of this run is made with (identical on every rank)."""
    settings = {k: v for k, v in sorted(template.to_dict().items()) if k not in EXECUTION_SETTINGS}
    settings.update({kind.bulk_key: getattr(bulk, kind.bulk_key) for kind in OUTPUT_KINDS
                     if kind.bulk_key and (kind.bulk_key in SWITCHES_V1 or getattr(bulk, kind.bulk_key))})
    bundles = [{"path": str(Path(m.path).resolve()), "sha256": file_sha256(m.path), "weight": m.weight}
               for m in members]
    return {"bundles": bundles, "settings": settings}


def scene_fingerprint(fingerprint: dict[str, Any], scene: Scene, bulk: BulkConfig) -> dict[str, Any]:
    """What ``scene``'s outputs are made with: the run's ``fingerprint``, and a web layer's area besides."""
    area = {"extent": bulk.extent, "extent_crs": bulk.extent_crs} if scene.web else {}
    return {**fingerprint, "settings": {**fingerprint["settings"], **area}}


def _stamp(path: str | Path) -> dict[str, Any]:
    """An input's identity now: a local file's size and modification time; a remote file's as its server
    reports them (HTTP Content-Length and Last-Modified, an object store's metadata), read through GDAL. An item
    of a STAC ItemCollection (``COLLECTION.json#ID``) is stamped by its collection's file."""
    text = str(path)
    if locations.is_web_description(text) and not os.path.isfile(text):
        return {"path": text}  # a service: nothing to stamp (its area is the fingerprint's)
    if "#" in text and not os.path.exists(text):
        path = text.split("#", 1)[0]
    if locations.is_remote(path):
        gdal = require("osgeo.gdal")
        gdal.VSICurlPartialClearCache(locations.gdal_path(path))  # this process may have read it before (QGIS)
        stat = gdal.VSIStatL(locations.gdal_path(path))
        if stat is None:
            raise OSError(f"'{path}' cannot be reached")
        return {"path": str(path), "size": int(stat.size), "mtime_ns": int(stat.mtime) * 10**9}
    stat = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def scene_inputs(scene: Scene) -> list[str]:
    """Every file a scene's outputs are made from: its image, aux rasters, a pair's later date, a place's other
    dates (a rerun redoes the scene when any of them changed)."""
    return [scene.image, *scene.aux, *scene.after, *scene.dates[1:]]


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between a marker's fingerprint and this run's."""
    olds = old.get("bundles", [])
    same = [(b.get("sha256"), b.get("weight")) for b in olds] == [(b["sha256"], b["weight"]) for b in new["bundles"]]
    found = [] if same else [f"model bundle(s) {[b.get('path') for b in olds]}"]
    old_settings, new_settings = old.get("settings", {}), new["settings"]
    return found + [f"{key} {old_settings.get(key)!r} (now {new_settings.get(key)!r})"
                    for key in sorted(set(old_settings) | set(new_settings))
                    if old_settings.get(key) != new_settings.get(key)]


def decide(scene: Scene, outputs: SceneOutputs, fingerprint: dict[str, Any], overwrite: bool) -> tuple[str, str]:
    """What to do with ``scene`` by its marker and the files on disk, and why: ``run`` it, ``skip`` it (finished),
    or ``refuse`` (with the reason)."""
    if overwrite:
        return "run", ""
    marker = _read_marker(outputs.marker)
    present = [p for p in outputs.files if p.exists()]
    if marker is None:
        if present:
            return "refuse", (f"'{present[0]}' exists and no bulk run recorded writing it; pass "
                              f"{mention('bulk.overwrite')} to replace it, or choose another "
                              f"{mention('bulk.out_dir')}.")
        return "run", ""
    if marker.get("status") != "done":
        return "run", ""  # a killed run left it half-written
    differences = _differences(marker.get("fingerprint", {}), fingerprint)
    if differences:
        return "refuse", (f"The outputs of '{scene.image}' in the output folder were made with other "
                          f"{'; '.join(differences)}; pass {mention('bulk.overwrite')} to redo them with this run's "
                          f"bundle(s) and settings, or choose another {mention('bulk.out_dir')}.")
    try:
        inputs_now = [_stamp(p) for p in scene_inputs(scene)]
    except OSError:
        return "run", ""  # an input went missing: the run says which
    if inputs_now != marker.get("inputs"):
        return "run", ""  # an input changed since: its outputs are stale
    for record in marker.get("outputs", []):
        path = Path(record["path"])
        if not path.is_file() or path.stat().st_size != record["size"]:
            return "run", ""  # damaged or removed since: redo
    return "skip", "finished earlier by the same bundle(s) and settings"


def mark_running(scene: Scene, outputs: SceneOutputs) -> None:
    """Claim the scene before any of its outputs is published (share.py writes it while the model runs it)."""
    outputs.marker.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(outputs.marker, json.dumps({
        "version": MARKER_VERSION, "status": "running", "image": scene.image,
        "outputs": [{"path": str(p.resolve())} for p in outputs.files]}))


def recorded_outputs(out_dir: str | Path) -> set[Path]:
    """Every file the markers in ``out_dir`` say a bulk run wrote (or was writing), and its mosaics."""
    out = Path(out_dir)
    found = {p.resolve() for p in out.glob("mosaic*.vrt")}
    for path in (out / MARKER_FOLDER).glob("*.json"):
        marker = _read_marker(path) or {}
        found.update(Path(r["path"]) for r in marker.get("outputs", []) if isinstance(r, dict) and "path" in r)
    return found


def mark_done(scene: Scene, outputs: SceneOutputs, fingerprint: dict[str, Any], record: SceneRecord) -> None:
    """Record the finished scene (after every output is in place)."""
    marker = {"version": MARKER_VERSION, "status": "done", "image": scene.image, "fingerprint": fingerprint,
              "inputs": [_stamp(p) for p in scene_inputs(scene)],
              "outputs": [{"path": str(p.resolve()), "size": p.stat().st_size} for p in outputs.files],
              "result": record.to_dict()}
    # markers and a rank's part are one line: json's C encoder (indented, the pure-Python one took 1 ms of a 512²
    # scene, beside the next scene's planning on the interpreter lock); the run's summary is for people: indented
    write_text_atomic(outputs.marker, json.dumps(marker))


def finished_record(outputs: SceneOutputs) -> SceneRecord | None:
    """The summary record a skipped scene's marker kept from the run that finished it (None: it kept none)."""
    marker = _read_marker(outputs.marker) or {}
    try:
        return SceneRecord.from_dict(marker["result"])
    except (KeyError, TypeError):  # a marker without a (whole) record: the scene's own facts stand
        return None
