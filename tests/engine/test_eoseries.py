"""The eoseries family (issue 80 b): Presto and Galileo as encoders of season models users train. ``train --dates ...
--encoder presto`` downloads the release from a hub on 127.0.0.1 (the one download path), reads every pixel's
series with its bands by name, months from the dates and clouds masked, caches the frozen features once across
epochs, and writes a bundle that info, segment (onnxruntime and torch alike) and evaluate run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.errors import ConfigError
from tests.engine.eo_fixtures import write_presto_release
from tests.engine.local_hub import LocalHub

ROOT = Path(__file__).resolve().parents[2]
SIZE = 48
DATES = ["2024-07-01", "2024-03-01", "2024-05-01"]


def _write(path: Path, data: np.ndarray, date: str | None = None, names: list[str] | None = None) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=data.shape[0], dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000.0, 4000000.0, 10.0, 10.0)) as ds:
        ds.write(data.astype(np.float32))
        if date:
            ds.update_tags(ACQUISITIONDATETIME=date)
        for i, name in enumerate(names or []):
            ds.set_band_description(i + 1, name)
    return str(path)


def season(root: Path) -> tuple[list[str], str]:
    """Dated red + nir rasters (reflectance x 10000) whose east half greens up over the season; the first date
    given (July) cloudy in its north half (a mask beside it); the label: east half class 1."""
    rng = np.random.default_rng(0)
    label = np.zeros((1, SIZE, SIZE), np.float32)
    label[0, :, SIZE // 2:] = 1
    paths = []
    for t, date in enumerate(DATES):
        data = rng.normal(1500.0, 50.0, (2, SIZE, SIZE))
        data[1] += label[0] * 800.0 * (t + 1)
        paths.append(_write(root / f"d{t}.tif", data, date, ["red", "nir"]))
    cloud = np.zeros((1, SIZE, SIZE), np.float32)
    cloud[0, : SIZE // 2] = 1
    _write(root / "d0_cloud.tif", cloud)
    return paths, _write(root / "label.tif", label)


TRAIN = ["--tile-size", "32", "--tiles-per-epoch", "4", "--batch-size", "2", "--val-fraction", "0.5"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``train --dates ... --encoder presto`` in a process of its own, the release served from 127.0.0.1."""
    root = tmp_path_factory.mktemp("eoseries")
    paths, label = season(root)
    write_presto_release(root / "hub" / "presto")
    out = root / "out" / "m.dsmodel"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_ENDPOINT")}
    env.update(HF_HOME=str(root / "hf_home"), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", DUALSTREAM_BLOCK_QGIS="1")
    with LocalHub({"nasaharvest/presto": root / "hub" / "presto"}) as hub:
        done = subprocess.run([sys.executable, "-m", "engine", "train", "--dates", *paths, "--label", label,
                               "--encoder", "presto", *TRAIN, "--epochs", "3", "--out", str(out)],
                              env={**env, "HF_ENDPOINT": hub.url}, capture_output=True, text=True, timeout=600,
                              cwd=ROOT)
        asked = list(hub.requests)
    assert done.returncode == 0, done.stderr[-4000:]
    return {"root": root, "paths": paths, "label": label, "bundle": str(out), "log": done.stderr + done.stdout,
            "asked": asked}


def test_presto_trains_a_season_model_with_the_release_through_the_download_path(trained):
    from engine.bundle.store import read_metadata

    log = trained["log"]
    assert any("data/default_model.pt" in path for path in trained["asked"])
    assert "--model eoseries" in log and "--pretrained release, chosen" in log
    assert "50 encoder tensors loaded strictly" in log
    assert "presto: band groups S2_NIR_10m, NDVI; not used: red." in log  # by name; NDVI from nir and red
    assert "--frozen-encoder cached, chosen" in log and "not normalised by band statistics" in log
    meta = read_metadata(trained["bundle"])
    assert meta.model.name == "eoseries" and meta.model.encoder_name == "presto" and meta.data.dates == 3
    assert meta.model.band_names == ["red", "nir"]  # the first date is a cloud VRT: its bands keep their names
    # Presto's location token: each tile's centre in WGS 84; the months: from the first date's year (coords)
    assert meta.model.date_and_place is True
    assert "fed each tile's date and place where known (1 of 1 scene(s) with a date, 1 with a place)" in log
    assert meta.data.vision_stats.low == [0.0, 0.0] and meta.data.vision_stats.high == [1.0, 1.0]


def test_the_bundle_runs_in_info_segment_on_both_backends_and_evaluate(trained, tmp_path, capsys):
    from engine.cli.main import main

    bundle, paths = trained["bundle"], trained["paths"]
    assert main(["info", bundle]) == 0
    said = capsys.readouterr().out
    assert "eoseries" in said and "presto" in said
    outputs = {}
    for backend in ("onnxruntime", "torch"):
        out = tmp_path / f"{backend}.tif"
        code = main(["segment", "--model", bundle, "--dates", *paths, "--backend", backend, "--accept-one-class",
                     "--probabilities", str(tmp_path / f"{backend}_probabilities.tif"), "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        with rasterio.open(out) as ds:
            outputs[backend] = ds.read(1)
        with rasterio.open(tmp_path / f"{backend}_probabilities.tif") as ds:
            outputs[f"{backend} p"] = ds.read().astype(np.float32)
    err = capsys.readouterr().err
    assert "parity with torch: max abs diff" in err
    assert "time/location inputs: date 2024-03-01" in err and "each tile's centre in WGS 84" in err
    assert outputs["onnxruntime"].shape == (SIZE, SIZE)
    assert np.abs(outputs["onnxruntime p"] - outputs["torch p"]).max() < 2e-3
    assert main(["evaluate", "--pred", str(tmp_path / "torch.tif"), "--label", trained["label"], "--json"]) == 0
    assert "miou" in json.loads(capsys.readouterr().out)



def test_bulk_segments_each_place_of_a_folder_with_the_eoseries_bundle(trained, tmp_path, capsys):
    """Places of other date counts (three dates, two): one output each, a place of fewer dates padded and masked."""
    import shutil

    from engine.cli.main import main

    for place, count in (("north", 3), ("south", 2)):
        (tmp_path / "places" / place).mkdir(parents=True)
        for path in trained["paths"][:count]:
            shutil.copy(path, tmp_path / "places" / place)
    code = main(["segment", "--images", str(tmp_path / "places"), "--model", trained["bundle"], "--out-dir",
                 str(tmp_path / "out"), "--accept-one-class"])
    assert code == 0, capsys.readouterr().err
    for place in ("north", "south"):
        with rasterio.open(tmp_path / "out" / f"{place}.tif") as ds:
            assert ds.read(1).shape == (SIZE, SIZE)

def test_features_are_computed_once_and_cached_across_epochs(tmp_path, monkeypatch, capsys):
    from engine.cli.main import main
    from engine.models.eoseries.modeling_eoseries import SeriesFeatures

    paths, label = season(tmp_path)
    release = write_presto_release(tmp_path / "presto") and tmp_path / "presto" / "data" / "default_model.pt"
    pixels: list[int] = []
    original = SeriesFeatures.features

    def counted(self, vision, coords=None, days=None, valid=None):
        pixels.append(int(vision.shape[0] * vision.shape[-2] * vision.shape[-1]))
        return original(self, vision, coords, days, valid)

    monkeypatch.setattr(SeriesFeatures, "features", counted)
    encoded = {}
    for epochs in (1, 4):
        pixels.clear()
        out = tmp_path / f"e{epochs}" / "m.dsmodel"
        code = main(["train", "--dates", *paths, "--label", label, "--encoder", "presto", "--pretrained",
                     str(release), *TRAIN, "--epochs", str(epochs), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 0, err
        encoded[epochs] = sum(pixels)
    assert "Caching the frozen encoder's features of 4 training tile(s)" in err
    assert "took" in err and "without the cache every epoch would compute them again" in err
    # the training and validation tiles' features once (then the report's previews), whatever the epochs
    validation = int(err.split("Caching the frozen encoder's features of ")[2].split(" validation")[0])
    assert encoded[4] == encoded[1] and pixels[:3] == [2 * 32 * 32] * 3 and validation == 2


def test_months_come_from_the_days_and_each_pixel_keeps_its_clear_dates():
    from engine.models.eoseries.modeling_eoseries import months_from_days, pixel_series

    days = torch.tensor([[0.0, 31.0, 59.0, 364.0, 396.0]])  # 1 Jan, 1 Feb, 1 Mar, 31 Dec, 1 Feb a year on
    assert months_from_days(days).tolist() == [[0, 1, 2, 11, 1]]
    series = torch.arange(5, dtype=torch.float32).reshape(1, 5, 1, 1, 1).repeat(1, 1, 1, 1, 2)  # two pixels
    valid = torch.tensor([[False, True, False, True, True], [True, True, True, True, False]]).T.reshape(1, 5, 1, 2)
    values, ok, month, lost = pixel_series(series, valid, months_from_days(days), limit=3)
    assert values[0, :, 0, 0, 0].tolist() == [1.0, 3.0, 4.0] and ok[0].all()  # the clear dates, in time order
    assert values[1, :, 0, 0, 0].tolist() == [0.0, 1.0, 2.0] and lost  # four clear dates: the first three kept
    assert month[0].tolist() == [1, 11, 1]


def test_presto_for_an_image_family_is_refused_naming_the_season_family_that_reads_it():
    from engine.models import AutoModelConfig
    from engine.models.configuration_utils import season_family, season_model_settings

    with pytest.raises(ConfigError, match="reads each pixel's series of dates.*--model eoseries"):
        AutoModelConfig.for_family("unet", encoder="presto")
    assert AutoModelConfig.for_family(None, encoder="presto").name == "eoseries"
    assert (season_family("presto"), season_family("galileo_nano"), season_family(None)) == ("eoseries", "season",
                                                                                             "season")
    # a season form's settings for Presto: the family that reads it, the season family's decoder left out
    assert season_model_settings({"encoder": "presto", "decoder": "unet"}) == {"encoder": "presto", "name": "eoseries"}



@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_epochs_given_are_the_epochs_run_the_frozen_encoder_gets_no_warm_up(tmp_path, device):
    """``--epochs 2`` with Presto ran 4 epochs: 2 'warm-up' epochs on the cache were the same epochs again."""
    from engine.config import DataConfig, TrainConfig
    from engine.models import AutoModelConfig
    from engine.training.auto import choose_settings

    write_presto_release(tmp_path / "presto")
    model = AutoModelConfig.for_family(None, encoder="presto",
                                       pretrained=str(tmp_path / "presto" / "data" / "default_model.pt"))
    given = {"model.name", "model.preset", "model.encoder", "model.pretrained", "train.epochs"}
    chosen = choose_settings(model, DataConfig(), TrainConfig(output=str(tmp_path / "m.dsmodel"), epochs=2), given,
                             device=device)
    assert chosen.train.frozen_encoder == "cached" and chosen.train.total_epochs == 2
    lines = [line for line in chosen.lines(lambda k: f"<{k}>") if "<train.warmup_epochs>" in line]
    assert lines == ["<train.warmup_epochs> 0, chosen: the encoder stays frozen in every epoch (its features cached), "
                     "so there is no warm-up: every epoch trains the head."], chosen.lines()
    # a warm-up the user gives is kept
    kept = choose_settings(model, DataConfig(), TrainConfig(output=str(tmp_path / "m.dsmodel"), epochs=2,
                                                            warmup_epochs=1), {*given, "train.warmup_epochs"},
                           device=device)
    assert kept.train.total_epochs == 3


def test_galileo_with_dates_says_which_family_reads_it_and_a_named_family_is_kept(tmp_path):
    """Galileo, which the season family (each date an image) and eoseries (each pixel's series) both take: the
    season form's family given is kept (it was replaced by the season family), and the choice says the other."""
    from engine.config import DataConfig, SceneSpec, TrainConfig
    from engine.models import AutoModelConfig
    from engine.models.configuration_utils import season_family_note, season_model_settings
    from engine.training.auto import choose_settings
    from tests.helpers import dated

    assert season_model_settings({"encoder": "galileo_nano", "name": "eoseries", "decoder": "unet"}) == {
        "encoder": "galileo_nano", "name": "eoseries"}
    assert season_model_settings({"encoder": "galileo_nano", "decoder": "unet"})["name"] == "season"
    with pytest.raises(ConfigError, match="does not take a season.*'season', 'eoseries'"):
        season_model_settings({"name": "unet"})
    assert season_family_note("eoseries", ["model.decoder"]).startswith(
        "Encoder presto (or galileo_nano, galileo_tiny and galileo_base with \u27e6model.name\u27e7 eoseries): ")
    days = [dated(tmp_path / f"d{i}.tif", f"2024-0{i + 3}-01", seed=i) for i in range(3)]
    label = _write(tmp_path / "label.tif", np.zeros((1, SIZE, SIZE)))
    data = DataConfig(train_scenes=[SceneSpec(image=str(days[0]), after=[str(p) for p in days[1:]], label=label)])
    model = AutoModelConfig.for_family(None, encoder="galileo_nano", pretrained="none")
    chosen = choose_settings(model, data, TrainConfig(output=str(tmp_path / "m.dsmodel")),
                             {"model.encoder", "model.pretrained"}, device="cpu")
    line, = [x for x in chosen.lines(lambda k: f"<{k}>") if "<model.name>" in x and "chosen" in x]
    assert chosen.model.name == "season" and line.startswith("<model.name> season <model.preset> light, chosen:")
    assert "with galileo_nano the season family (U-TAE: " in line
    assert "<model.name> eoseries trains the eoseries family (Presto / Galileo pixel series: " in line
