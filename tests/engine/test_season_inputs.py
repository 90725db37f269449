"""A season as users have it (engine/imagery/season.py): dated rasters of one place from a list, folder, glob or a
stack, sorted by date, clouds masked, read onto the first date's grid as (T, C, h, w) tiles with each date's
validity, day of year and month; bad input refused naming the file and what to do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from engine.data.season_batch import season_collate, season_tile
from engine.errors import AlignmentError, ConfigError, DataError
from engine.imagery.season import resolve_season
from engine.io.safety import Files, check_outputs
from tests.engine.season_files import Heard, raster, season_scene


def test_a_list_out_of_order_is_sorted_and_said_and_read_as_dates_on_an_axis(tmp_path):
    may = raster(tmp_path / "b.tif", 2.0, date="2024-05-01")
    march = raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    july = raster(tmp_path / "c.tif", 3.0, date="2024-07-01")
    heard = Heard()

    season = resolve_season([may, march, july], heard)

    assert [d.date.isoformat() for d in season.dates] == ["2024-03-01", "2024-05-01", "2024-07-01"]
    assert season.paths == [march, may, july]
    assert any("out of time order" in line and "2024-03-01 " in line for line in heard.lines)
    enc = season.encodings()
    assert enc["doy"].tolist() == [61, 122, 183] and enc["month"].tolist() == [3, 5, 7]
    reader = season.reader()
    arrays = reader.read(0, 0, 8, 8)
    tile = season_tile(arrays.vision, arrays.date_valid, enc)
    assert tile["vision"].shape == (3, 2, 8, 8) and tile["vision"].dtype == np.float32
    assert [float(tile["vision"][t, 0, 0, 0]) for t in range(3)] == [1.0, 2.0, 3.0]  # in time order
    assert tile["valid"].shape == (3, 8, 8) and tile["valid"].all()
    season.close()


def test_folder_glob_and_file_names_of_sentinel2_hls_and_landsat(tmp_path):
    folder = tmp_path / "season"
    folder.mkdir()
    raster(folder / "T31UFQ_20240615T103031_B.tif", 1.0)
    raster(folder / "HLS.S30.T31UFQ.2024100T103031.v2.0.tif", 2.0)
    raster(folder / "LC08_L2SP_198024_20240801_20240810_02_T1_SR.tif", 3.0)

    by_folder = resolve_season([str(folder)])
    by_glob = resolve_season([str(folder / "*.tif")])

    want = ["2024-04-09", "2024-06-15", "2024-08-01"]
    assert [d.date.isoformat() for d in by_folder.dates] == want
    assert [d.date.isoformat() for d in by_glob.dates] == want
    assert [d.found for d in by_folder.dates] == ["its file name"] * 3


def test_another_crs_and_pixel_size_is_read_onto_the_first_dates_grid(tmp_path):
    first = raster(tmp_path / "a.tif", 1.0, date="2024-03-01", size=8, pixel=10.0)
    # the same ground at 5 m in a neighbouring UTM zone's CRS would warp; here: 5 m pixels, twice as many
    finer = raster(tmp_path / "b.tif", 4.0, date="2024-04-01", size=16, pixel=5.0)
    season = resolve_season([first, finer])
    arrays = season.reader().read(0, 0, 8, 8)
    tile = season_tile(arrays.vision, arrays.date_valid, season.encodings())
    assert tile["vision"].shape == (2, 2, 8, 8)
    assert np.allclose(tile["vision"][1], 4.0) and tile["valid"].all()


def test_clouds_from_a_band_or_a_raster_beside_leave_the_date_out_there(tmp_path):
    raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    banded = np.full((3, 8, 8), 2.0, np.float32)
    banded[2] = 0
    banded[2, :4] = 1  # the top half cloudy
    raster(tmp_path / "b.tif", 0, date="2024-04-01", data=banded, names=["red", "nir", "cloud"])
    raster(tmp_path / "c.tif", 3.0, date="2024-05-01")
    mask = np.zeros((1, 8, 8), np.float32)
    mask[0, :, :2] = 1  # the two left columns cloudy
    raster(tmp_path / "c_cloud.tif", 0, data=mask)
    heard = Heard()

    season = resolve_season([str(tmp_path)], heard)  # the folder: c_cloud.tif is no date

    assert len(season.dates) == 3 and [d.cloud is not None for d in season.dates] == [False, True, True]
    clouds = [line for line in heard.lines if line.startswith("Clouds (non-zero = cloud) are left out of 2 date(s)")]
    assert len(clouds) == 1 and "2024-04-01 from its band 3 'cloud'" in clouds[0]
    assert "c_cloud.tif' beside it" in clouds[0]
    arrays = season.reader(bands=None).read(0, 0, 8, 8)
    tile = season_tile(arrays.vision, arrays.date_valid, season.encodings())
    assert tile["vision"].shape == (3, 2, 8, 8)  # the cloud band is no data band
    assert tile["valid"][0].all()
    assert not tile["valid"][1, :4].any() and tile["valid"][1, 4:].all()
    assert not tile["valid"][2, :, :2].any() and tile["valid"][2, :, 2:].all()
    assert (tile["vision"][1, :, :4] == 0).all() and (tile["vision"][1, :, 4:] == 2).all()
    assert arrays.valid.all()  # a season's pixel counts where any date holds data


def test_a_date_entirely_cloudy_or_nodata_is_dropped_and_said(tmp_path):
    ok = raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    empty = raster(tmp_path / "b.tif", -1.0, date="2024-04-01", nodata=-1.0)
    heard = Heard()
    season = resolve_season([ok, empty], heard)
    assert season.paths == [ok]
    assert any(line.startswith("WARNING 1 date(s) have no valid pixel") and f"2024-04-01 '{empty}'" in line
               for line in heard.lines)
    with pytest.raises(DataError, match="Every date of the season is entirely cloud or nodata"):
        resolve_season([empty])


def test_a_stack_with_a_band_group_per_date(tmp_path):
    data = np.concatenate([np.full((2, 8, 8), v, np.float32) for v in (1.0, 2.0, 3.0)])
    stack = raster(tmp_path / "stack.tif", 0, data=data)
    season = resolve_season([stack], stack_dates=["2024-06-01", "2024-02-01", "2024-04-01"])
    assert [d.date.month for d in season.dates] == [2, 4, 6]
    arrays = season.reader().read(0, 0, 8, 8)
    tile = season_tile(arrays.vision, arrays.date_valid, season.encodings())
    assert [float(tile["vision"][t, 0, 0, 0]) for t in range(3)] == [2.0, 3.0, 1.0]  # sorted by date
    with pytest.raises(DataError, match="do not split into 4 dates"):
        resolve_season([stack], stack_dates=["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    assert not list(tmp_path.glob("*.vrt")), "nothing written beside the inputs"
    season.close()


def test_bad_input_is_refused_naming_the_file_and_what_to_do(tmp_path):
    first = raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    far = raster(tmp_path / "far.tif", 1.0, date="2024-04-01", x0=900000.0)
    with pytest.raises(AlignmentError, match=r"far\.tif' does not overlap the first date '.*a\.tif' \(footprints"):
        resolve_season([first, far])

    undated = raster(tmp_path / "undated.tif", 1.0)
    with pytest.raises(DataError, match=r"'.*undated\.tif' has no acquisition date .*ACQUISITIONDATETIME.*Landsat"):
        resolve_season([first, undated])

    three = raster(tmp_path / "three.tif", 1.0, date="2024-05-01", bands=3)
    with pytest.raises(DataError, match=r"three\.tif' has 3 band\(s\) but the first date .* has 2 band\(s\)"):
        resolve_season([first, three])
    renamed = raster(tmp_path / "n1.tif", 1.0, date="2024-05-01", names=["red", "nir"])
    swapped = raster(tmp_path / "n2.tif", 1.0, date="2024-06-01", names=["nir", "red"])
    with pytest.raises(DataError, match=r"\(nir, red\) but the first date .* \(red, nir\)"):
        resolve_season([renamed, swapped])

    with pytest.raises(DataError, match="does not exist"):
        resolve_season([str(tmp_path / "missing.tif")])
    with pytest.raises(DataError, match="holds no raster"):
        resolve_season([str(tmp_path / "*.jp2")])


def test_two_rasters_of_one_day_keep_the_first_given_and_say_so(tmp_path):
    a = raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    b = raster(tmp_path / "b.tif", 2.0, date="2024-03-01")
    heard = Heard()
    season = resolve_season([b, a], heard)
    assert season.paths == [b]
    assert any(f"'{b}' is kept (given first), '{a}' left out" in line for line in heard.lines)


def test_an_output_naming_a_dates_file_is_refused(tmp_path):
    a = raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    b = raster(tmp_path / "b.tif", 2.0, date="2024-04-01")
    season = resolve_season([str(tmp_path)])
    with pytest.raises(ConfigError, match="b.tif"):
        check_outputs({"dates": Files([d.source for d in season.dates])}, {"output": b})
    assert Path(a).exists() and Path(b).exists()


def test_days_run_on_across_new_year():
    from engine.time_axis import day_of_year, days_since

    winter = [dt.date(2023, 10, 1), dt.date(2024, 2, 1)]
    assert days_since(winter).tolist() == [273, 396]
    assert day_of_year(winter).tolist() == [274, 32]  # runs backwards: why days_since exists


def test_places_with_different_date_counts_are_padded_with_masks():
    def tile(dates: int, value: float) -> dict:
        vision = np.full((dates * 2, 4, 4), value, np.float32)
        enc = {"doy": np.arange(1, dates + 1), "month": np.ones(dates), "days": np.arange(dates)}
        return season_tile(vision, np.ones((dates, 4, 4), bool), enc, np.zeros((4, 4), np.uint8))

    batch = season_collate([tile(3, 1.0), tile(1, 2.0)])

    assert batch["vision"].shape == (2, 3, 2, 4, 4) and batch["vision"].dtype == torch.float32
    assert batch["valid"].shape == (2, 3, 4, 4) and batch["valid"].dtype == torch.bool
    assert batch["present"].tolist() == [[True, True, True], [True, False, False]]
    assert not batch["valid"][1, 1:].any() and (batch["vision"][1, 1:] == 0).all()
    assert batch["doy"].tolist() == [[1, 2, 3], [1, 0, 0]] and batch["doy"].dtype == torch.int64
    assert batch["labels"].shape == (2, 4, 4) and batch["labels"].dtype == torch.int64


def test_dates_on_the_command_line_are_one_scene_sorted_when_the_run_is_planned(tmp_path):
    from engine.api.training import _season_scenes
    from engine.cli.main import build_parser
    from engine.cli.train import request_from_args

    may = raster(tmp_path / "may.tif", 2.0, date="2024-05-01")
    march = raster(tmp_path / "march.tif", 1.0, date="2024-03-01")
    label = raster(tmp_path / "label.tif", 1.0, bands=1)
    out = tmp_path / "out" / "m.dsmodel"
    args = build_parser().parse_args(["train", "--dates", may, march, "--label", label, "--out", str(out)])
    request = request_from_args(args)
    scene = request.data.train_scenes[0]
    assert scene.dates == [may, march] and scene.image == "" and scene.label == label

    planned = _season_scenes(request).data.train_scenes[0]

    assert (planned.image, planned.after, planned.dates) == (march, [may], [])
    assert any("out of time order" in note for note in request.notes)
    with pytest.raises(ConfigError, match="gives its dates twice"):
        request_from_args(build_parser().parse_args(["train", "--dates", may, march, "--after", may, "--label",
                                                     label, "--out", str(out)]))


def test_a_config_files_stack_of_dates_keeps_its_vrts_beside_the_bundle_not_the_input(tmp_path):
    from engine.api import train_request
    from engine.api.training import _season_scenes

    data = np.concatenate([np.full((2, 8, 8), v, np.float32) for v in (1.0, 2.0)])
    (tmp_path / "in").mkdir()
    stack = raster(tmp_path / "in" / "stack.tif", 0, data=data)
    label = raster(tmp_path / "label.tif", 1.0, bands=1)
    out = tmp_path / "out" / "m.dsmodel"
    request = train_request({"data": {"train_scenes": [{"dates": [stack], "stack_dates": ["2024-07-01", "2024-01-01"],
                                                        "label": label}]},
                             "train": {"output": str(out)}})

    planned = _season_scenes(request).data.train_scenes[0]

    assert Path(planned.image).parent == tmp_path / "out" / "m_season" and planned.image.endswith(".vrt")
    with rasterio.open(planned.image) as first:
        assert first.tags()["ACQUISITIONDATETIME"] == "2024-01-01" and float(first.read(1)[0, 0]) == 2.0
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["stack.tif"]  # nothing beside the input
    assert planned.names[planned.image] == f"'{stack} (bands 3-4)'"  # quoted, as messages quote a file


def test_a_season_dataset_yields_date_axis_tiles_with_one_set_of_band_statistics(tmp_path):
    from engine.api import train_request
    from engine.api.training import _season_scenes
    from engine.data.dataset import build_datasets

    paths, label = season_scene(tmp_path, ["2024-07-01", "2024-03-01", "2024-05-01"], cloudy=1)
    request = train_request({"data": {"train_scenes": [{"dates": paths, "label": label}], "tile_size": 32,
                                       "tiles_per_epoch": 4, "val_fraction": 0.0, "statistics_tiles": 4},
                             "train": {"output": str(tmp_path / "out" / "m.dsmodel")}})
    data = _season_scenes(request).data

    train_ds, _, summary = build_datasets(data, season=True)

    assert summary.metadata.vision_bands == 2 and summary.metadata.vision_stats.bands == 2  # one set, all dates
    assert summary.metadata.dates == 3
    sample = train_ds[0]
    assert sample["vision"].shape == (3, 2, 32, 32) and sample["valid"].shape == (3, 32, 32)
    assert sample["doy"].tolist() == [61, 122, 183] and sample["days"].tolist() == [60, 121, 182]
    assert sample["labels"].shape == (32, 32)
    # d1.tif, cloudy on half, is the earliest date: invalid there (the others all but the augmentation's corners)
    shares = [float(v.float().mean()) for v in sample["valid"]]
    assert 0.3 < shares[0] < 0.7 and min(shares[1:]) > 0.8, shares
    batch = season_collate([train_ds[0], train_ds[1]])
    assert batch["vision"].shape == (2, 3, 2, 32, 32) and batch["present"].all()


def test_a_season_trains_from_dates_on_the_command_line(tmp_path, capsys):
    from engine.bundle.describe import describe_bundle
    from engine.bundle.store import read_metadata
    from engine.cli.main import main

    paths, label = season_scene(tmp_path, ["2024-07-01", "2024-03-01", "2024-05-01"], size=64, cloudy=1)
    out = tmp_path / "out" / "m.dsmodel"
    code = main(["train", "--dates", *paths, "--label", label, "--model", "season", "--preset", "tiny",
                 "--tile-size", "32", "--epochs", "1", "--tiles-per-epoch", "4", "--batch-size", "2",
                 "--val-fraction", "0.5", "--out", str(out)])
    assert code == 0 and out.is_file()
    meta = read_metadata(out)
    assert meta.model.name == "season" and meta.data.dates == 3 and meta.data.vision_stats.bands == 2
    # the first date (d1.tif, cloudy) is read through a VRT of its clouds; the log and the bundle name the file
    err = capsys.readouterr().err
    data = next(line for line in err.splitlines() if line.startswith("Data: ") and "validation tiles" in line)
    assert f"across '{paths[1]}' (" in data and ".vrt" not in data, data  # each end holds a class: squares
    assert {w["scene"] for w in meta.data.held_out} == {"d1.tif"}
    assert "validated on windows held out of training: 'd1.tif' columns" in "\n".join(describe_bundle(str(out), meta))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(
        ["d0.tif", "d1.tif", "d2.tif", "d1_cloud.tif", "label.tif"])  # nothing written beside the inputs


@pytest.fixture(scope="module")
def season_bundle(tmp_path_factory):
    from engine.cli.main import main

    root = tmp_path_factory.mktemp("season")
    paths, label = season_scene(root, ["2024-07-01", "2024-03-01", "2024-05-01"], size=48, cloudy=1)
    out = root / "out" / "m.dsmodel"
    code = main(["train", "--dates", *paths, "--label", label, "--model", "season", "--preset", "tiny",
                 "--tile-size", "32", "--epochs", "1", "--tiles-per-epoch", "2", "--batch-size", "2",
                 "--val-fraction", "0", "--out", str(out)])
    assert code == 0
    return root, paths, str(out)


def test_segment_takes_a_seasons_dates_sorted_and_cloud_masked(season_bundle, tmp_path, capsys):
    from engine.cli.main import main

    root, paths, bundle = season_bundle
    out = tmp_path / "classes.tif"
    code = main(["segment", "--model", bundle, "--dates", *paths, "--backend", "torch", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "sorted by date: 2024-03-01" in err and "2024-03-01 from the raster" in err
    assert f"Segmenting '{paths[1]}'" in err  # the first date as given, not the VRT of its clouds
    with rasterio.open(out) as ds:
        assert ds.read(1).shape == (48, 48) and set(np.unique(ds.read(1))) <= {0, 1}
    # an output naming a date is refused before anything is read; nothing written
    code = main(["segment", "--model", bundle, "--dates", *paths, "--out", paths[2]])
    assert code != 0 and "would overwrite the dates (--dates)" in capsys.readouterr().err
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == sorted(
        ["d0.tif", "d1.tif", "d2.tif", "d1_cloud.tif", "label.tif"])


def test_a_season_model_refuses_a_date_without_a_date_naming_the_file(season_bundle, tmp_path, capsys):
    from engine.cli.main import main

    _, paths, bundle = season_bundle
    undated = raster(tmp_path / "undated.tif", 0.2, size=48)
    code = main(["segment", "--model", bundle, "--image", paths[1], "--after", undated, "--backend", "torch",
                 "--out", str(tmp_path / "c.tif")])
    err = capsys.readouterr().err
    assert code != 0 and f"The raster '{undated}' has no acquisition date" in err and "ACQUISITIONDATETIME" in err
    assert not (tmp_path / "c.tif").exists()


def test_a_stac_item_takes_its_place_by_its_datetime(tmp_path):
    import json

    july = raster(tmp_path / "july.tif", 1.0, date="2024-07-01")
    band = raster(tmp_path / "may_red.tif", 2.0, bands=1)
    item = tmp_path / "may.json"
    item.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "may", "geometry": None,
        "properties": {"datetime": "2024-05-01T10:30:00Z"},
        "assets": {"red": {"href": band, "type": "image/tiff; application=geotiff", "roles": ["data"],
                           "eo:bands": [{"name": "red"}]}}}))

    season = resolve_season([july, str(item)])

    assert [d.source for d in season.dates] == [str(item), july]
    assert season.dates[0].found == "its STAC item's datetime" and season.dates[0].date == dt.date(2024, 5, 1)


def test_places_with_different_date_counts_train_together_padded(tmp_path):
    from engine.api import train_request
    from engine.api.training import _season_scenes
    from engine.data.dataset import build_datasets

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    three, label_a = season_scene(tmp_path / "a", ["2024-03-01", "2024-05-01", "2024-07-01"])
    two, label_b = season_scene(tmp_path / "b", ["2024-04-01", "2024-06-01"])
    request = train_request({"data": {"train_scenes": [{"dates": three, "label": label_a},
                                                       {"dates": two, "label": label_b}],
                                       "tile_size": 32, "tiles_per_epoch": 8, "val_fraction": 0.0,
                                       "statistics_tiles": 4},
                             "train": {"output": str(tmp_path / "out" / "m.dsmodel")}})
    train_ds, _, _ = build_datasets(_season_scenes(request).data, season=True)

    samples = [train_ds[i] for i in range(len(train_ds))]
    counts = {int(s["present"].sum()) for s in samples}
    assert counts == {2, 3}, counts  # both places drawn
    batch = season_collate(samples)
    short = [i for i, s in enumerate(samples) if len(s["present"]) == 2]
    assert batch["vision"].shape[1] == 3 and not batch["present"][short, 2].any()
    assert not batch["valid"][short, 2].any() and (batch["days"][short, 2] == 0).all()


def test_a_season_of_one_date_computes_its_statistics_and_trains(tmp_path):
    """One date is the case T = 1 (issue 80): the season family trains on it (the best single date, a composite)."""
    from engine.bundle.store import read_metadata
    from engine.cli.main import main

    paths, label = season_scene(tmp_path, ["2024-07-01"], size=64)
    out = tmp_path / "out" / "m.dsmodel"
    code = main(["train", "--dates", *paths, "--label", label, "--model", "season", "--preset", "tiny",
                 "--tile-size", "32", "--epochs", "1", "--tiles-per-epoch", "4", "--batch-size", "2",
                 "--val-fraction", "0.5", "--out", str(out)])
    assert code == 0 and out.is_file()
    meta = read_metadata(out)
    assert meta.model.name == "season" and meta.data.dates == 1 and meta.data.vision_stats.bands == 2


def test_segment_takes_one_stack_of_dates(season_bundle, tmp_path, capsys):
    from engine.cli.main import main

    root, paths, bundle = season_bundle
    groups = []
    for path in paths:
        with rasterio.open(path) as ds:
            groups.append(ds.read())
    stack = raster(tmp_path / "stack.tif", 0, data=np.concatenate(groups))  # d0 (Jul), d1 (Mar), d2 (May)
    out = tmp_path / "classes.tif"
    code = main(["segment", "--model", bundle, "--dates", stack, "--stack-dates", "2024-07-01", "2024-03-01",
                 "2024-05-01", "--backend", "torch", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "The season: 3 date(s) of one place, 2024-03-01, 2024-05-01, 2024-07-01" in err
    with rasterio.open(out) as ds:
        assert ds.read(1).shape == (48, 48)
    assert not list(tmp_path.glob("*.vrt")), "the stack's dates are VRTs in a temporary folder, not beside it"


def test_a_label_left_in_the_folder_of_dates_is_named_with_where_it_was_found(tmp_path):
    """A folder of dates holding the season's label too: "give its date in its metadata" alone sent the user to date
    a label."""
    folder = tmp_path / "season"
    folder.mkdir()
    raster(folder / "a.tif", 1.0, date="2024-03-01")
    raster(folder / "b.tif", 1.0, date="2024-05-01")
    raster(folder / "label.tif", 1.0)
    with pytest.raises(DataError, match=r"label\.tif' has no acquisition date") as refused:
        resolve_season([str(folder)])
    assert f"It was found in '{folder}', given for the dates: if it is no date (a label, an aux layer), move it out" \
        in str(refused.value)
    with pytest.raises(DataError) as given:  # named by itself, it is meant as a date: no word of a folder
        resolve_season([str(folder / "a.tif"), str(folder / "label.tif")])
    assert "It was found in" not in str(given.value)


def test_a_web_layer_given_as_a_date_is_refused_by_its_name_without_its_description(tmp_path):
    """An XYZ layer among the dates: its whole GDAL XML was quoted, with advice to tag it with gdal_edit.py."""
    from engine.imagery.web import xyz_description

    first = raster(tmp_path / "a.tif", 1.0, date="2024-03-01")
    tiles = xyz_description("http://127.0.0.1:9/{z}/{x}/{y}.png", zmax=16) + "|layername=satellite tiles"
    with pytest.raises(DataError) as refused:
        resolve_season([first, tiles])
    said = str(refused.value)
    assert said.startswith("The XYZ layer 'satellite tiles' cannot be a date of a season"), said
    assert "<GDAL_WMS>" not in said and "saved as a GeoTIFF" in said


def test_a_cloud_masked_date_keeps_its_band_names(tmp_path):
    """A date's clouds go in through a VRT: its bands keep their names (a model reading bands by name needs them)."""
    from engine.data.input_vrt import cloud_masked_vrt

    date = raster(tmp_path / "d.tif", 1.0, date="2024-05-01", names=["red", "nir"])
    cloud = raster(tmp_path / "d_cloud.tif", 0.0, bands=1)
    (tmp_path / "vrt").mkdir()
    vrt = cloud_masked_vrt(date, [1, 2], cloud, 1, tmp_path / "vrt" / "d.vrt")
    with rasterio.open(vrt) as ds:
        assert ds.descriptions == ("red", "nir")


def test_segment_names_each_date_as_given_and_says_a_seasons_alike_lines_once(tmp_path, capsys):
    """Each date is read through the image door, which says how its bands were picked: the lines name the dates'
    files (never the VRT of a date's clouds), and a season of dozens of dates gives the first three and a count."""
    from engine.cli.main import main

    paths, label = season_scene(tmp_path, ["2024-07-01", "2024-03-01", "2024-05-01", "2024-06-01", "2024-08-01"],
                                size=48, cloudy=1)
    for path in paths:  # named bands: segment picks each date's bands by name, and says so
        with rasterio.open(path, "r+") as ds:
            ds.set_band_description(1, "red")
            ds.set_band_description(2, "nir")
    out = tmp_path / "out" / "m.dsmodel"
    assert main(["train", "--dates", *paths, "--label", label, "--model", "season", "--preset", "tiny",
                 "--tile-size", "32", "--epochs", "1", "--tiles-per-epoch", "2", "--batch-size", "2",
                 "--val-fraction", "0", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()

    code = main(["segment", "--model", str(out), "--dates", *paths, "--backend", "torch",
                 "--out", str(tmp_path / "classes.tif")])

    err = capsys.readouterr().err
    assert code == 0, err
    picked = [line for line in err.splitlines() if ": Bands picked by name: red <- band 1" in line]
    # time order: d1 (cloudy: read through a VRT), d2, d3; then d0 and d4 counted
    assert [line.split("'")[1] for line in picked] == [paths[1], paths[2], paths[3]], err
    assert "... and 2 more line(s) like the last 3 above (one a date)." in err
    assert ".vrt" not in err
