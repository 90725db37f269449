"""Presto and Galileo as season encoders (issue 80): release files of the real layouts served from 127.0.0.1 through
``HF_ENDPOINT`` and loaded strictly by the code a user runs (download, cache, offline), files of another layout
refused by tensor name, bands placed by name, masks honoured, shapes, frozen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data.band_names import eo_names
from engine.errors import ModelError
from engine.models.encoders.eo_bands import place_bands
from engine.models.encoders.eo_series import months_of, series_encoder
from tests.engine.eo_fixtures import S1_S2, write_galileo_release, write_presto_release
from tests.engine.local_hub import LocalHub

ROOT = Path(__file__).resolve().parents[2]
S2 = S1_S2[2:]

RUN = r"""
import json, sys
import torch
from engine.models.encoders.eo_series import series_encoder
out, lines = {}, []
torch.manual_seed(1)
x = torch.rand(2, 3, 12, 8, 8) * 3000
x[:, :, :2] = torch.randn(2, 3, 2, 8, 8) * 3 - 14
months = torch.tensor([[2, 5, 8], [0, 6, 11]])
for name in ("presto", "galileo_nano"):
    encoder = series_encoder(name, "release", log=lines.append)
    torch.save(encoder.model.state_dict(), sys.argv[1] + f"/{name}.state.pt")
    torch.save(encoder.encode(x, sys.argv[2].split(","), months), sys.argv[1] + f"/{name}.features.pt")
print("RESULT " + json.dumps(lines))
"""


def _run(tmp: Path, env: dict[str, str], where: str) -> list[str]:
    out = tmp / where
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", RUN, str(out), ",".join(S1_S2)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT ", 1)[1])


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("eo")
    states = {"presto": write_presto_release(tmp / "presto"), "galileo_nano": write_galileo_release(tmp / "galileo")}
    return {"tmp": tmp, "states": states}


def test_releases_download_through_the_hub_load_strictly_and_run_offline_from_the_cache(releases):
    tmp = releases["tmp"]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "DUALSTREAM_OFFLINE", "HF_ENDPOINT")}
    env.update(HF_HOME=str(tmp / "hf_home"), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    with LocalHub({"nasaharvest/presto": tmp / "presto", "nasaharvest/galileo": tmp / "galileo"}) as hub:
        first = _run(tmp, {**env, "HF_ENDPOINT": hub.url}, "online")
        asked = list(hub.requests)
    second = _run(tmp, {**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}, "offline")
    assert any("data/default_model.pt" in path for path in asked)
    assert any("models/nano/encoder.pt" in path for path in asked) and any("models/nano/config.json" in p
                                                                        for p in asked)
    said = "\n".join(first)
    assert "Presto release 'default_model.pt': 50 encoder tensors loaded strictly" in said, said
    assert "2 MAE decoder tensor(s) not used" in said
    assert "Galileo release 'nano/encoder.pt': 106 tensors loaded strictly (width 128, 4 blocks, 8 heads)" in said
    assert not any("Downloaded" in line for line in second)  # the cache, nothing asked
    for name, state in releases["states"].items():
        loaded = torch.load(tmp / "online" / f"{name}.state.pt", weights_only=True)
        assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
        online = torch.load(tmp / "online" / f"{name}.features.pt", weights_only=True)
        offline = torch.load(tmp / "offline" / f"{name}.features.pt", weights_only=True)
        assert torch.equal(online, offline)
    # the same features in this process from the file itself: what was downloaded is what the release holds
    direct = series_encoder("presto", str(tmp / "presto" / "data" / "default_model.pt"))
    torch.manual_seed(1)
    x = torch.rand(2, 3, 12, 8, 8) * 3000
    x[:, :, :2] = torch.randn(2, 3, 2, 8, 8) * 3 - 14
    mine = direct.encode(x, S1_S2, torch.tensor([[2, 5, 8], [0, 6, 11]]))
    assert torch.allclose(mine, torch.load(tmp / "online" / "presto.features.pt", weights_only=True), atol=1e-6)


def test_a_file_of_another_layout_is_refused_by_tensor_name(releases, tmp_path):
    tmp = releases["tmp"]
    with pytest.raises(ModelError, match=r"not of the Presto layout: .*missing .*eo_patch_embed"):
        series_encoder("presto", str(tmp / "galileo" / "models" / "nano" / "encoder.pt"))
    state = dict(releases["states"]["galileo_nano"])
    state["blocks.0.attn.qkv.weight"] = state.pop("blocks.0.attn.q.weight")  # a fused-qkv copy
    torch.save(state, tmp_path / "encoder.pt")
    with pytest.raises(ModelError, match=r"missing \(e\.g\. blocks\.0\.attn\.q\.weight\).*unexpected \(e\.g\. "
                                         r"blocks\.0\.attn\.qkv\.weight\)"):
        series_encoder("galileo_nano", str(tmp_path / "encoder.pt"))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="bad.pt' cannot be read"):
        series_encoder("presto", str(tmp_path / "bad.pt"))


def test_shapes_masks_and_bands_by_name(releases):
    tmp = releases["tmp"]
    presto = series_encoder("presto", str(tmp / "presto" / "data" / "default_model.pt"))
    galileo = series_encoder("galileo_nano", str(tmp / "galileo" / "models" / "nano"), patch=4)
    x = torch.rand(2, 4, 10, 8, 8) * 3000
    months = torch.tensor([[0, 3, 6, 9], [1, 4, 7, 10]])
    assert presto.encode(x, S2, months).shape == (2, 128, 8, 8)
    assert galileo.encode(x, S2, months).shape == (2, 128, 2, 2)
    # a date left out: its values do not matter (NaN included), every other date's do
    valid = torch.ones(2, 4, dtype=torch.bool)
    valid[:, 2] = False
    for encoder in (presto, galileo):
        base = encoder.encode(x, S2, months, valid=valid)
        changed = x.clone()
        changed[:, 2] = float("nan")
        assert torch.equal(encoder.encode(changed, S2, months, valid=valid), base)
        changed[:, 1] += 500
        assert not torch.allclose(encoder.encode(changed, S2, months, valid=valid), base)
    # standardised values (a bundle's statistics) give the features of the values themselves
    mean, std = [1000.0 + 10 * i for i in range(10)], [500.0 + i for i in range(10)]
    z = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    assert torch.allclose(galileo.encode(z, S2, months, standardised=(mean, std)), galileo.encode(x, S2, months),
                          atol=1e-4)
    # a pixel with no valid date: zeros, counted
    pixel = torch.ones(2, 4, 8, 8, dtype=torch.bool)
    pixel[0, :, 3, 5] = False
    out = presto.encode(x, S2, months, valid=pixel)
    assert torch.count_nonzero(out[0, :, 3, 5]) == 0 and presto.last_empty == 1
    # bands by name, in any order and spelling: the same features
    order = [9, 0, 5, 2, 7, 1, 8, 3, 6, 4]
    sentinel2 = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    assert torch.allclose(presto.encode(x[:, :, order], eo_names([sentinel2[i] for i in order]), months),
                          presto.encode(x, S2, months), atol=1e-5)


def test_band_groups_placed_by_name_and_refused_when_none_is_whole():
    assert eo_names(["sigma0_VV", "VH_dB", "B04", "B03", "B02", "B8A"]) == ["vv", "vh", "red", "green", "blue",
                                                                            "nir08"]
    both = place_bands(eo_names(["sigma0_VV", "VH_dB", "B04", "B03", "B02"]))
    assert both.groups == ("S1", "S2_RGB") and not both.ndvi
    s2 = place_bands(S2 + ["cloud"])
    assert s2.groups[-1] == "NDVI" and s2.unused == ("cloud",) and s2.index[2] == 0
    with pytest.raises(ValueError, match="completes a Sentinel-1/2 band group"):
        place_bands(eo_names(["B02", "B03", "elevation"]))  # RGB incomplete: never a partial group
    with pytest.raises(ValueError, match="completes a Sentinel-1/2 band group"):
        place_bands(["B02", "B03", "B04"])  # raw names are read by eo_names first


def test_frozen_by_default_trainable_when_asked(releases):
    x = torch.rand(1, 2, 10, 8, 8) * 3000
    months = torch.tensor([[4, 5]])
    frozen = series_encoder("galileo_nano", None, patch=8)
    assert not any(p.requires_grad for p in frozen.parameters()) and not frozen.training
    assert not frozen.encode(x, S2, months).requires_grad
    trainable = series_encoder("presto", None, trainable=True)
    trainable.encode(x, S2, months).sum().backward()
    assert trainable.model.blocks[0].attn.qkv.weight.grad is not None
    assert trainable.model.pos_embed.grad is None  # the fixed position code stays fixed


def test_months_of_dates_and_refused_months():
    dates = np.array([["2021-01-15", "2021-07-01"], ["2020-12-31", "2021-03-03"]], dtype="datetime64[D]")
    assert months_of(dates).tolist() == [[0, 6], [11, 2]]
    assert months_of([["2021-05-02"]]).tolist() == [[4]]
    encoder = series_encoder("presto", None)
    with pytest.raises(ModelError, match="months 0..11"):
        encoder.encode(torch.rand(1, 1, 10, 2, 2), S2, torch.tensor([[12]]))


def test_a_pair_gets_the_released_statistics_for_each_date():
    """Defect: a change scene stacks two dates' bands (20 for Galileo's 10), and the released statistics were
    refused for it ("20 bands, not the 10"), so a pretrained encoder saw another scale than it was trained on."""
    import dataclasses

    from engine.data.normalize import BandStatistics
    from engine.models import AutoModelConfig
    from engine.training.finetune import released_statistics

    @dataclasses.dataclass
    class Meta:
        vision_stats: BandStatistics

    @dataclasses.dataclass
    class Summary:
        metadata: Meta

    class Tiles:
        vision_stats = None

    model = AutoModelConfig.for_family("change", encoder="galileo_nano", pretrained="release")
    said: list[str] = []
    pair = BandStatistics("percentile", [300.0] * 20, [4000.0] * 20)
    train, _, summary = released_statistics((Tiles(), None, Summary(Meta(pair))), model, said.append)
    stats = summary.metadata.vision_stats
    assert stats.method == "meanstd" and len(stats.low) == 20 and stats.low[:10] == stats.low[10:]
    assert abs(stats.low[2] - 1343.09883810357) < 1e-6 and train.vision_stats is stats  # B04's pre-training mean
    assert "each of its 2 dates" in said[-1]
    odd = BandStatistics("percentile", [300.0] * 15, [4000.0] * 15)
    _, _, summary = released_statistics((Tiles(), None, Summary(Meta(odd))), model, said.append)
    assert summary.metadata.vision_stats is odd and "15 band(s), not the 10" in said[-1]


def test_galileo_named_encoder_loads_strictly_reads_the_month_and_rebuilds(releases):
    from engine.models.encoders.backbone import Encoder

    path = str(releases["tmp"] / "galileo" / "models" / "nano" / "encoder.pt")
    said: list[str] = []
    encoder = Encoder("galileo_nano", 10, pretrained=path, log=said.append).eval()
    state = releases["states"]["galileo_nano"]
    assert all(torch.equal(encoder.backbone.state_dict()[k], v) for k, v in state.items())
    assert "106 tensors loaded strictly" in said[0] and "10 bands by name, patch 4 px" in said[1]
    with torch.no_grad():
        assert [tuple(m.shape[-2:]) for m in encoder(torch.randn(2, 10, 64, 64))] == [(16, 16), (8, 8), (4, 4),
                                                                                      (2, 2)]
        x = torch.randn(1, 10, 32, 32)
        unknown = encoder.features(x, torch.tensor([[2023.0, float("nan"), 50.0, 10.0]]))[-1]
        june = encoder.features(x, torch.tensor([[2023.0, 170.0, 50.0, 10.0]]))[-1]  # 19 June
        january = encoder.features(x, torch.tensor([[2023.0, 10.0, 50.0, 10.0]]))[-1]
        assert torch.equal(unknown, june) and not torch.allclose(january, june)  # no date: the release's June
        rebuilt = Encoder("galileo_nano", 10, None, architecture=encoder.architecture).eval()
        rebuilt.load_state_dict(encoder.state_dict())
        assert torch.equal(rebuilt.features(x)[-1], encoder.features(x)[-1])  # a bundle's record rebuilds it
    with pytest.raises(ModelError, match="Galileo reads its bands by name .* the image gives 4"):
        Encoder("galileo_nano", 4, pretrained=path)


def test_a_change_model_gives_each_date_the_tiles_date_and_place(releases):
    """Defect: a change model of an encoder that takes each tile's date and place (Galileo, Prithvi TL) failed in
    segment ("size of tensor a (4) must match ... (8)"): the model set (B, 4) coords on the backbone, which sees
    the B x 2 dates' images."""
    from engine.models import build_model

    path = str(releases["tmp"] / "galileo" / "models" / "nano" / "encoder.pt")
    model = build_model("change", encoder="galileo_nano", pretrained=path, vision_channels=10, num_classes=1).eval()
    pair = torch.randn(2, 20, 32, 32)
    coords = torch.tensor([[2023.0, 10.0, 50.0, 10.0], [2023.0, 170.0, 50.0, 10.0]])
    with torch.no_grad():
        dated = model(pair, coords=coords)["logits"]
        undated = model(pair)["logits"]
    assert dated.shape == (2, 1, 32, 32)
    assert torch.equal(dated[1], undated[1]) and not torch.allclose(dated[0], undated[0])  # June = no date


def test_galileo_from_random_weights_reads_its_bands_by_name_too(synthetic_scene, tmp_path):
    """Defect: with --pretrained none, Galileo got every band of the image (12 of a Sentinel-2 L2A file) and the
    training stopped ("the image gives 12"): its band groups are by name whatever the weights."""
    from engine.config import DataConfig, TrainConfig
    from engine.models import AutoModelConfig
    from engine.training.auto import choose_settings

    data = DataConfig(train_scenes=[{"image": synthetic_scene["image"], "label": synthetic_scene["label"]}],
                      tile_size=64)
    given = {"model.name", "model.preset", "model.encoder", "model.pretrained", "data.tile_size"}
    train = TrainConfig(output=str(tmp_path / "m.dsmodel"))
    for pretrained in ("none", "release"):
        model = AutoModelConfig.config_class("unet")(preset="tiny", encoder="galileo_nano", pretrained=pretrained)
        chosen = choose_settings(model, data, train, given, device="cpu")
        assert chosen.data.bands == ["blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08",
                                     "swir16", "swir22"]
        line, = [x for x in chosen.lines() if "Sentinel-2 B02, B03, B04, B05, B06, B07, B08, B8A, B11, B12" in x]
        assert ("random weights too" in line) == (pretrained == "none"), line


def test_a_release_config_fixes_the_sizes_and_presto_offline_says_where_it_lives(releases, tmp_path, monkeypatch):
    said: list[str] = []
    folder = releases["tmp"] / "galileo" / "models" / "nano"
    encoder = series_encoder("galileo_base", str(folder), log=said.append)  # nano's files under the base name
    assert encoder.width == 128 and "width 128, 4 blocks, 8 heads" in said[-1]  # config.json, not base's sizes
    (tmp_path / "encoder.pt").write_bytes((folder / "encoder.pt").read_bytes())  # no config.json beside it
    with pytest.raises(ModelError, match="not of the Galileo layout: .*of another shape"):
        series_encoder("galileo_base", str(tmp_path / "encoder.pt"))  # base's catalog sizes: refused by shape
    monkeypatch.setenv("DUALSTREAM_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"github\.com/nasaharvest/presto/raw/main/data/default_model\.pt"):
        series_encoder("presto", "release")


def test_galileo_attention_in_query_blocks_is_the_whole_attention(monkeypatch):
    from engine.models.encoders import galileo

    encoder = series_encoder("galileo_nano", None, patch=2)
    x = torch.rand(1, 3, 10, 16, 16) * 3000
    months, valid = torch.tensor([[1, 5, 9]]), torch.tensor([[True, False, True]])
    whole = encoder.encode(x, S2, months, valid=valid)
    monkeypatch.setattr(galileo, "QUERY_BLOCK", 100)  # 64 patches x 3 dates x 6 groups = 1152 tokens: 12 blocks
    assert torch.allclose(encoder.encode(x, S2, months, valid=valid), whole, atol=1e-5)


def test_an_ndvi_band_of_its_own_feeds_the_ndvi_group():
    assert eo_names(["NDVI", "s2_ndvi_2019", "B04"]) == ["ndvi", "ndvi", "red"]
    alone = place_bands(["ndvi"])
    assert alone.groups == ("NDVI",) and not alone.ndvi and alone.index[-1] == 0
    encoder = series_encoder("presto", None)
    months = torch.tensor([[3, 6, 9]])
    ndvi = torch.rand(1, 3, 1, 4, 4) * 0.8
    out = encoder.encode(ndvi, ["ndvi"], months)
    assert out.shape == (1, 128, 4, 4) and encoder.last_empty == 0
    assert not torch.allclose(encoder.encode(ndvi * 0.5, ["ndvi"], months), out)
    # given beside nir and red, the band itself is used, not the NDVI computed from them
    nir_red = torch.rand(1, 3, 2, 4, 4) * 3000
    given = encoder.encode(torch.cat([nir_red, ndvi], 2), ["nir", "red", "ndvi"], months)
    computed = encoder.encode(nir_red, ["nir", "red"], months)
    assert not torch.allclose(given, computed)



def test_galileo_attention_exports_without_a_nan_guard_and_matches_torch(tmp_path):
    """Defect: a boolean key mask exported with a NaN guard (IsNaN, Where) over every attention weight, half of
    onnxruntime's time on a Galileo change model; the additive mask exports none and gives the same outputs."""
    import onnx
    import onnxruntime

    from engine.export.onnx_export import trace
    from engine.models.encoders.galileo import SplitAttention

    torch.manual_seed(0)
    attention = SplitAttention(32, 4).eval()
    x, keep = torch.randn(2, 40, 32), torch.rand(2, 40) > 0.3
    keep[:, 0] = True
    path = tmp_path / "attention.onnx"
    trace(attention, (x, keep), path, ["x", "keep"], 17, None, outputs=("out",))
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "IsNaN" not in ops and "Softmax" in ops
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy(), "keep": keep.numpy()})
    with torch.no_grad():
        expected = attention(x, keep)
    assert np.abs(out - expected.numpy()).max() < 1e-5
    # left-out keys get no weight: moving their tokens does not move what the kept tokens' queries read
    lone = torch.randn(1, 40, 32)
    k_keep = torch.ones(1, 40, dtype=torch.bool)
    k_keep[0, 5:] = False
    with torch.no_grad():
        base = attention(lone, k_keep)
        moved = lone.clone()
        moved[0, 5:] += 100.0
        assert torch.allclose(attention(moved, k_keep)[0, :5], base[0, :5], atol=1e-5)


def test_auto_backend_runs_galileo_models_in_torch_on_the_cpu():
    from engine.models import AutoModelConfig
    from engine.models.encoders.catalog import torch_faster_on_cpu

    galileo = AutoModelConfig.for_family("change", encoder="galileo_nano", pretrained="none")
    one_date = AutoModelConfig.for_family("unet", encoder="galileo_nano", pretrained="none")
    resnet = AutoModelConfig.for_family("change", encoder="resnet18", pretrained="none")
    assert "Galileo" in (torch_faster_on_cpu(galileo) or "") and "Galileo" in (torch_faster_on_cpu(one_date) or "")
    assert torch_faster_on_cpu(resnet) is None


def test_reflectance_0_to_1_given_to_a_release_by_name_is_refused():
    """Defect (dtwSat's MODIS season, docs/seasons.md): reflectance 0-1 in bands named red, blue, nir went into
    Presto's S2 groups, which divide by 10000, so the frozen encoder read its NIR as black, unsaid. Now refused,
    naming the bands; reflectance x 10000, or 0-1 values of NDVI alone, train as before."""
    import dataclasses

    from engine.data.normalize import BandStatistics
    from engine.errors import DataError
    from engine.models import AutoModelConfig
    from engine.training.finetune import released_statistics

    @dataclasses.dataclass
    class Meta:
        vision_stats: BandStatistics
        band_names: list[str]

        @property
        def vision_bands(self) -> int:
            return len(self.band_names)

    @dataclasses.dataclass
    class Summary:
        metadata: Meta

    class Tiles:
        vision_stats = None

    modis = ["evi", "ndvi", "red", "blue", "nir", "mir"]
    model = AutoModelConfig.for_family("eoseries", preset="tiny", encoder="presto", pretrained="none")
    said: list[str] = []
    zero_one = BandStatistics("percentile", [0.02, 0.15, 0.01, 0.01, 0.15, 0.04], [0.6, 0.9, 0.2, 0.1, 0.49, 0.4])
    with pytest.raises(DataError, match=r"nir up to 0\.49 \(98 %\) are reflectance 0-1") as refused:
        released_statistics((Tiles(), None, Summary(Meta(zero_one, modis))), model, said.append)
    assert "red" not in str(refused.value).split("images'")[1].split("(98")[0]  # not read: no whole RGB group
    scaled = BandStatistics("percentile", [200.0, 0.15, 100.0, 100.0, 1500.0, 400.0],
                            [6000.0, 0.9, 2000.0, 1000.0, 4900.0, 4000.0])
    _, _, summary = released_statistics((Tiles(), None, Summary(Meta(scaled, modis))), model, said.append)
    assert summary.metadata.vision_stats.method == "meanstd" and "not normalised" in said[-1]
    ndvi = BandStatistics("percentile", [0.1], [0.9])
    _, _, summary = released_statistics((Tiles(), None, Summary(Meta(ndvi, ["ndvi"]))), model, said.append)
    assert summary.metadata.vision_stats.low == [0.0]
