"""Every command that runs a model over an image reads it the same way (issue 53, siblings of items 10 and 15):
``suggest`` and ``propose`` take segment's ``--bands``, ``--tile-size``, ``--batch-size``, ``--border``,
``--resample-to-training-gsd``, ``--readers`` and ``--reader-processes`` (one declaration,
engine/config/reading.py), which segment's messages advise. Before, a 12-band Sentinel-2 scene given to a 6-band
model stopped suggest with "give the bands ... with --bands", an option it did not have.

And segment's messages, run by suggest or propose, name what that command takes (engine/segment/relay.py): its
own settings, what it takes instead of segment's (its scenes for segment's image, no extent), itself, the user's
scene instead of the temporary class raster it reads back."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.cli.main import build_parser, main
from engine.cli.options import flag_name
from engine.config import SETTINGS_SECTIONS, ProposeConfig, SegmentConfig, SuggestConfig
from engine.config.reading import READING_FIELDS
from engine.declarations import declared
from engine.errors import command, mention, render
from engine.segment.relay import renamer
from tests.helpers import make_bundle

pytest.importorskip("torch")

ENGINE = Path(__file__).resolve().parents[2] / "engine"
S2_12 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
MODEL_BANDS = ["B02", "B03", "B04", "B08", "B11", "B12"]
PICK = "2,3,4,8,11,12"  # the model's bands among the 12 of an L2A scene
READING_FLAGS = {"--bands", "--tile-size", "--batch-size", "--border", "--resample-to-training-gsd", "--readers",
                 "--reader-processes"}


def _options(name: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices[name]._option_string_actions)


def _write(path: Path, values: np.ndarray, names: list[str] | None = None, pixel: float = 10.0) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1],
                       count=values.shape[0], dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, pixel, pixel)) as ds:
        ds.write(values)
        for i, name in enumerate(names or [], 1):
            ds.set_band_description(i, name)
    return str(path)


@pytest.fixture(scope="module")
def s2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A 12-band Sentinel-2-like scene without band names, the same six bands as a file of their own (named as
    the model's), and a model of those six bands (random weights; its band names recorded)."""
    folder = tmp_path_factory.mktemp("s2")
    values = np.random.default_rng(5).integers(100, 4000, size=(12, 72, 80)).astype(np.uint16)
    picked = values[[S2_12.index(b) for b in MODEL_BANDS]]
    return {"scene": _write(folder / "l2a_12.tif", values),
            "six": _write(folder / "l2a_6.tif", picked, MODEL_BANDS),
            "coarse": _write(folder / "l2a_12_20m.tif", values, pixel=20.0),
            "coarse_six": _write(folder / "l2a_6_20m.tif", picked, MODEL_BANDS, pixel=20.0),
            "model": make_bundle(folder / "six.dsmodel", vision_bands=6, num_classes=2, class_names=["land", "water"],
                                 band_names=MODEL_BANDS, gsd=10.0, seed=2)}


@pytest.mark.parametrize("name", ["segment", "suggest", "propose"])
def test_every_command_that_runs_a_model_over_an_image_reads_it_the_same_way(name):
    assert READING_FLAGS <= _options(name)
    assert {"--extent", "--aoi"} & _options("propose") == set()  # the windows are the area read


def _windows(capsys: pytest.CaptureFixture, argv: list[str]) -> list[tuple]:
    assert main(argv + ["--json"]) == 0
    found = json.loads(capsys.readouterr().out)["windows"]
    return [(w["rank"], w["col"], w["row"], round(w["score"], 4)) for w in found]


def test_suggest_on_a_twelve_band_scene_with_a_six_band_model(s2, tmp_path, capsys):
    out = tmp_path / "windows.gpkg"
    base = ["suggest", "--model", s2["model"], "--count", "3", "--window", "16", "--tta", "none", "--device", "cpu",
            "--out", str(out)]
    assert main(base + ["--image", s2["scene"]]) == 2
    err = capsys.readouterr().err
    assert "has 12 band(s) but the model" in err and "with --bands (numbers or names)" in err, err
    advised = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", err))
    assert "--bands" in advised and advised <= _options("suggest"), advised - _options("suggest")
    assert not out.exists()
    # the same six bands, chosen from the twelve or given as a file of their own: the same windows
    assert main(base + ["--image", s2["scene"], "--bands", PICK, "--tile-size", "32", "--batch-size", "3",
                        "--readers", "1", "--quiet"]) == 0
    capsys.readouterr()
    out.unlink()
    chosen = _windows(capsys, base + ["--image", s2["scene"], "--bands", PICK])
    assert chosen == _windows(capsys, base + ["--image", s2["six"]]) and len(chosen) == 3
    # names pick them too, and the tile asked for is the tile read
    assert main(base + ["--image", s2["scene"], "--bands", ",".join(str(S2_12.index(b) + 1) for b in MODEL_BANDS),
                        "--tile-size", "32"]) == 0
    err = capsys.readouterr().err
    assert f"Bands from --bands {PICK}: B02 <- band 2" in err and re.search(r"\d+ tiles? of 32 px", err), err
    # segment's own refusal of a border as wide as the tile, in suggest's words
    assert main(base + ["--image", s2["scene"], "--bands", PICK, "--tile-size", "32", "--border", "32"]) == 2
    err = capsys.readouterr().err
    assert "give a smaller --border" in err, err


def test_suggest_resamples_a_coarser_scene_to_the_training_pixel_size(s2, tmp_path, capsys):
    base = ["suggest", "--model", s2["model"], "--image", s2["coarse"], "--bands", PICK, "--count", "2", "--window",
            "16", "--tta", "none", "--device", "cpu"]
    assert main(base + ["--out", str(tmp_path / "a.gpkg")]) == 0
    err = capsys.readouterr().err
    assert "2.00 times the training pixel size" in err and "Set --resample-to-training-gsd" in err, err
    # before, the resampling warped the file as given, not its bands for the model: "The data has 12 band(s)"
    assert main(base + ["--out", str(tmp_path / "b.gpkg"), "--resample-to-training-gsd"]) == 0
    err = capsys.readouterr().err
    assert "times the training pixel size" not in err and "the model sees 160x144 px" in err, err  # at 10 m
    rest = ["--model", s2["model"], "--count", "2", "--window", "16", "--tta", "none", "--device", "cpu",
            "--resample-to-training-gsd"]
    chosen = _windows(capsys, ["suggest", "--image", s2["coarse"], "--bands", PICK, *rest, "--out",
                               str(tmp_path / "c.gpkg")])
    six = ["suggest", "--image", s2["coarse_six"], *rest, "--out", str(tmp_path / "d.gpkg")]
    assert chosen == _windows(capsys, six)


def test_propose_reads_the_windows_scenes_with_the_bands_given(s2, tmp_path, capsys):
    from tests.engine.prompted_models import save_tiny

    windows = tmp_path / "windows.gpkg"
    assert main(["suggest", "--model", s2["model"], "--image", s2["scene"], "--bands", PICK, "--count", "2",
                 "--window", "32", "--tta", "none", "--device", "cpu", "--quiet", "--out", str(windows)]) == 0
    proposals = tmp_path / "proposals.gpkg"
    loop = ["propose", "--windows", str(windows), "--model", s2["model"], "--sam", str(save_tiny("sam2", tmp_path /
            "sam")), "--min-pixels", "0", "--device", "cpu", "--out", str(proposals)]
    capsys.readouterr()
    assert main(loop) == 2
    err = capsys.readouterr().err
    advised = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", err))
    assert "--bands" in advised and advised <= _options("propose"), err
    assert not proposals.exists()
    assert main(loop + ["--bands", PICK, "--tile-size", "32", "--batch-size", "2"]) == 0
    assert proposals.exists()
    done = capsys.readouterr()
    assert f"Bands from --bands {PICK}: B02 <- band 2" in done.err, done.err
    assert re.search(r"\d+ tiles? of 32 px", done.err), done.err
    assert "Proposed labels" in done.out and ".propose-" not in done.err, done.err


#: segment's settings whose messages suggest and propose cannot meet, and why.
UNREACHABLE = {
    "output": "their own temporary class raster, named after the scene it predicts (relay.py)",
    "probabilities": "their own temporary probability raster",
    "confidence": "never asked for", "polygons": "never asked for", "probability_dtype": "never asked for",
    "stac_item": "never given: their scenes are rasters", "aoi": "never given",
    "transparent_classes": "never given", "model_weights": "never given (an ensemble's members run one by one)",
    "threshold": "left to the model", "overlap": "left to the model", "low_confidence": "left at its default",
    "zoom": "never given: they read the image as it is (zoom 1), so no zoom message is met",
    "pixel_size": "web layers need an extent first, which neither takes ('give a scene cut to the area')",
    "prefetch": "left at its default",
    "after": "a change model is refused before segment runs (relay.refuse_dated_models): no later date is given",
    "change_table": "never asked for (a change model's)",
    "dates": "a season model is refused before segment runs (relay.refuse_dated_models): no dates are given",
    "ground_pixel_size": "never given (a change table's hectares)",
    "stack_dates": "never given: a season model is refused first",
}


def _mentioned_segment_settings() -> set[str]:
    """segment's settings named in the engine's messages (``mention('segment.x')``, keys handed to a check)."""
    fields = {s.name for s in declared(SegmentConfig)}
    found = set()
    for path in ENGINE.rglob("*.py"):
        found.update(m for m in re.findall(r"""["']segment\.([a-z_]+)["']""", path.read_text(encoding="utf-8"))
                     if m in fields)
    return found


@pytest.mark.parametrize("cfg", [SuggestConfig(), ProposeConfig()], ids=["suggest", "propose"])
def test_segments_messages_name_only_what_the_command_takes(cfg):
    section = next(name for name, cls in SETTINGS_SECTIONS.items() if cls is type(cfg))
    rename = renamer(cfg)
    options = _options(section)
    keys = _mentioned_segment_settings()
    assert {"bands", "tile_size", "batch_size", "border", "readers", "extent", "image"} <= keys  # the sweep works
    unreachable = set(UNREACHABLE) | ({"tta"} if section == "propose" else set())  # propose reads one view
    for key in sorted(keys - unreachable):
        said = render(rename(mention(f"segment.{key}")), flag_name)
        flags = set(re.findall(r"--[a-z][a-z-]+", said))
        assert flags and flags <= options, f"segment.{key} as {section} names it: {said!r}"
    assert set(READING_FIELDS) <= {f for f in keys | set(READING_FIELDS) if f"--{f.replace('_', '-')}" in options}
    assert render(rename(f"then run {command('segment')} again"), flag_name) == f"then run {section} again"


def test_what_suggest_and_propose_take_instead_of_an_extent():
    advice = f"Give aux rasters that cover it whole, or limit the region with {mention('segment.extent')}."
    assert render(renamer(SuggestConfig())(advice), flag_name).endswith(
        "limit the region with a scene cut to the area as --image.")
    assert render(renamer(ProposeConfig())(advice), flag_name).endswith(
        "limit the region with other windows (--windows).")
    # segment itself names its own
    assert render(advice, flag_name).endswith("limit the region with --extent.")
