"""Bulk resume redoes a scene whose input changed since its outputs were written, whichever input it was: a change
pair's later date as well as its first (defect: only the image, aux and a season's dates were stamped, so a pair
whose later date was replaced was skipped with the old change map)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import rasterio

from engine.data.synthetic_pairs import make_pair
from engine.segment.bulk.scenes import MARKER_FOLDER
from tests.helpers import make_change_bundle


def _statuses(out: Path) -> dict[str, str]:
    scenes = json.loads((out / "summary.json").read_text(encoding="utf-8"))["scenes"]
    return {Path(s["image"]).name: s["status"] for s in scenes}


def _copy(source: str, path: Path, flip: bool = False) -> str:
    with rasterio.open(source) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data[:, ::-1] if flip else data)
    return str(path)


def test_a_pair_is_redone_when_its_later_date_changed_and_skipped_when_nothing_did(tmp_path):
    from engine.cli.main import main

    pair = make_pair(tmp_path / "pair", seed=3, size=96, name="site")
    model = make_change_bundle(tmp_path / "change.dsmodel")
    folder = tmp_path / "series"
    folder.mkdir()
    first = _copy(pair.before, folder / "S2A_20190601T103031_site.tif")
    later = _copy(pair.after, folder / "S2A_20210601T103031_site.tif")
    out = tmp_path / "out"
    run = ["segment", "--model", model, "--images", str(folder), "--pair-by-date", "first", "--out-dir", str(out),
           "--quiet"]
    assert main(run) == 0
    name = Path(first).name
    assert _statuses(out)[name] == "done"
    [output] = out.glob("*.tif")
    before = output.read_bytes()
    assert main(run) == 0 and _statuses(out)[name] == "skipped"  # nothing changed: skipped
    _copy(pair.after, Path(later), flip=True)  # the later date replaced (new values, new time)
    stat = os.stat(later)
    os.utime(later, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert main(run) == 0
    assert _statuses(out)[name] == "done"  # redone from the new later date, not skipped with the old map
    with rasterio.open(output) as ds:
        redone = ds.read(1)
    assert output.read_bytes() != before and redone.shape == (96, 96)
    assert np.isin(redone, [0, 1]).all()
    [marker] = (out / MARKER_FOLDER).glob(f"{output.stem}*.json")
    assert [Path(i["path"]).name for i in json.loads(marker.read_text())["inputs"]] == [name, Path(later).name]
