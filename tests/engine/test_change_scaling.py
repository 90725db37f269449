"""Each date of a change model scaled by its own statistics (``model.date_scaling``): a pair whose later date is
brighter or more contrasted as a whole gets the change of the pair without the shift, in torch and in the ONNX
export's two graphs, and pairs of dates are given it by the automatic choices, said in the log."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.bundle.date_graphs import DateGraphs
from engine.bundle.onnx_metadata import session
from engine.bundle.store import load_bundle
from engine.config import DataConfig, SceneSpec, TrainConfig
from engine.data.synthetic_pairs import make_pair
from engine.export.onnx_cache import cached_date_graphs
from engine.models import AutoModelConfig, build_model
from engine.training.auto import choose_settings
from tests.helpers import make_change_bundle


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("places")
    return [make_pair(root, seed=i, size=96, name=f"p{i}") for i in range(3)]


def test_each_date_standardised_by_its_own_tile_takes_a_brightness_shift_for_no_change(tmp_path):
    """``date_scaling: tile``: a pair whose later date is made brighter and more contrasted (another sun) gets the
    change map of the pair before the shift, in torch and in the two ONNX graphs; without it the shift alone moves
    the change map."""
    rng = np.random.default_rng(0)
    before = rng.random((1, 3, 64, 64), dtype=np.float32) * 0.5
    after = before.copy()
    after[..., 20:40, 24:44] = 0.45  # a building built
    same = np.concatenate([before, after], axis=1)
    shifted = np.concatenate([before, 1.6 * after + 0.15], axis=1)  # its later date brighter, more contrasted
    for scaling, moved in (("tile", False), ("none", True)):
        torch.manual_seed(0)
        model = build_model("change", preset="tiny", vision_channels=3, num_classes=1, dropout=0.0,
                            date_scaling=scaling).eval()
        with torch.no_grad():
            a, b = (model(torch.from_numpy(x))["logits"] for x in (shifted, same))
        assert (not torch.allclose(a, b, atol=1e-3)) is moved
    bundle = make_change_bundle(tmp_path / "scaled.dsmodel", date_scaling="tile")
    made = cached_date_graphs(bundle, 64)
    graphs = DateGraphs(session(made.encoder), session(made.head), 2)
    with torch.no_grad():
        want = torch.sigmoid(load_bundle(bundle, "cpu").model(torch.from_numpy(same))["logits"]).numpy()
    assert np.abs(graphs.run(shifted) - want).max() < 1e-4
    assert np.abs(graphs.run(same) - want).max() < 1e-4


def test_pairs_of_dates_are_each_scaled_by_their_own_tile_unless_said_otherwise(places, tmp_path):
    data = DataConfig(train_scenes=[SceneSpec(image=p.before, after=[p.after], label=p.change) for p in places])
    chosen = choose_settings(AutoModelConfig.config_class("dualstream")(), data, TrainConfig(), (), device="cpu")
    assert chosen.model.name == "change" and chosen.model.date_scaling == "tile"
    line = next(line for line in chosen.lines() if line.startswith("date_scaling tile"))
    assert "each date's tile is standardised by its own mean and spread" in line
    assert "is not taken for change" in line
    change = AutoModelConfig.config_class("change")
    given = choose_settings(change(), data, TrainConfig(), ("model.name", "model.date_scaling"), device="cpu")
    assert given.model.date_scaling == "none"  # a scaling given is kept
    one_date = DataConfig(train_scenes=[SceneSpec(image=places[0].before, label=places[0].change)])
    single = choose_settings(AutoModelConfig.config_class("dualstream")(), one_date, TrainConfig(), (), device="cpu")
    assert not any("date_scaling" in line for line in single.lines())


def test_a_change_setting_given_alone_names_the_family_that_has_it():
    """``train --data LEVIR-CD --date-scaling none`` (no --model): the settings belong to the change family, which
    the automatic choice takes for pairs anyway; a setting no family has is still refused by name."""
    from engine.errors import ConfigError
    from engine.models import AutoModelConfig

    assert AutoModelConfig.from_dict({"date_scaling": "none"}).name == "change"
    assert AutoModelConfig.from_dict({"fusion": "concat", "preset": "light"}).name == "change"
    assert AutoModelConfig.from_dict({"preset": "light"}).name != "change"
    with pytest.raises(ConfigError, match="no_such_setting"):
        AutoModelConfig.from_dict({"no_such_setting": 1})
