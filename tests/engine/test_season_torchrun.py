"""A season trained under torchrun, as the README documents for one date: two gloo processes on the CPU read the
same season (its dates' cloud VRTs made side by side in ``<bundle>_season/``) and write one bundle. Each date's VRT
is written in one piece, its date tag with it: the tag was set by opening the VRT for update, which rewrote the file
in place while the other process read it ("not recognized as a supported file format"; that process's failure then
removed the folder under the first: "does not exist"), and the run exited 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

REPO = Path(__file__).resolve().parents[2]
DAYS = [f"2024-{month:02d}-{day:02d}" for month in range(3, 9) for day in (1, 15)]  # 12 dates


def _season(root: Path) -> tuple[Path, Path]:
    """(a folder of 12 dated one-band rasters, each with a cloud mask beside it, the label beside the folder)."""
    folder = root / "dates"
    folder.mkdir()
    rng = np.random.default_rng(0)
    crops = np.zeros((64, 64), np.uint8)
    crops[:, 32:] = 1
    profile = {"driver": "GTiff", "width": 64, "height": 64, "crs": "EPSG:32633",
               "transform": from_origin(500000.0, 5000000.0, 10.0, 10.0)}
    for index, day in enumerate(DAYS):
        values = (0.3 + 0.05 * rng.standard_normal((64, 64))).astype(np.float32)
        values[crops == 1] += 0.4 * (index == 4)
        with rasterio.open(folder / f"ndvi_{day}.tif", "w", count=1, dtype="float32", **profile) as out:
            out.write(values[None])
            out.update_tags(ACQUISITIONDATETIME=f"{day}T10:00:00")
        clouds = np.zeros((1, 64, 64), np.uint8)
        clouds[0, : 4 * index] = 1
        with rasterio.open(folder / f"ndvi_{day}_cloud.tif", "w", count=1, dtype="uint8", **profile) as out:
            out.write(clouds)
    with rasterio.open(root / "crops.tif", "w", count=1, dtype="uint8", **profile) as out:
        out.write(crops[None])
    return folder, root / "crops.tif"


def test_a_dates_vrt_is_written_once_with_its_date_never_opened_for_update(tmp_path, monkeypatch):
    from osgeo import gdal

    from engine.data.input_vrt import InputFiles
    from engine.imagery.season import resolve_season

    folder, _ = _season(tmp_path)
    updated, open_ = [], gdal.Open
    monkeypatch.setattr(gdal, "Open", lambda path, *mode: (updated.append(path) if mode and mode[0] else None)
                        or open_(path, *mode))
    season = resolve_season([str(folder)], files=InputFiles(folder=tmp_path / "m_season"))
    assert not updated  # a VRT rewritten in place can be read half-written by another process
    assert len(season.dates) == len(DAYS) and all(d.path.endswith(".vrt") for d in season.dates)
    for date in season.dates:
        with rasterio.open(date.path) as vrt:
            assert vrt.tags()["ACQUISITIONDATETIME"] == date.date.isoformat()
    with rasterio.open(season.dates[3].path) as vrt:
        assert (vrt.read_masks(1)[: 12] == 0).all() and (vrt.read_masks(1)[12:] == 255).all()


def test_torchrun_trains_a_season_of_cloudy_dates_in_two_processes(tmp_path):
    from engine.bundle.model_files import read_model_metadata

    folder, label = _season(tmp_path)
    out = tmp_path / "season.dsmodel"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "engine", "train", "--dates", str(folder), "--label", str(label), "--model", "season", "--preset",
         "tiny", "--tile-size", "32", "--tiles-per-epoch", "8", "--batch-size", "4", "--warmup-epochs", "0",
         "--epochs", "1", "--device", "cpu", "--out", str(out), "--json"],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
        timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "cpu x2 processes" in done.stderr and f"The season: {len(DAYS)} date(s)" in done.stderr
    assert json.loads(done.stdout[done.stdout.index("{"):])["bundle"] == str(out)
    meta = read_model_metadata(str(out))
    assert meta.model.name == "season" and meta.model.dates == len(DAYS)
