"""Fine-tuning from a bundle (``train.init_from``): through the engine's api on small synthetic GeoTIFFs, with the
tiny preset. The parent is trained once per module; each test fine-tunes it at a learning rate too small to move
the weights measurably, so the child's bundle shows what was taken from the parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine import api
from engine.bundle.store import load_bundle, read_metadata
from engine.errors import ConfigError
from engine.export.stac import model_card
from engine.io.digest import file_sha256
from tests.helpers import RecordingCallback

STILL = {"learning_rate": 1e-8, "min_learning_rate": 0.0, "weight_decay": 0.0}  # the weights stay to 1e-5


def _train(scene: dict, out: Path, given: tuple[str, ...] = (), model: dict | None = None, **settings) -> tuple:
    data = {"train_scenes": [{"image": scene["image"], "label": scene["label"]}], "tile_size": 64,
            "tiles_per_epoch": 8, "val_fraction": 0.5, "class_names": ["background", "field"],
            "class_colors": ["#000000", "#00ff00"], "seed": 0}
    train = {"output": str(out), "epochs": 1, "warmup_epochs": 0, "batch_size": 4, "device": "cpu",
             "preview_tiles": 0, "time_budget": None}
    for key, value in settings.items():
        (data if key in data or key in ("bands", "label_mapping") else train)[key] = value
    given = {"data.tile_size", "train.epochs", "train.warmup_epochs", "train.time_budget", *given}
    request = api.train_request({"model": model or {}, "data": data, "train": train}, given)
    callback = RecordingCallback()
    run = api.train(request, callback)
    return run, callback


@pytest.fixture(scope="module")
def parent(synthetic_scene, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("parent") / "parent.dsmodel"
    _train(synthetic_scene, out, ("model.name", "model.preset"), {"name": "unet", "preset": "tiny"},
           learning_rate=3e-3)
    return out


def _logs(callback: RecordingCallback) -> str:
    return "\n".join(callback.messages("info") + callback.messages("warning"))


def _state(path: Path) -> dict[str, torch.Tensor]:
    """The learned weights (batch-norm running statistics follow the data whatever the learning rate)."""
    return {name: p.detach() for name, p in load_bundle(path).model.named_parameters()}


def test_weights_family_and_size_come_from_the_parent(parent, synthetic_scene, tmp_path):
    run, cb = _train(synthetic_scene, tmp_path / "child.dsmodel", **STILL, init_from=str(parent))
    child = read_metadata(run.result.bundle)
    assert (child.model.name, child.model.preset) == ("unet", "tiny")  # not the CPU's automatic choice
    mine, theirs = _state(Path(run.result.bundle)), _state(parent)
    assert mine.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert torch.allclose(mine[name].float(), tensor.float(), atol=1e-5), name
    # trained from scratch with the same settings, the weights are others
    scratch, _ = _train(synthetic_scene, tmp_path / "scratch.dsmodel", ("model.name", "model.preset"),
                        {"name": "unet", "preset": "tiny"}, seed=1, **STILL)
    other = _state(Path(scratch.result.bundle))
    assert any(not torch.allclose(other[n].float(), t.float(), atol=1e-3) for n, t in theirs.items())
    assert any("model to start from, parent.dsmodel" in line for line in run.plan.lines())
    assert "copied from it" in _logs(cb) and "randomly initialised" not in _logs(cb)


def test_parent_recorded_in_metadata_card_and_description(parent, synthetic_scene, tmp_path):
    run, _ = _train(synthetic_scene, tmp_path / "child.dsmodel", **STILL, init_from=str(parent))
    meta = read_metadata(run.result.bundle)
    assert meta.parent["name"] == "parent.dsmodel"
    assert meta.parent["sha256"] == file_sha256(parent)
    assert meta.parent["weights_sha256"] == read_metadata(parent).weights_sha256
    card = model_card(run.result.bundle)
    assert card["properties"]["dualstream:parent"]["sha256"] == file_sha256(parent)
    assert "Fine-tuned from parent.dsmodel" in card["properties"]["description"]
    lines = "\n".join(api.describe_bundle(run.result.bundle, meta))
    assert f"fine-tuned from parent.dsmodel (sha256 {file_sha256(parent)[:12]}" in lines
    json.dumps(card)


def test_other_classes_rebuild_the_head(parent, synthetic_scene, tmp_path):
    run, cb = _train(synthetic_scene, tmp_path / "child.dsmodel", **STILL, init_from=str(parent),
                     class_names=["background", "field", "water"], class_colors=["#000000", "#00ff00", "#0000ff"],
                     label_mapping={"90": 2})
    assert "head rebuilt for 3 output(s) (the parent has 1" in _logs(cb)
    mine, theirs = _state(Path(run.result.bundle)), _state(parent)
    rebuilt = [n for n, t in mine.items() if t.shape != theirs[n].shape]
    assert rebuilt and all(mine[n].shape[0] == 3 and theirs[n].shape[0] == 1 for n in rebuilt)
    kept = [n for n in mine if n not in rebuilt]
    assert all(torch.allclose(mine[n].float(), theirs[n].float(), atol=1e-5) for n in kept)


def test_other_band_count_adapts_the_first_layer(parent, synthetic_scene, tmp_path):
    run, cb = _train(synthetic_scene, tmp_path / "child.dsmodel", **STILL, init_from=str(parent),
                     bands=[1, 2, 3])
    logs = _logs(cb)
    assert "adapted" in logs and "from 4 to 3 input channels (first 3 kernel(s) kept, scaled by 4/3)" in logs
    assert "the parent has 4 image band(s), this data 3: image band statistics computed from this data" in logs
    mine, theirs = _state(Path(run.result.bundle)), _state(parent)
    adapted = [n for n, t in mine.items() if t.shape != theirs[n].shape]
    assert adapted
    for name in adapted:
        assert torch.allclose(mine[name].float(), theirs[name][:, :3].float() * 4 / 3, atol=1e-5)


def test_statistics_kept_by_default_recomputed_when_asked(parent, tmp_path):
    from engine.data import synthetic

    other = synthetic.make_scene(tmp_path, "other", size=(128, 128), seed=5, aux_channels=1)  # other statistics
    theirs = read_metadata(parent).data.vision_stats
    run, cb = _train(other, tmp_path / "kept.dsmodel", **STILL, init_from=str(parent))
    assert read_metadata(run.result.bundle).data.vision_stats == theirs
    assert "kept parent statistics for the 4 image band(s)" in _logs(cb)
    again, cb2 = _train(other, tmp_path / "recomputed.dsmodel", **STILL, init_from=str(parent),
                        recompute_stats=True)
    recomputed = read_metadata(again.result.bundle).data.vision_stats
    assert recomputed != theirs
    assert "image band statistics recomputed from this data" in _logs(cb2)


def test_another_family_is_refused_naming_both(parent, synthetic_scene, tmp_path):
    with pytest.raises(ConfigError, match=r"fpn.*'parent.dsmodel' is a unet model"):
        _train(synthetic_scene, tmp_path / "child.dsmodel", ("model.name",), {"name": "fpn"},
               init_from=str(parent))
    assert not (tmp_path / "child.dsmodel").exists()


def test_a_missing_parent_or_one_onto_itself_is_refused(parent, synthetic_scene, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        _train(synthetic_scene, tmp_path / "child.dsmodel", init_from=str(tmp_path / "none.dsmodel"))
    with pytest.raises(Exception, match="parent.dsmodel"):
        _train(synthetic_scene, parent, init_from=str(parent))


def test_other_aux_count_adapts_the_aux_stem(synthetic_scene, tmp_path):
    """A DualStream parent with the scene's 48 aux channels, fine-tuned on the first 12 of them."""
    scene = synthetic_scene

    def run(out: Path, **settings) -> tuple:
        data = {"train_scenes": [{"image": scene["image"], "label": scene["label"], "aux": scene["aux"]}],
                "tile_size": 64, "tiles_per_epoch": 8, "val_fraction": 0.5, "label_mapping": {"90": 1}}
        data.update(settings.pop("data", {}))
        train = {"output": str(out), "epochs": 1, "warmup_epochs": 0, "batch_size": 4, "device": "cpu",
                 "preview_tiles": 0, "time_budget": None, **STILL, **settings}
        model = {} if "init_from" in train else {"name": "dualstream", "preset": "tiny"}
        given = {"data.tile_size", "train.epochs", "train.warmup_epochs", "train.time_budget", *(
            ("model.name", "model.preset") if model else ())}
        cb = RecordingCallback()
        return api.train(api.train_request({"model": model, "data": data, "train": train}, given), cb), cb

    parent, _ = run(tmp_path / "parent.dsmodel")
    child, cb = run(tmp_path / "child.dsmodel", data={"aux_bands_per_file": 12}, init_from=parent.result.bundle)
    assert "from 48 to 12 input channels (first 12 kernel(s) kept, scaled by 48/12)" in _logs(cb)
    assert "the parent has 48 aux band(s), this data 12" in _logs(cb)
    assert "kept parent statistics for the 4 image band(s)" in _logs(cb)
    assert "do not fit" not in _logs(cb)
    assert read_metadata(child.result.bundle).model.aux_channels == 12


def test_a_change_model_fine_tuned_picks_its_own_threshold(tmp_path):
    """The child copied the parent's model settings, its decision threshold with them, and never recorded the pick
    of its own validation (self-training's stage 2 ran at its parents' 0.6 / 0.6 / 0.4)."""
    from engine.bundle.store import read_metadata
    from engine.training.finetune import Parent, parent_model_config
    from tests.helpers import make_change_bundle

    path = make_change_bundle(tmp_path / "parent.dsmodel", tta="flips", threshold=0.3)
    parent = Parent(path, read_metadata(path), "0" * 64)
    child = parent_model_config(parent.metadata.model, parent, given=set())
    assert child.threshold is None and child.tta == "flips"  # picked again; the family's run setting is kept
    told = parent_model_config(parent.metadata.model.replace(threshold=0.45), parent, given={"model.threshold"})
    assert told.threshold == 0.45  # a threshold the user gave is theirs
