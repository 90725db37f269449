"""Unlabelled imagery for a season model (``--unlabelled`` with ``--dates``): other places' dates (a folder of place
subfolders, each read as ``--dates`` reads a season) and the season's own unlabelled pixels, through the weak-to-strong
consistency (engine/training/consistency.py); the log says the places, their dates and the tiles. Real GeoTIFFs of a
few pixels, a tiny season model."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from bench.season_unlabelled import curve
from engine.cli.main import main
from engine.training.consistency import Consistency


def _date(path: Path, day: str, x: float, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": values.shape[-1], "height": values.shape[-2], "count": values.shape[0],
               "dtype": "float32", "crs": "EPSG:32633", "transform": from_origin(x, 5000000.0, 10.0, 10.0)}
    with rasterio.open(path, "w", **profile) as out:
        out.write(values.astype(np.float32))
        out.update_tags(ACQUISITIONDATETIME=f"{day}T10:00:00")


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """(the labelled season's folder, its label, a folder of two other places' dates: 3 and 5 dates)."""
    root = tmp_path_factory.mktemp("season_unlabelled")
    rng = np.random.default_rng(0)
    crops = np.zeros((64, 64), np.uint8)
    crops[:, 32:] = 1
    for day in ("2024-03-01", "2024-05-01", "2024-07-01"):
        values = 0.3 + 0.05 * rng.standard_normal((1, 64, 64))
        values[0][crops == 1] += 0.4 * (day == "2024-05-01")
        _date(root / "season" / f"ndvi_{day}.tif", day, 500000.0, values)
    with rasterio.open(root / "crops.tif", "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000.0, 5000000.0, 10.0, 10.0)) as out:
        out.write(crops[None])
    for place, x, days in (("a", 600000.0, ("2024-03-05", "2024-05-03", "2024-07-02")),
                           ("b", 700000.0, ("2024-04-01", "2024-05-01", "2024-06-01", "2024-08-01", "2024-09-01"))):
        for day in days:
            _date(root / "other" / place / f"ndvi_{day}.tif", day, x, 0.3 + 0.05 * rng.standard_normal((1, 48, 48)))
    return root / "season", root / "crops.tif", root / "other"


def _train(capsys, season, out: Path, *extra: str) -> tuple[int, str]:
    folder, label, _ = season
    code = main(["train", "--dates", str(folder), "--label", str(label), "--preset", "tiny", "--tile-size", "32",
                 "--tiles-per-epoch", "8", "--batch-size", "4", "--warmup-epochs", "0", "--epochs", "3", "--device",
                 "cpu", "--consistency", "on", "--confidence", "0.5", "--seed", "0", "--out", str(out), *extra])
    said = capsys.readouterr()
    return code, said.out + said.err


def test_a_season_learns_from_other_places_dates_and_says_how_many(season, tmp_path, capsys):
    code, log = _train(capsys, season, tmp_path / "m.dsmodel", "--unlabelled", str(season[2]))
    assert code == 0, log
    assert ("8 unlabelled tiles per epoch, a batch of 4 beside each labelled one, from 2 unlabelled place(s) of 3-5 "
            "date(s) and the unlabelled pixels of 1 labelled one(s)") in log
    assert "From epoch 2 on the unlabelled tiles teach too" in log
    rows = list(csv.DictReader((tmp_path / "m_metrics.csv").open()))
    taught = [r for r in rows if float(r["unlabelled_confident"]) > 0]  # at confidence 0.5 some pixels teach
    assert taught and all(float(r["unlabelled_loss"]) > 0 for r in taught)
    learning = curve(tmp_path / "m_metrics.csv")  # what bench/season_unlabelled.py keeps of each run
    assert len(learning["val_miou"]) == len(learning["epoch_seconds"]) == len(rows) == 3
    assert [c > 0 for c in learning["confident"]] == [float(r["unlabelled_confident"]) > 0 for r in rows]
    assert not any(p.suffix == ".vrt" for p in season[2].rglob("*"))  # nothing written beside the inputs


def test_a_season_learns_from_its_own_unlabelled_pixels(season, tmp_path, capsys):
    code, log = _train(capsys, season, tmp_path / "own.dsmodel")
    assert code == 0, log
    assert "from 0 unlabelled place(s) and the unlabelled pixels of 1 labelled one(s)" in log


def test_an_unlabelled_place_of_other_bands_is_refused_by_name(season, tmp_path, capsys):
    other = tmp_path / "two_bands"
    for day in ("2024-04-01", "2024-06-01"):
        _date(other / "p" / f"b2_{day}.tif", day, 600000.0, np.full((2, 40, 40), 0.3))
    code, log = _train(capsys, season, tmp_path / "bad.dsmodel", "--unlabelled", str(other))
    assert code != 0 and "b2_2024-04-01.tif" in log and "gives 2 band(s)" in log
    assert not (tmp_path / "bad.dsmodel").exists()


def test_cutmix_of_a_season_takes_a_box_only_from_a_tile_of_the_same_days():
    """Another place's dates are other days: pasting its pixels under this tile's days would teach the model a
    season that never was. Tiles of the same days mix, their dates' validity moved with the box."""
    consistency = Consistency.__new__(Consistency)
    consistency.dates, consistency.generator = None, torch.Generator().manual_seed(3)
    b, t, h = 4, 3, 16
    pixels = torch.rand(b, t, 1, h, h)
    pseudo = torch.arange(b)[:, None, None].expand(b, h, h).clone()
    confident = torch.ones(b, h, h, dtype=torch.bool)
    valid = torch.zeros(b, t, h, h, dtype=torch.bool)
    valid[:, 0] = True
    valid[1:, 1] = True  # only tile 0 lacks its second date
    for days, mixes in ((torch.tensor([[10.0, 50.0, 90.0], [11.0, 50.0, 90.0]] * 2), False),
                        (torch.tensor([[10.0, 50.0, 90.0]] * 4), True)):
        mixed = []
        for _ in range(8):  # CutMix falls on half the tiles: several draws
            _, _, labels, _, season = consistency._strong(pixels, None, pseudo, confident,
                                                          {"days": days, "valid": valid})
            mixed.append(bool((labels != pseudo).any()))
            moved = (labels != pseudo)[0]
            if bool(moved.any()):  # tile 0's box came from tile 3 (the batch rolled by one): its second date too
                assert bool(season["valid"][0, 1][moved].all()) and not bool(season["valid"][0, 1][~moved].any())
        assert any(mixed) == mixes


def test_unlabelled_dates_given_one_by_one_are_grouped_into_their_places(season, tmp_path):
    """QGIS hands a layer list: each raster alone; the rasters of one footprint are one place's season."""
    from engine.imagery.places import resolve_places

    layers = sorted(str(p) for p in season[2].rglob("*.tif"))
    places = resolve_places(layers, "data.unlabelled", tmp_path / "m_season")
    assert sorted(len(p) for p in places) == [3, 5]
    assert all(Path(p[0]).parent.name == Path(p[-1]).parent.name for p in places)  # no place mixes two folders
