"""A frozen encoder's cached features (issue 56): the decoder trained on them sees what the full model computes,
flips and quarter turns move features and labels together, the cache spills to a temporary file that training
removes, and the time budget's choice (cached on the CPU, fine-tuning on a GPU) is said."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.callbacks import Callback
from engine.config import DataConfig, TrainConfig
from engine.models import AutoModelConfig, build_model
from engine.runtime.environment import DistContext
from engine.training.auto import choose_settings
from engine.training.cached import CachedNet, CachedTiles, compute_store
from engine.training.parts import Place
from tests.engine.foundation_fixtures import PRITHVI_TINY_FILE, write_prithvi_release


class Tiles(torch.utils.data.Dataset):
    def __init__(self, count: int = 3, bands: int = 6, tile: int = 64):
        gen = torch.Generator().manual_seed(0)
        self.vision = torch.randn(count, bands, tile, tile, generator=gen)
        self.labels = (torch.rand(count, tile, tile, generator=gen) > 0.5).long()

    def __len__(self) -> int:
        return len(self.vision)

    def __getitem__(self, i: int) -> dict:
        return {"vision": self.vision[i], "labels": self.labels[i]}


def _place() -> Place:
    return Place(DistContext(), "cpu", "cpu", Callback())


@pytest.mark.parametrize("encoder", ["tiny_prithvi", "tiny_dinov3_convnext"])
def test_the_decoder_on_cached_features_gives_the_full_models_logits(tmp_path, encoder):
    torch.manual_seed(0)
    model = build_model("unet", preset="tiny", vision_channels=6, aux_channels=0, encoder=encoder).eval()
    tiles = Tiles()
    store = compute_store(model, tiles, 2, _place(), 64, tmp_path / "m", "training")
    net = CachedNet(model, store.shapes, 64).eval()
    with torch.no_grad():
        full = model(tiles.vision)["logits"]
        cached = net(torch.stack([CachedTiles(store)[i]["vision"] for i in range(3)]))["logits"]
    assert cached.shape == full.shape == (3, 1, 64, 64)
    assert torch.allclose(cached, full, atol=2e-2), (cached - full).abs().max()  # float16 cache


def test_flips_and_quarter_turns_move_features_and_labels_together(tmp_path):
    model = build_model("unet", preset="tiny", vision_channels=6, aux_channels=0, encoder="tiny_dinov3_convnext")
    store = compute_store(model, Tiles(count=1), 1, _place(), 0, tmp_path / "m", "training")
    assert store.file is not None and store.file.is_file()  # feature_cache_mb 0: on disk
    plain = store.maps(0)
    label = torch.from_numpy(store.labels[0])
    augmented = CachedTiles(store, flips=True, rot90=True, seed=5)
    seen = set()
    for epoch in range(12):
        augmented.set_epoch(epoch)
        sample = augmented[0]
        maps = [m.view(s) for m, s in zip(_split(sample["vision"], store.shapes), store.shapes)]
        # find the transform the labels went through, and check every feature map went through it too
        for flip_h in (False, True):
            for flip_v in (False, True):
                for turns in range(4):
                    def move(x, fh=flip_h, fv=flip_v, k=turns):
                        x = x.flip(-1) if fh else x
                        x = x.flip(-2) if fv else x
                        return x.rot90(k, (-2, -1)) if k else x
                    if torch.equal(move(label), sample["labels"]) and all(
                            torch.equal(move(p), m) for p, m in zip(plain, maps)):
                        seen.add((flip_h, flip_v, turns))
                        break
                else:
                    continue
                break
        assert sample["labels"].shape == label.shape
    assert len(seen) >= 4  # several transforms drawn over the epochs, each applied to maps and labels alike


def _split(row: torch.Tensor, shapes: list) -> list[torch.Tensor]:
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(row[start:start + size])
        start += size
    return out


def test_training_on_cached_features_keeps_the_encoder_and_removes_the_spill_file(tmp_path, synthetic_scene):
    from engine.api import read_model_metadata
    from engine.bundle.store import load_bundle
    from engine.cli.main import main

    state = write_prithvi_release(tmp_path / "rel", bands=4)
    out = tmp_path / "m.dsmodel"
    code = main(["train", "--image", synthetic_scene["image"], "--label", synthetic_scene["label"], "--out", str(out),
                 "--model", "fpn", "--encoder", "prithvi_eo2_tiny_tl", "--pretrained",
                 str(tmp_path / "rel" / PRITHVI_TINY_FILE), "--bands", "1,2,3,4", "--frozen-encoder", "cached",
                 "--feature-cache-mb", "0", "--tile-size", "64", "--tiles-per-epoch", "4", "--batch-size", "2",
                 "--epochs", "2", "--warmup-epochs", "0", "--device", "cpu", "--num-workers", "0",
                 "--preview-tiles", "0"])
    assert code == 0
    assert not list(tmp_path.glob("*.features"))  # the spilled cache is gone
    model = load_bundle(str(out)).model
    encoder = model.encoder.backbone.state_dict()
    for key, value in state.items():
        if key.startswith("encoder.") and "pos_embed" not in key:
            assert torch.equal(encoder[key[len("encoder."):]], value), key  # frozen: the release's weights
    assert read_model_metadata(str(out)).train["frozen_encoder"] == "cached"


def test_the_budget_caches_on_the_cpu_and_fine_tunes_on_a_gpu(synthetic_scene, tmp_path):
    model = AutoModelConfig.config_class("unet")(preset="tiny", encoder="dinov3_vitl16_sat", pretrained="release")
    data = DataConfig(train_scenes=[{"image": synthetic_scene["image"], "label": synthetic_scene["label"]}],
                      tile_size=64)
    given = {"model.name", "model.preset", "model.encoder", "model.pretrained", "data.tile_size"}
    train = TrainConfig(output=str(tmp_path / "m.dsmodel"))
    cpu = choose_settings(model, data, train, given, device="cpu")
    assert cpu.train.frozen_encoder == "cached"
    line, = [x for x in cpu.lines() if x.startswith("frozen_encoder cached")]
    assert "training on the CPU" in line and "computed once" in line
    gpu = choose_settings(model, data, train, given, device="cuda")
    assert gpu.train.frozen_encoder == "off"
    assert any("GPU fine-tunes" in x for x in gpu.lines())
    plain = choose_settings(AutoModelConfig.config_class("unet")(preset="tiny"), data, train, given, device="cpu")
    assert plain.train.frozen_encoder == "off"  # no pretrained foundation encoder: nothing to cache


def test_under_a_time_budget_caching_stops_at_its_share_and_says_so(tmp_path):
    from tests.helpers import RecordingCallback

    model = build_model("unet", preset="tiny", vision_channels=6, aux_channels=0, encoder="tiny_prithvi")
    said = RecordingCallback()
    store = compute_store(model, Tiles(count=5), 2, Place(DistContext(), "cpu", "cpu", said), 64, tmp_path / "m",
                          "training", seconds=0.0)
    assert len(store.labels) == 2 and len(store.rows) == 2  # the first batch, then the budget's share was spent
    assert any("features of 2 of 5 tiles" in m and "training goes on with those 2 tiles" in m
               for m in said.messages("info"))


def test_released_statistics_only_for_data_on_their_scale():
    import dataclasses

    from engine.data.normalize import BandStatistics
    from engine.training.finetune import released_statistics

    @dataclasses.dataclass
    class Meta:
        vision_stats: BandStatistics

    @dataclasses.dataclass
    class Summary:
        metadata: Meta

    class Tiles:
        vision_stats = None

    model = AutoModelConfig.for_family("unet", preset="tiny", encoder="prithvi_eo2_300m", pretrained="release")
    eight_bit = BandStatistics("percentile", [10.0] * 6, [240.0] * 6)
    said: list[str] = []
    train, _, summary = released_statistics((Tiles(), None, Summary(Meta(eight_bit))), model, said.append)
    assert summary.metadata.vision_stats is eight_bit and train.vision_stats is None
    assert "are not HLS reflectance x 10000" in said[-1]
    reflectance = BandStatistics("percentile", [300.0] * 6, [4000.0] * 6)
    train, _, summary = released_statistics((Tiles(), None, Summary(Meta(reflectance))), model, said.append)
    assert summary.metadata.vision_stats.low[3] == 2734.0 and train.vision_stats is summary.metadata.vision_stats
    random = AutoModelConfig.for_family("unet", preset="tiny", encoder="prithvi_eo2_300m")  # no pretrained weights
    _, _, summary = released_statistics((Tiles(), None, Summary(Meta(reflectance))), random, said.append)
    assert summary.metadata.vision_stats is reflectance
    asked = AutoModelConfig.for_family("unet", preset="tiny", encoder="prithvi_eo2_300m", pretrained="none")
    _, _, summary = released_statistics((Tiles(), None, Summary(Meta(reflectance))), asked, said.append)
    assert summary.metadata.vision_stats is reflectance  # random weights asked for: the data's own statistics
    dinov3 = AutoModelConfig.for_family("unet", preset="tiny", encoder="dinov3_vitl16_sat", pretrained="release")
    _, _, summary = released_statistics((Tiles(), None, Summary(Meta(reflectance))), dinov3, said.append)
    assert summary.metadata.vision_stats is reflectance  # its bands are not fed by name: the data's own
