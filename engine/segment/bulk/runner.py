"""Bulk segmentation: many scenes through one tile pipeline with the bundle(s) loaded once.

Under torchrun (one process per GPU, any number of nodes) every rank lists the same scenes, takes its greedy
share by pixel count (:func:`~engine.segment.bulk.scenes.shard`), runs on ``cuda:LOCAL_RANK`` (or the CPU) and writes
its own outputs and a part of the summary; after a barrier rank 0 merges the parts into ``summary.json``. The
ranks exchange nothing else. One bad scene is recorded as failed and the run goes on; completion markers
(:mod:`.resume`) let a rerun skip what is finished.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ...bundle.view import model_view
from ...callbacks import Callback
from ...config import BulkConfig, SegmentConfig
from ...errors import ConfigError, DataError, mention
from ...io.safety import check_creatable, check_destination
from ...models.configuration_utils import takes_a_season
from ...runtime.environment import resolve_device_lazily, setup_distributed
from ..members import Member, check_members, model_defaults, say_assumptions
from ..predictor import Predictor
from .resume import recorded_outputs, run_fingerprint
from .scenes import MARKER_FOLDER, Scene, discover_scenes, scene_outputs, shard
from .share import RankShare
from .summary import SceneRecord, counts, update_run_layer, write_mosaics, write_summary

# ranks with a smaller share wait at the final barrier for the others: as long as a large share may take
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass
class BulkResult:
    """What :func:`segment_bulk` did: the summary (on ranks but 0, their part) and its files."""

    summary: dict[str, Any]  # summary.json's content
    scenes: list[SceneRecord]  # the summary's scenes (this rank's, on the other ranks of a torchrun run)
    files: dict[str, str] = field(default_factory=dict)  # summary json/csv/html (rank 0)
    canceled: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.scenes)

    @property
    def ok(self) -> bool:
        """Every scene done or skipped."""
        return not self.canceled and all(s.finished for s in self.scenes)


def _merge(out: Path, world_size: int, scenes: list[Scene]) -> tuple[list[SceneRecord], dict[str, Any]]:
    """Every rank's records in the global (size) order, and per-rank facts."""
    records, ranks = [], {}
    for rank in range(world_size):
        part = json.loads((out / MARKER_FOLDER / f"rank-{rank}-of-{world_size}.json").read_text(encoding="utf-8"))
        records.extend(SceneRecord.from_dict(r) for r in part["scenes"])
        # the rank's facts as it wrote them (RankShare.facts), its scenes counted
        ranks[str(rank)] = {**{k: v for k, v in part.items() if k not in ("rank", "scenes")},
                            "scenes": len(part["scenes"])}
    records.sort(key=lambda r: r.order)
    if len(records) != len(scenes):
        raise DataError(f"The summary parts in '{out / MARKER_FOLDER}' list {len(records)} of {len(scenes)} "
                        f"scenes; a process of the run did not finish. Rerun: finished scenes are skipped.")
    return records, ranks


def _say_area(bulk: BulkConfig, template: SegmentConfig, members: list[Member], scenes: list[Scene],
              callback: Callback) -> None:
    """Say once what the extent and the pixel size for web layers do in this run (not each scene)."""
    webs = sum(scene.web for scene in scenes)
    given = [mention(key) for key, value in (("bulk.extent", bulk.extent), ("segment.pixel_size", template.pixel_size))
             if value]
    if given and not webs:
        callback.warning(f"{' and '.join(given)} apply to web layers, and no scene is one: every scene is segmented "
                         f"whole, at its own pixels.")
    if not webs:
        return
    size = f"{template.pixel_size:g} m per pixel ({mention('segment.pixel_size')})" if template.pixel_size else ""
    if not size:
        metres = model_view(members[0].data).pixel_size_metres()
        size = "the model's training pixel size" + (f" ({metres:.3g} m)" if metres else "")
    others = "; the other scenes are segmented whole, at their own pixels" if webs < len(scenes) else ""
    callback.info(f"{webs} web layer(s) read over {mention('bulk.extent')} at {size}{others}.")


def segment_bulk(bulk: BulkConfig, template: SegmentConfig, callback: Callback | None = None,
                 predictor: Predictor | None = None, overlap_scenes: bool | None = None) -> BulkResult:
    """Segment every scene of ``bulk`` with ``template``'s bundle(s) and settings; write the summary.
    ``predictor``: one already loaded for ``template.models`` (default: loaded when a scene needs it).
    ``overlap_scenes``: read the next scene and publish the last one while the model runs; None = on a GPU.
    ConfigError, DataError, BundleError: the run as a whole cannot start (no scenes, colliding outputs, a bad
    bundle or output folder); problems of single scenes are recorded in the summary instead.
    """
    callback = callback or Callback()
    start = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ctx, device = setup_distributed(resolve_device_lazily(template.device), backend="gloo", timeout=BARRIER_TIMEOUT)
    # what every scene's plan imports on first use, with the run's set-up, not as 18 ms of the first scene's own
    # time; not at module level: the CLI's other commands and the plugin import the plan without them
    from ...data import checks, scene  # noqa: F401
    from ...imagery import resolve  # noqa: F401

    setup_seconds = time.perf_counter() - start  # once per process: imports, the device, torchrun's group
    try:
        # the output folder checked without creating it: a run that fails before its first scene leaves none
        out = Path(bulk.out_dir).expanduser()
        check_destination(out, f"output folder ({mention('bulk.out_dir')})", folder=True)
        check_creatable(out / "summary.json", f"summary in the output folder ({mention('bulk.out_dir')})")
        members = check_members(template)
        say_assumptions(members, callback)
        template = model_defaults(template, members[0], callback)
        if any(m.aux_channels for m in members) and not bulk.manifest and not bulk.aux_patterns:
            raise ConfigError(f"The model '{members[0].path}' needs aux data; give each scene's aux file(s) by name "
                              f"with {mention('bulk.aux_patterns')}, e.g. '{{stem}}_aux.tif' (several in the "
                              f"training order), or list them in a {mention('bulk.manifest')}.")
        scenes = discover_scenes(bulk, callback, recorded_outputs(out),
                                 season=takes_a_season(members[0].metadata.model.name))
        _say_area(bulk, template, members, scenes, callback)
        fingerprint = run_fingerprint(members, template, bulk)
        order = {id(s): i for i, s in enumerate(scenes)}
        mine = [(order[id(s)], s) for s in shard(scenes, ctx.world_size)[ctx.rank]]
        where = f" (process {ctx.rank + 1} of {ctx.world_size}: {len(mine)} scene(s))" if ctx.distributed else ""
        callback.info(f"Bulk segmentation of {len(scenes)} scene(s) into '{out}' on {device}{where}, largest first.")
        if overlap_scenes is None:  # see share.py
            overlap_scenes = str(device).startswith("cuda")
        try:  # the output folder and its state folder, made once every check of the run as a whole has passed
            (out / MARKER_FOLDER).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"The output folder '{out}' cannot be created ({exc.strerror}); choose a writable "
                            f"folder.") from exc
        share = RankShare(bulk, template, members, fingerprint, ctx, device, callback, start, predictor, overlap_scenes)
        share.write_part()

        def summary_of(records: list[SceneRecord], ranks: dict[str, Any]) -> dict[str, Any]:
            done_pixels = sum(r.pixels for r in records if r.status == "done")
            seconds = time.perf_counter() - start
            # what ran, as "device" is: settings.backend is what was asked (auto picks per machine)
            backends = sorted({r["backend"] for r in ranks.values() if r.get("backend")})
            return {"version": 1, "out_dir": str(out), "started": started,
                    "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": seconds,
                    "setup_seconds": setup_seconds,
                    "device": device if not ctx.distributed else sorted({r["device"] for r in ranks.values()}),
                    "backend": (backends[0] if backends else None) if not ctx.distributed else backends,
                    "backend_requested": template.backend,
                    "world_size": ctx.world_size, "ranks": ranks, "bundles": fingerprint["bundles"],
                    "settings": dict(fingerprint["settings"], device=template.device, batch_size=template.batch_size),
                    "counts": counts(records), "pixels": done_pixels, "px_per_s": done_pixels / max(seconds, 1e-9),
                    "mosaics": [], "scenes": [r.to_dict() for r in records]}

        def single_rank_summary() -> None:  # without torchrun, summary.json follows the run (see share.py)
            if not ctx.distributed:
                write_summary(out, summary_of(share.records, {"0": share.facts()}), share.records)

        finished = share.run(mine, single_rank_summary)
        ctx.barrier()
        if not ctx.is_main:
            return BulkResult(summary={"scenes": [r.to_dict() for r in share.records]}, scenes=share.records,
                              canceled=not finished)
        records, ranks = _merge(out, ctx.world_size, scenes) if finished else (share.records, {})
        summary = summary_of(records, ranks or {"0": share.facts()})
        if bulk.mosaic and finished:
            summary["mosaics"] = write_mosaics(out, records, callback)
        if bulk.polygons:  # every finished scene's polygons in one layer, also after a cancel (each scene whole)
            summary["polygons"] = update_run_layer(out, records, {
                r.name: scene_outputs(out, r.name, bulk).path("polygons") for r in records}, callback)
        files = write_summary(out, summary, records)
        n = summary["counts"]
        canceled = f", {n['canceled']} canceled" if n["canceled"] else ""
        callback.info(f"{len(records)} scene(s): {n['done']} done, {n['skipped']} skipped, {n['failed']} failed"
                      f"{canceled}; summary '{files['json']}'.")
        stores = [r["first_dates"] for r in summary["ranks"].values() if r.get("first_dates")]
        if stores:  # a series: what keeping its first date's maps saved
            callback.info(f"First dates: {sum(s['encoded'] for s in stores)} tile(s) encoded, "
                          f"{sum(s['reused'] for s in stores)} reused by a later pair of their series.")
        return BulkResult(summary=summary, scenes=records, files=files, canceled=not finished)
    finally:
        ctx.close()
