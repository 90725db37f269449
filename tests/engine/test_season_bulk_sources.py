"""A season model's bulk run from a manifest (CSV or JSON: one row per date, a ``place`` column, or rows grouped by
footprint) and from STAC items (one item per date, an ItemCollection served from 127.0.0.1, grouped by place with
the one same-place rule of ``imagery/places.py``): one output per place, a rerun skipping the finished and redoing a
place whose date changed, bad input named. Real GeoTIFFs of a few pixels, a tiny season model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.cli.main import main
from engine.config import BulkConfig
from engine.errors import ConfigError
from engine.segment.bulk.scenes import discover_scenes
from tests.helpers import SEASON_SIZE as SIZE
from tests.helpers import bundle_of, dated

NORTH = ("2024-06-01", "2024-04-01", "2024-09-01")  # listed out of order
SOUTH = ("2024-05-01", "2024-07-01")


@pytest.fixture(scope="module")
def season_model(tmp_path_factory, tiny_model) -> str:
    return str(bundle_of(tiny_model("season", classes=3, dates=3), tmp_path_factory.mktemp("sm") / "s.dsmodel"))


def _run(capsys, *args: str) -> tuple[int, dict, str]:
    code = main(["segment", "--device", "cpu", "--backend", "torch", *args])
    said = capsys.readouterr()
    out = Path(args[args.index("--out-dir") + 1])
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return code, {s["name"]: s for s in summary.get("scenes", [])}, said.out + said.err


def _places(root: Path) -> dict[str, list[Path]]:
    north = [dated(root / "rasters" / f"n_{d}.tif", d, seed=i) for i, d in enumerate(NORTH)]
    south = [dated(root / "rasters" / f"s_{d}.tif", d, x=600000.0, seed=9 + i) for i, d in enumerate(SOUTH)]
    return {"north": north, "south": south}


def test_a_csv_manifest_of_places_and_dates_gives_one_output_per_place_and_resumes(tmp_path, season_model, capsys):
    rasters = _places(tmp_path)
    manifest = tmp_path / "places.csv"
    rows = ["image,place,output", f"rasters/{rasters['north'][0].name},north,north_crops.tif",
            f"rasters/{rasters['south'][1].name},south,", f"{rasters['north'][1]},north,north_crops.tif",
            f"rasters/{rasters['south'][0].name},south,", f"rasters/{rasters['north'][2].name},north,"]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    run = ("--manifest", str(manifest), "--model", season_model, "--out-dir", str(out))
    code, scenes, said = _run(capsys, *run)
    assert code == 0, said
    assert set(scenes) == {"north_crops", "south"} and {s["status"] for s in scenes.values()} == {"done"}
    assert len(scenes["north_crops"]["dates"]) == 3 and len(scenes["south"]["dates"]) == 2
    assert "2 place(s)" in said and "'north_crops' (3 date(s))" in said
    assert sorted(p.name for p in out.glob("*.tif")) == ["north_crops.tif", "south.tif"]
    with rasterio.open(out / "north_crops.tif") as result:
        assert result.shape == (SIZE, SIZE) and set(np.unique(result.read(1))) <= {0, 1, 2}
    code, scenes, _ = _run(capsys, *run)
    assert code == 0 and {s["status"] for s in scenes.values()} == {"skipped"}
    changed = rasters["south"][1]  # a later date of one place replaced: that place redone, the other skipped
    dated(changed, SOUTH[1], x=600000.0, seed=42)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    code, scenes, _ = _run(capsys, *run)
    assert code == 0 and scenes["south"]["status"] == "done" and scenes["north_crops"]["status"] == "skipped"


def test_a_json_manifest_lists_a_places_dates_or_leaves_them_to_their_footprints(tmp_path, season_model, capsys):
    rasters = _places(tmp_path)
    missing = tmp_path / "rasters" / "gone.tif"
    manifest = tmp_path / "places.json"
    manifest.write_text(json.dumps({"scenes": [
        {"place": "field", "dates": [str(p) for p in rasters["north"]], "output": "field.tif"},
        *({"image": str(p)} for p in rasters["south"]),  # no place: grouped by footprint, named by their folder
        {"place": "lost", "dates": [str(missing), str(rasters["north"][0])]}]}), encoding="utf-8")
    out = tmp_path / "out"
    code, scenes, said = _run(capsys, "--manifest", str(manifest), "--model", season_model, "--out-dir", str(out))
    assert code == 1, said  # the place with a missing date failed alone
    assert scenes["field"]["status"] == "done" and scenes["rasters"]["status"] == "done"
    assert len(scenes["rasters"]["dates"]) == 2 and len(scenes["field"]["dates"]) == 3
    assert scenes["lost"]["status"] == "failed" and "gone.tif" in scenes["lost"]["error"]


def _bad(tmp_path: Path, text: str, suffix: str = ".csv") -> BulkConfig:
    manifest = tmp_path / f"bad{suffix}"
    manifest.write_text(text, encoding="utf-8")
    return BulkConfig(manifest=str(manifest), out_dir=str(tmp_path / "out"))


def test_bad_season_manifests_are_refused_naming_the_line(tmp_path):
    a = dated(tmp_path / "a.tif", "2024-05-01")
    with pytest.raises(ConfigError, match=r"bad.csv', line 2: output 'x.tif' names a place's files.*'place'"):
        discover_scenes(_bad(tmp_path, f"image,output\n{a},x.tif\n"), season=True)
    with pytest.raises(ConfigError, match=r"line 2: a season model reads no aux"):
        discover_scenes(_bad(tmp_path, f"image,aux,place\n{a},{a},p\n"), season=True)
    with pytest.raises(ConfigError, match=r"line 3: output 'y.tif' must be one file name per place.*'x'"):
        discover_scenes(_bad(tmp_path, f"image,place,output\n{a},p,x.tif\n{a},p,y.tif\n"), season=True)
    with pytest.raises(ConfigError, match=r"line 2: no image"):
        discover_scenes(_bad(tmp_path, "image,place\n,p\n"), season=True)
    with pytest.raises(ConfigError, match="after_pattern|after-pattern"):
        discover_scenes(BulkConfig(images=[str(a)], after_pattern="{name}_b", out_dir=str(tmp_path / "o")),
                        season=True)
    assert not (tmp_path / "out").exists()


def _item(folder: Path, item_id: str, day: str | None, x: float, seed: int, base: str) -> dict:
    """A STAC item of one date: three single-band GeoTIFF assets (red, green, blue) in ``folder``, hrefs at
    ``base`` (the server's URL of ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(seed).random((3, SIZE, SIZE), dtype=np.float32)
    assets = {}
    for band, name in enumerate(("red", "green", "blue")):
        path = folder / f"{item_id}_{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="float32",
                           crs="EPSG:32633", transform=from_origin(x, 5100000.0, 10.0, 10.0)) as out:
            out.write(values[band:band + 1])
        assets[name] = {"href": f"{base}/{path.name}", "type": "image/tiff; application=geotiff", "roles": ["data"],
                        "eo:bands": [{"name": name, "common_name": name}]}
    properties = {"datetime": f"{day}T10:00:00Z"} if day else {}
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "properties": properties,
            "geometry": None, "assets": assets, "links": []}


def test_stac_items_served_from_localhost_are_grouped_by_place_one_output_each(tmp_path, season_model, capsys):
    from bench.http_files import FileServer

    root = tmp_path / "catalogue"
    root.mkdir()
    with FileServer(root) as server:
        items = [_item(root, f"north_{d}", d, 500000.0, i, server.url) for i, d in enumerate(NORTH)]
        items += [_item(root, f"south_{d}", d, 600000.0, 9 + i, server.url) for i, d in enumerate(SOUTH)]
        items.append(_item(root, "undated_far", None, 900000.0, 20, server.url))  # no datetime: its place fails
        (root / "catalog.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}),
                                           encoding="utf-8")
        out = tmp_path / "out"
        run = ("--stac-items", f"{server.url}/catalog.json", "--bands", "1,2,3", "--model", season_model,
               "--out-dir", str(out))  # the tiny model records no band names: the assets in its order
        code, scenes, said = _run(capsys, *run)
        assert code == 1, said  # the undated item's place failed alone
        assert scenes["north"]["status"] == scenes["south"]["status"] == "done", said
        assert len(scenes["north"]["dates"]) == 3 and all("#north_" in d for d in scenes["north"]["dates"])
        assert scenes["undated_far"]["status"] == "failed" and "undated_far" in scenes["undated_far"]["error"]
        with rasterio.open(out / "north.tif") as result:
            assert result.shape == (SIZE, SIZE)
        code, scenes, _ = _run(capsys, *run)
        assert scenes["north"]["status"] == scenes["south"]["status"] == "skipped"
        # an item reprocessed: north's June date now points at other files, so the collection's file changed (its
        # size; this server sends no Last-Modified) and the place is redone, in the same process (QGIS reruns so):
        # GDAL's cache of the collection's header kept the old one and the place was skipped
        with rasterio.open(out / "north.tif") as result:
            before = result.read()
        items[0] = _item(root / "v2", items[0]["id"], NORTH[0], 500000.0, 40, f"{server.url}/v2")
        (root / "catalog.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}),
                                           encoding="utf-8")
        code, scenes, said = _run(capsys, *run)
        assert scenes["north"]["status"] == "done", said
        with rasterio.open(out / "north.tif") as result:
            assert not np.array_equal(result.read(), before)  # made from the changed item's files
