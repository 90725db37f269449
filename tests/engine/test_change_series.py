"""Change detection over many pairs and the reading of pairs: a later date read in the first date's shared cells,
pairs matched by their acquisition dates, a monitoring series whose first date is shared, and the change table of
each pair in the bulk summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from engine.data.scene import SceneReader
from engine.data.synthetic_pairs import make_pair
from engine.segment.tiling import TileGrid
from tests.helpers import make_change_bundle


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return make_pair(tmp_path_factory.mktemp("pair"), seed=3, size=320, name="site")


def test_a_later_date_is_read_once_per_cell_with_the_values_of_a_tile_by_tile_read(pair, tmp_path):
    shifted = tmp_path / "shifted_after.tif"  # the later date on the first date's grid, 9 and 5 pixels in
    with rasterio.open(pair.after) as src:
        window = Window(9, 5, 300, 300)
        profile = {**src.profile, "width": 300, "height": 300, "transform": src.window_transform(window)}
        with rasterio.open(shifted, "w", **profile) as dst:
            dst.write(src.read(window=window))
    windows = [t.window for t in TileGrid.plan((0, 0, 320, 320), (320, 320), 128, 32)]
    for after in (pair.after, str(shifted)):
        alone = SceneReader(pair.before, after=[after])
        shared = SceneReader(pair.before, after=[after])
        parts = shared.share_parts(windows)
        for window in windows:
            a, b = alone.read(*window), shared.read(*window)
            assert np.array_equal(a.vision, b.vision) and np.array_equal(a.valid, b.valid)
        cells = len(list(parts.cells.cells(0, 0, 320, 320)))
        assert parts.made["date"] == parts.made["cell"] == cells > 1  # each cell of each date read once
        assert parts.held == 0  # every part dropped after its last tile
    assert not alone.read(310, 306, 10, 10).valid.any()  # past the shifted date's end (309, 305): no data


def _copy(source: str, path: Path, shift: float = 0.0) -> str:
    with rasterio.open(source) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(path, "w", **{**profile, "transform": src.transform * src.transform.translation(shift, 0)}) \
            as dst:
        dst.write(data)
    return str(path)


def test_bulk_pairs_a_monitoring_series_by_date_and_tables_each_pairs_change(pair, tmp_path):
    import csv

    from engine.cli.main import main

    model = make_change_bundle(tmp_path / "change.dsmodel")
    folder = tmp_path / "series"
    folder.mkdir()
    # one place seen on three dates (Sentinel-2 names carry them), another seen once, and an image of no date
    for day, source in (("20190601", pair.before), ("20210601", pair.after), ("20230601", pair.before)):
        _copy(source, folder / f"S2A_{day}T103031_site.tif")
    _copy(pair.before, folder / "S2A_20200601T103031_elsewhere.tif", shift=5000)
    _copy(pair.after, folder / "undated.tif")
    out = tmp_path / "out"
    code = main(["segment", "--model", model, "--images", str(folder), "--pair-by-date", "first", "--out-dir",
                 str(out), "--quiet"])
    assert code != 0  # two images made no pair: each fails alone, the pairs are done
    rows = {r["image"].rsplit("/", 1)[1]: r for r in csv.DictReader((out / "summary.csv").open(encoding="utf-8"))}
    first, second = "S2A_20190601T103031_site_to_S2A_20210601T103031_site", \
        "S2A_20190601T103031_site_to_S2A_20230601T103031_site"
    assert sorted(p.stem for p in out.glob("*.tif")) == [first, second]  # the first date shared by both pairs
    assert rows["S2A_20190601T103031_site.tif"]["status"] == "done"
    assert "only one of its place" in rows["S2A_20200601T103031_elsewhere.tif"]["error"]
    assert "no acquisition date" in rows["undated.tif"]["error"] and "after_pattern" in rows["undated.tif"]["error"]
    table = list(csv.DictReader((out / "change_table.csv").open(encoding="utf-8")))
    assert [r["later_date"].rsplit("/", 1)[1] for r in table] == ["S2A_20210601T103031_site.tif",
                                                                  "S2A_20230601T103031_site.tif"]
    for row in table:  # each pair's hectares are its change raster's
        with rasterio.open(row["output"]) as got:
            changed = int((got.read(1) == 1).sum())
        assert row["name"] == "change" and int(row["pixels"]) == changed
        assert float(row["hectares"]) == pytest.approx(changed / 10_000, abs=1e-4)
    summary = (out / "summary.csv").read_text(encoding="utf-8").splitlines()[0]
    assert summary.startswith("image,later_date,change,status")
    code = main(["segment", "--model", model, "--images", str(folder / "S2A_*_site.tif"), "--pair-by-date",
                 "previous", "--out-dir", str(tmp_path / "out2"), "--quiet"])
    assert code == 0
    assert sorted(p.stem for p in (tmp_path / "out2").glob("*.tif")) == [
        first, "S2A_20210601T103031_site_to_S2A_20230601T103031_site"]


def test_bulk_refuses_a_later_date_that_is_the_image_itself(pair, tmp_path):
    import json

    from engine.cli.main import main

    model = make_change_bundle(tmp_path / "change.dsmodel")
    out = tmp_path / "out"
    code = main(["segment", "--model", model, "--images", pair.before, "--after-pattern", "{name}", "--out-dir",
                 str(out), "--quiet"])
    scene = json.loads((out / "summary.json").read_text(encoding="utf-8"))["scenes"][0]
    assert code != 0 and scene["status"] == "failed" and "is the image itself" in scene["error"]
    assert not list(out.glob("*.tif"))


def test_a_pair_is_segmented_at_the_training_pixel_size_and_written_on_its_own_grid(pair, tmp_path, capsys):
    from osgeo import gdal

    from engine.cli.main import main

    model = make_change_bundle(tmp_path / "change_2m.dsmodel", gsd=2.0)
    out = tmp_path / "resampled.tif"
    code = main(["segment", "--model", model, "--image", pair.before, "--after", pair.after, "--out", str(out),
                 "--probabilities", str(tmp_path / "resampled_p.tif"), "--resample-to-training-gsd",
                 "--backend", "torch"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Resampling" in err and "training pixel size [2.0, 2.0]" in err
    with rasterio.open(out) as got:
        assert (got.width, got.height, got.res) == (320, 320, (1.0, 1.0))  # the outputs on the pair's own grid
    # the same as both dates warped to 2 m by hand and segmented there (up to the warp back to 1 m)
    warped = []
    for path in (pair.before, pair.after):
        warped.append(str(tmp_path / Path(path).name))
        gdal.Warp(warped[-1], path, xRes=2.0, yRes=2.0, resampleAlg="average")
    code = main(["segment", "--model", model, "--image", warped[0], "--after", warped[1], "--out",
                 str(tmp_path / "by_hand.tif"), "--probabilities", str(tmp_path / "by_hand_p.tif"), "--backend",
                 "torch", "--quiet"])
    assert code == 0
    gdal.Warp(str(tmp_path / "back_2m.tif"), str(tmp_path / "resampled_p.tif"), xRes=2.0, yRes=2.0,
              resampleAlg="average")
    with rasterio.open(tmp_path / "back_2m.tif") as a, rasterio.open(tmp_path / "by_hand_p.tif") as b:
        mine, theirs = a.read(1), b.read(1)
    inner = (slice(4, -4), slice(4, -4))
    assert mine.std() > 0.01 and np.corrcoef(mine[inner].ravel(), theirs[inner].ravel())[0, 1] > 0.9


def test_polygon_labels_with_a_class_before_and_after_train_from_to_classes(pair, tmp_path, capsys):
    import shutil

    from osgeo import ogr

    from engine.bundle.model_files import read_model_metadata
    from engine.cli.main import main
    from engine.data.augment import swappable

    labels = tmp_path / "from_to.gpkg"
    shutil.copyfile(pair.change_polygons, labels)  # fields "before" and "after": 0 -> 1 built, 1 -> 0 torn down
    with rasterio.open(pair.transitions) as src:
        truth, left, top = src.read(1), src.bounds.left, src.bounds.top
    assert not truth[:6, :6].any()
    data = ogr.Open(str(labels), 1)  # a building there before and after: no change
    layer = data.GetLayer(0)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetField("before", 1)
    feature.SetField("after", 1)
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({left} {top},{left + 6} {top},{left + 6} {top - 6},{left} {top - 6},{left} {top}))"))
    layer.CreateFeature(feature)
    data = layer = feature = None
    out = tmp_path / "from_to.dsmodel"
    code = main(["train", "--image", pair.before, "--after", pair.after, "--label", str(labels), "--label-field",
                 "before", "--label-after-field", "after", "--model", "change", "--preset", "tiny", "--tile-size",
                 "64", "--epochs", "1", "--warmup-epochs", "0", "--tiles-per-epoch", "4", "--batch-size", "2",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "each transition is a class" in err and "0 → 1=1, 1 → 0=2" in err
    meta = read_model_metadata(str(out))
    assert meta.data.class_names == ["no change", "0 → 1", "1 → 0"] and meta.model.num_classes == 3
    assert not swappable(meta.data.class_names) and not swappable(["no change", "0 → 1"])
    # the labels the training read: the transitions, pixel for pixel (1 built, 2 torn down, 0 elsewhere)
    reader = SceneReader(pair.before, after=[pair.after], label=str(labels), label_field="before",
                         label_after_field="after", label_mapping=meta.data.label_mapping)
    assert np.array_equal(reader.read(0, 0, 320, 320).label, truth)
    code = main(["train", "--image", pair.before, "--after", pair.after, "--label", pair.change,
                 "--label-after-field", "after", "--model", "change", "--out", str(tmp_path / "x.dsmodel"), "--quiet"])
    assert code != 0 and "--label-after-field" in capsys.readouterr().err


def test_suggest_and_propose_refuse_a_change_model_before_reading_anything(pair, tmp_path, capsys):
    from engine.cli.main import main
    from engine.config.proposals import ProposeConfig
    from engine.errors import ConfigError
    from engine.segment.relay import refuse_dated_models

    model = make_change_bundle(tmp_path / "change.dsmodel")
    code = main(["suggest", "--model", model, "--image", pair.before, "--out", str(tmp_path / "w.gpkg")])
    err = capsys.readouterr().err
    assert code != 0 and "is a change model of 2 dates" in err and "suggest works on one image" in err
    assert "--model" in err and not (tmp_path / "w.gpkg").exists()
    with pytest.raises(ConfigError, match="propose works on one image"):
        refuse_dated_models(ProposeConfig(models=[model]), [model])


def test_a_first_date_shared_by_pairs_is_encoded_once_with_the_same_change():
    import torch

    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("change", preset="tiny", vision_channels=3, num_classes=1, dropout=0.0,
                        fusion="concat").eval()  # the order of the dates matters: a mixed-up layout would show
    seen = []
    model.encoder.backbone.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    before, later = torch.rand(3, 3, 64, 64), [torch.rand(3, 3, 64, 64) for _ in range(2)]
    with torch.no_grad():
        alone = [model(torch.cat([before, after], 1))["logits"] for after in later]
        assert seen == [6, 6]  # a pair alone: both dates of its 3 tiles
        assert model.share_first_dates()
        shared = [model(torch.cat([before, after], 1))["logits"] for after in later]
    assert seen[2:] == [6, 3]  # the second pair encodes its later date only
    assert model.first_dates.hits == 3 and model.first_dates.misses == 3
    for a, b in zip(alone, shared):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_monitoring_series_in_bulk_gives_each_pair_the_change_it_gives_alone(pair, tmp_path):
    from engine.cli.main import main

    model = make_change_bundle(tmp_path / "change.dsmodel")
    folder = tmp_path / "series"
    folder.mkdir()
    dated = [_copy(source, folder / f"S2A_{day}T103031_site.tif")
             for day, source in (("20190601", pair.before), ("20210601", pair.after), ("20230601", pair.after))]
    with rasterio.open(dated[2], "r+") as dst:  # the third date: the second one brighter
        dst.write((dst.read().astype(np.float32) * 1.2).astype(np.uint16))
    out = tmp_path / "out"
    assert main(["segment", "--model", model, "--images", str(folder), "--pair-by-date", "first", "--backend",
                 "torch", "--with-probabilities", "--out-dir", str(out), "--quiet"]) == 0
    for later in dated[1:]:
        alone = tmp_path / f"alone_{Path(later).stem}_p.tif"
        assert main(["segment", "--model", model, "--image", dated[0], "--after", later, "--out",
                     str(tmp_path / "alone.tif"), "--probabilities", str(alone), "--backend", "torch",
                     "--quiet"]) == 0
        with rasterio.open(alone) as a, rasterio.open(
                out / f"S2A_20190601T103031_site_to_{Path(later).stem}_probabilities.tif") as b:
            assert np.allclose(a.read(), b.read(), atol=1e-4)


def test_pairs_by_date_say_why_an_image_makes_no_pair(pair, tmp_path):
    import warnings

    from engine.segment.bulk.pairs import pairs_by_date

    same = [_copy(pair.before, tmp_path / f"S2A_20210601T10303{i}_site.tif") for i in range(2)]  # one day twice
    plain = tmp_path / "S2A_20220601T103031_plain.tif"
    with rasterio.open(pair.before) as src, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ungeoreferenced copy, on purpose
        profile = {k: v for k, v in src.profile.items() if k not in ("crs", "transform")}
        with rasterio.open(plain, "w", **profile) as dst:
            dst.write(src.read())
    found = {Path(image).name: (later, error) for image, later, error in pairs_by_date([*same, str(plain)], "first")}
    later, error = found[Path(same[1]).name]  # the second of the day is left out, naming the one kept
    assert later is None and "same day (2021-06-01)" in error and "order is unknown" in error
    assert f"'{same[0]}' (the first by name) is that day's date" in error
    later, error = found[Path(same[0]).name]  # the one kept has no other date
    assert later is None and "only date of its place" in error
    later, error = found[plain.name]
    assert later is None and "no georeferencing" in error and "after_pattern" in error


def test_two_images_of_one_day_keep_the_place_s_other_pairs(pair, tmp_path):
    """Two images of one place from one day dropped the place's other pairs (2019 -> 2023 neither written nor
    listed): the first of the day by name makes the pairs, the other fails alone, saying which was kept."""
    from engine.segment.bulk.pairs import pairs_by_date

    day = [_copy(pair.before, tmp_path / f"S2A_20190601T10303{i}_site.tif") for i in range(2)]
    later = _copy(pair.after, tmp_path / "S2A_20230601T103031_site.tif")
    for how in ("first", "previous"):
        found = pairs_by_date([*day, later], how)
        assert (day[0], later, None) in found
        left = [(image, error) for image, after, error in found if error]
        assert len(left) == 1 and left[0][0] == day[1] and f"'{day[0]}' (the first by name)" in left[0][1]


def _series(pair, folder: Path, later: int = 3) -> list[str]:
    """One first date and ``later`` later dates of one place, each later one in its own light."""
    folder.mkdir()
    dated = [_copy(pair.before, folder / "S2A_20190601T103031_site.tif")]
    for i in range(later):
        dated.append(_copy(pair.after, folder / f"S2A_{2020 + i}0601T103031_site.tif"))
        with rasterio.open(dated[-1], "r+") as dst:
            dst.write((dst.read().astype(np.float32) * (1.0 + 0.1 * i)).astype(np.uint16))
    return dated


def test_a_series_on_the_default_backend_encodes_its_first_date_once_with_the_whole_graphs_change(
        pair, tmp_path, monkeypatch, capsys):
    """onnxruntime runs a change bundle as its cached encoder and head graphs: in a monitoring series the first
    date's tiles go through the encoder for the first pair only, and every pair's change is the one the user's
    one-graph export (before, after -> probabilities) gives; a lone pair runs the one graph (no maps to keep: its
    encoder and decoder in one session, one memory arena) and gives the same change."""
    from engine.bundle.date_graphs import DateGraphs
    from engine.cli.main import main
    from engine.export.onnx_cache import cached_date_graphs

    model = make_change_bundle(tmp_path / "change.dsmodel")
    dated = _series(pair, tmp_path / "series")
    made = cached_date_graphs(model, None)  # the export's own parity runs uncounted
    assert made.made and made.max_abs_diff <= 1e-4
    encoded: list[int] = []
    stores = []
    encode = DateGraphs.encode

    def counted(self, images):  # the real encoder graph, its batches counted
        encoded.append(len(images))
        stores.append(self.store)
        return encode(self, images)

    monkeypatch.setattr(DateGraphs, "encode", counted)
    fixed = ["--tile-size", "64"]  # the trained tile for every run: the same tiles, whatever the graph
    out = tmp_path / "out"
    assert main(["segment", "--model", model, "--images", str(tmp_path / "series"), "--pair-by-date", "first",
                 "--backend", "onnxruntime", "--with-probabilities", "--out-dir", str(out), *fixed]) == 0
    err = capsys.readouterr().err
    assert f"Using the cached ONNX export in two graphs of '{model}' ('{made.encoder}', '{made.head}'" in err
    assert err.count("A first date met again") == 1
    store = stores[0]
    assert all(s is store for s in stores)  # one store for the run's pairs
    tiles = store.misses
    assert tiles > 4 and store.hits == 2 * tiles  # pairs 2 and 3 found every first-date tile
    assert sum(encoded) == tiles + 3 * tiles  # the first date once, each later date once (one graph: 6 * tiles)
    assert f"First dates: {tiles} tile(s) encoded, {2 * tiles} reused by a later pair of their series." in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ranks"]["0"]["first_dates"] == {"encoded": tiles, "reused": 2 * tiles}

    whole = tmp_path / "change.onnx"  # the user's export: one graph, before and after in
    assert main(["export", model, "--onnx", str(whole), "--dynamic-batch", "--quiet"]) == 0
    for later in dated[1:]:
        alone = tmp_path / f"whole_{Path(later).stem}"
        assert main(["segment", "--model", str(whole), "--image", dated[0], "--after", later, "--out",
                     f"{alone}.tif", "--probabilities", f"{alone}_p.tif", *fixed, "--quiet"]) == 0
        name = out / f"S2A_20190601T103031_site_to_{Path(later).stem}"
        with rasterio.open(f"{alone}_p.tif") as a, rasterio.open(f"{name}_probabilities.tif") as b:
            assert np.allclose(a.read(), b.read(), atol=1e-5)
        with rasterio.open(f"{alone}.tif") as a, rasterio.open(f"{name}.tif") as b:
            assert np.array_equal(a.read(), b.read())

    encoded.clear()
    lone = tmp_path / "lone"
    assert main(["segment", "--model", model, "--image", dated[0], "--after", dated[1], "--out", f"{lone}.tif",
                 "--probabilities", f"{lone}_p.tif", *fixed]) == 0  # the default backend on the CPU
    err = capsys.readouterr().err
    assert not encoded and "Using the cached ONNX export in two graphs" not in err  # one scene: the one graph
    assert "ONNX export cached as" in err or f"Using the cached ONNX export of '{model}'" in err
    with rasterio.open(f"{lone}_p.tif") as a, rasterio.open(tmp_path / f"whole_{Path(dated[1]).stem}_p.tif") as b:
        assert np.allclose(a.read(), b.read(), atol=1e-5)


def test_the_two_graphs_are_cached_with_one_record_and_refused_when_either_is_altered(tmp_path):
    from engine.callbacks import Callback
    from engine.export.onnx_cache import cached_date_graphs

    class Said(Callback):
        def __init__(self):
            super().__init__()
            self.lines: list[str] = []

        def info(self, message):
            self.lines.append(message)

        def warning(self, message):
            self.lines.append(message)

    model = make_change_bundle(tmp_path / "change.dsmodel")
    made = cached_date_graphs(model, 64)
    again = cached_date_graphs(model, 64, said := Said())
    assert made.made and not again.made and (again.encoder, again.head) == (made.encoder, made.head)
    assert any("Using the cached ONNX export in two graphs" in line for line in said.lines)
    head = made.head.read_bytes()
    made.head.write_bytes(made.encoder.read_bytes())  # a valid graph, but not this entry's head
    remade = cached_date_graphs(model, 64, said := Said())
    assert remade.made and made.head.read_bytes() == head  # the export is deterministic: the same head again
    assert any("was refused: its SHA-256 does not match its record" in line for line in said.lines)


@pytest.mark.parametrize(("decoder", "tile"), [("deeplabv3plus", None), ("pspnet", 64)])
def test_a_decoder_reading_some_scales_runs_as_two_graphs_as_torch_runs_it(tmp_path, decoder, tile):
    """DeepLabV3+ reads the maps at strides 4 and 32 only, PSPNet at 32 only: their head graphs take no input for
    the other scales, and the backend feeds each what it takes."""
    import torch

    from engine.bundle.date_graphs import DateGraphs
    from engine.bundle.onnx_metadata import session
    from engine.bundle.store import load_bundle
    from engine.export.onnx_cache import cached_date_graphs

    model = make_change_bundle(tmp_path / f"{decoder}.dsmodel", decoder=decoder, fusion="concat")
    made = cached_date_graphs(model, tile)
    graphs = DateGraphs(session(made.encoder), session(made.head), 2)
    assert len(graphs.reads) < 8  # some scales are not the head's inputs
    pair = np.random.default_rng(0).random((2, 6, 96 if tile is None else tile, 96 if tile is None else tile),
                                           dtype=np.float32)
    with torch.no_grad():
        want = torch.sigmoid(load_bundle(model, "cpu").model(torch.from_numpy(pair))["logits"]).numpy()
    assert np.abs(graphs.run(pair) - want).max() < 1e-4  # the percentile clip: random values in [0, 1) unchanged
