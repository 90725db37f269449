"""The fit loop on in-memory tiles with the real tiny DualStream model: precision choice, LR groups and
schedules, frozen warm-up, cancel and resume, early stop, accumulation, outputs.

Tiles are made in memory (the class is a function of the aux input) so these tests exercise train() without
the raster pipeline; the CLI tests run the whole pipeline on GeoTIFFs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle.store import load_bundle, read_metadata
from engine.config import DataConfig, TrainConfig
from engine.errors import CanceledError, ConfigError
from engine.models import AutoModelConfig, ModelConfig, build_model_from_config
from engine.training.checkpoint import config_differences, load_checkpoint
from engine.training.metrics import selection_score
from engine.training.step_setup import LRSchedule, build_optimizer
from engine.training.trainer import train
from tests.helpers import AUX, TILE, RecordingCallback, aux_tile_datasets


def _configs(tmp_path: Path, **train_settings) -> tuple[ModelConfig, DataConfig, TrainConfig]:
    model_cfg = AutoModelConfig.for_family(preset="tiny", vision_channels=4, aux_channels=AUX, num_classes=1,
                                           aux_ratio=8)
    settings = dict(output=str(tmp_path / "out" / "model.dsmodel"), epochs=2, warmup_epochs=1, batch_size=4,
                    learning_rate=3e-3, device="cpu", preview_tiles=2)
    settings.update(train_settings)
    return model_cfg, DataConfig(tile_size=TILE, class_names=["background", "field"],
                                 class_colors=["#000000", "#00ff00"]), TrainConfig(**settings)


def _model(model_cfg: ModelConfig):
    torch.manual_seed(0)
    return build_model_from_config(model_cfg)


# ----------------------------------------------------------------------------------------- pure logic


def test_optimizer_groups_have_differential_learning_rates(tmp_path):
    model_cfg, _, train_cfg = _configs(tmp_path, learning_rate=1e-3, vision_lr_factor=0.1, aux_lr_factor=0.5)
    model = _model(model_cfg)
    optimizer = build_optimizer(model, train_cfg)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs == pytest.approx({"vision": 1e-4, "aux": 5e-4, "head": 1e-3})
    roles = model.param_groups()
    groups = {"vision": roles["vision_encoder"], "aux": roles["aux_encoder"],
              "head": roles["fusion"] + roles["decoder"]}
    for g in optimizer.param_groups:
        assert {id(p) for p in g["params"]} == {id(p) for p in groups[g["name"]]}
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert optimizer.defaults["weight_decay"] == train_cfg.weight_decay


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD),
                                       ("adamw", torch.optim.AdamW)])
def test_optimizer_by_name_keeps_the_role_groups(tmp_path, name, cls):
    model_cfg, _, train_cfg = _configs(tmp_path, optimizer=name, weight_decay=1e-4, momentum=0.8)
    optimizer = build_optimizer(_model(model_cfg), train_cfg)
    assert type(optimizer) is cls and optimizer.defaults["weight_decay"] == 1e-4
    assert [g["name"] for g in optimizer.param_groups] == ["vision", "aux", "head"]
    if name == "sgd":
        assert optimizer.defaults["momentum"] == 0.8
    with pytest.raises(ConfigError, match=r"optimizer 'lamb' is unknown; use one of \['adamw', 'adam', 'sgd'\]"):
        TrainConfig(optimizer="lamb")
    with pytest.raises(ConfigError, match="early_stop_metric 'f1' is unknown"):
        TrainConfig(early_stop_metric="f1")


def test_lr_schedules():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [param], "lr": 1e-3, "base_lr": 1e-3, "name": "head"}])
    cfg = TrainConfig(epochs=4, warmup_epochs=1, learning_rate=1e-3, min_learning_rate=1e-5, warmup_steps=2)
    sched = LRSchedule(opt, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(25):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs[:5] == pytest.approx([1e-3] * 5)  # frozen stage: base LR
    assert lrs[5] == pytest.approx(1e-3 / 3) and lrs[6] == pytest.approx(2e-3 / 3)  # linear warm-up steps
    assert lrs[7] == pytest.approx(1e-3)  # cosine starts at the top
    assert all(a >= b for a, b in zip(lrs[7:], lrs[8:]))  # then only decreases
    assert sched.factor(25) * 1e-3 == pytest.approx(1e-5)  # ... down to min_learning_rate

    step = LRSchedule(opt, TrainConfig(epochs=6, warmup_epochs=0, schedule="step", step_epochs=2, step_gamma=0.5,
                                       min_learning_rate=0), steps_per_epoch=3)
    assert [step.factor(s) for s in (0, 5, 6, 12)] == pytest.approx([1, 1, 0.5, 0.25])

    plateau = LRSchedule(opt, TrainConfig(epochs=9, warmup_epochs=0, schedule="plateau", plateau_patience=1,
                                          plateau_factor=0.5, min_learning_rate=0), steps_per_epoch=1)
    for score in (0.5, 0.6, 0.6, 0.6):
        plateau.epoch_end(score, main_stage=True)
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-4)  # two epochs without gain > patience 1
    state = json.loads(json.dumps(plateau.state_dict()))
    again = LRSchedule(opt, plateau.cfg, 1)
    again.load_state_dict(state)
    assert again.factor() == plateau.factor()


def test_selection_score():
    assert selection_score({"foreground_iou": 0.7, "miou": 0.8}, num_classes=1) == 0.7
    assert selection_score({"foreground_iou": 0.7, "miou": 0.8}, num_classes=3) == 0.8
    assert selection_score({"foreground_iou": None, "miou": 0.5}, num_classes=1) == 0.0  # undefined: never best
    assert selection_score({"foreground_iou": 0.7, "loss": 0.25}, 1, "loss") == -0.25  # lower loss scores higher


def test_config_differences_names_the_setting():
    saved = {"model": {"preset": "tiny"}, "data": {"tile_size": 64}, "train": {"learning_rate": 1e-3, "epochs": 2}}
    now = {"model": {"preset": "tiny"}, "data": {"tile_size": 64}, "train": {"learning_rate": 2e-3, "epochs": 5}}
    assert config_differences(saved, now) == ["train.learning_rate: checkpoint 0.001, now 0.002"]
    # a checkpoint written before settings were added (loss, optimizer, band selection) resumes as the same run
    old = {"model": {}, "data": {"augment": {"flips": True}}, "train": {"focal_weight": 0.5, "lovasz_weight": 0.5}}
    new = {"model": AutoModelConfig.for_family().to_dict(), "data": DataConfig().to_dict(),
           "train": TrainConfig().to_dict()}
    assert config_differences(old, new) == []


# ----------------------------------------------------------------------------------------- the loop


def test_warmup_freezes_encoders_and_trains_head(tmp_path):
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=0, warmup_epochs=1, weight_decay=0.1)
    model = _model(model_cfg)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    groups = {name: {id(p) for p in params} for name, params in model.param_groups().items()}
    names = {id(p): n for n, p in model.named_parameters()}
    train(model_cfg, data_cfg, train_cfg, RecordingCallback(), model=model, datasets=aux_tile_datasets(8, 4))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    encoder_names = {names[i] for key in ("vision_encoder", "aux_encoder") for i in groups[key]}
    head_names = {names[i] for key in ("fusion", "decoder") for i in groups[key]}
    # AdamW with weight decay would move every parameter that had a gradient.
    assert not changed & encoder_names
    assert len(changed & head_names) > 0.5 * len(head_names)
    assert all(p.grad is None for n, p in model.named_parameters() if n in encoder_names)


def test_loader_processes_prepare_the_tiles_when_asked(tmp_path):
    """Loader processes train as the main process does, and the start line says so."""
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=1, warmup_epochs=0, num_workers=2, preview_tiles=0)
    callback = RecordingCallback()
    result = train(model_cfg, data_cfg, train_cfg, callback, model=_model(model_cfg),
                   datasets=aux_tile_datasets(8, 4))
    started = [m for m in callback.messages("info") if m.startswith("Training ")]
    assert ", tiles prepared by 2 loader process(es), 2 steps of 4 tiles" in started[0], started
    assert Path(result.bundle).is_file() and result.history[0]["steps"] == 2


def test_train_learns_and_writes_outputs(tmp_path):
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=5, warmup_epochs=1, early_stop_patience=None)
    callback = RecordingCallback()
    model = _model(model_cfg)
    result = train(model_cfg, data_cfg, train_cfg, callback, model=model, datasets=aux_tile_datasets(32, 8))
    assert Path(result.bundle).is_file() and not Path(result.bundle + ".partial").exists()
    assert [e["epoch"] for e in result.history] == [1, 2, 3, 4, 5, 6]
    assert [e["stage"] for e in result.history] == ["frozen"] + ["full"] * 5
    best = max(result.history, key=lambda e: e["val_iou"])
    assert result.best_epoch == best["epoch"] and result.best_metrics["val_iou"] == best["val_iou"]
    assert best["val_iou"] > 0.6, result.history  # the class is learnable from the aux input
    meta = read_metadata(result.bundle)
    assert meta.metrics["epoch"] == result.best_epoch and meta.train_config().epochs == 5
    assert meta.model.preset == "tiny" and meta.data.tile_size == TILE
    # per-step progress over the whole run and per-epoch metrics through the callback
    steps = [p for p in callback.messages("progress") if p[2] == "train"]
    assert len(steps) == 6 * 8 and steps[-1][:2] == (48, 48)
    assert [m[0] for m in callback.messages("metrics")] == [1, 2, 3, 4, 5, 6]
    # torch's spinning threads on the free cores, said in the start line (the module runs on one: the ceiling)
    started = [m for m in callback.messages("info") if m.startswith("Training ")]
    assert len(started) == 1 and " on cpu with 1 thread(s), precision " in started[0], started
    assert "loader process" not in started[0]  # none unless asked
    assert ", channels-last, fused optimiser, 8 steps of 4 tiles" in started[0]  # the CPU step's setup, said
    # the speed reached, said once at the end and kept per epoch with where the rest of the time went
    speed = [m for m in callback.messages("info") if m.startswith("Speed: ")]
    assert len(speed) == 1 and speed[0].startswith("Speed: 192 training tiles in ") and "tiles per second" in speed[0]
    for entry in result.history:
        assert entry["train_tiles_per_second"] > 0 and entry["val_seconds"] >= 0 and entry["save_seconds"] >= 0
        assert 0 <= entry["data_wait_seconds"] <= entry["train_seconds"]
    # outputs beside the bundle
    out = Path(result.bundle).parent
    rows = (out / "model_metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,stage,train_loss") and len(rows) == 7
    assert json.loads((out / "model_metrics.json").read_text())[-1]["epoch"] == 6
    for name in ("model_curves.png", "model_predictions.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "model_report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "field" in html
    # the bundle holds the best epoch's weights, and so does the model afterwards
    loaded = load_bundle(result.bundle)
    for k, v in loaded.model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["finished"] and ckpt["epoch"] == 6 and len(ckpt["history"]) == 6
    last_equals_best = all(torch.equal(v, ckpt["model"][k]) for k, v in loaded.model.state_dict().items())
    assert last_equals_best == (result.best_epoch == 6)


def test_cancel_then_resume_continues_like_an_uninterrupted_run(tmp_path):
    # Uninterrupted reference run: 1 frozen + 2 full epochs of 4 steps.
    model_cfg, data_cfg, cfg_a = _configs(tmp_path / "a", epochs=2, warmup_epochs=1, early_stop_patience=None)
    ref = train(model_cfg, data_cfg, cfg_a, RecordingCallback(), model=_model(model_cfg),
                datasets=aux_tile_datasets(16, 4))

    _, _, cfg_b = _configs(tmp_path / "b", epochs=2, warmup_epochs=1, early_stop_patience=None)
    out = Path(cfg_b.output)
    out.parent.mkdir(parents=True)
    out.write_bytes(b"previous bundle")  # a bundle from an earlier run must survive a canceled run
    with pytest.raises(CanceledError, match="checkpoint"):
        # 4 train steps + 1 validation batch in epoch 1, then 2 steps into epoch 2
        train(model_cfg, data_cfg, cfg_b, RecordingCallback(cancel_after=7), model=_model(model_cfg),
              datasets=aux_tile_datasets(16, 4))
    assert out.read_bytes() == b"previous bundle"
    # issue 40, item 12: the best bundle so far went into the checkpoint; no .partial is left beside it
    assert sorted(p.name for p in out.parent.glob("model.dsmodel*")) == ["model.dsmodel", "model.dsmodel.ckpt"]
    ckpt = load_checkpoint(str(out) + ".ckpt")
    assert set(ckpt["best_model"]) == set(ref_state := load_bundle(ref.bundle).model.state_dict())
    assert ckpt["epoch"] == 1 and not ckpt["finished"] and [e["epoch"] for e in ckpt["history"]] == [1]

    callback = RecordingCallback()
    resumed = train(model_cfg, data_cfg, cfg_b.replace(resume=True), callback, model=_model(model_cfg),
                    datasets=aux_tile_datasets(16, 4))
    assert not Path(str(out) + ".partial").exists() and ref_state
    assert resumed.epochs_run == 2 and [e["epoch"] for e in resumed.history] == [1, 2, 3]
    assert any("Resuming" in m for m in callback.messages("info"))
    assert [m[0] for m in callback.messages("metrics")] == [2, 3]
    # Same data, same seeds per epoch: the resumed run ends where the uninterrupted one did.
    for a, b in zip(ref.history, resumed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_iou"] == pytest.approx(b["val_iou"], rel=1e-5)
    assert read_metadata(out).format == "dualstream-bundle"
    state_a = load_bundle(ref.bundle).model.state_dict()
    for k, v in load_bundle(resumed.bundle).model.state_dict().items():
        assert torch.allclose(v.float(), state_a[k].float(), atol=1e-5), k


def test_the_status_line_says_each_epoch_before_its_first_step_ends(tmp_path):
    """Issue 40, item 12: the front ends learn an epoch started before its first step ends (the loaders' start can
    take seconds); until then QGIS's status line said "Validating" the epoch before."""
    model_cfg, data_cfg, cfg = _configs(tmp_path, epochs=2, warmup_epochs=1, time_budget=3600)
    callback = RecordingCallback()
    train(model_cfg, data_cfg, cfg, callback, model=_model(model_cfg), datasets=aux_tile_datasets(16, 4))
    order = [(k, v[0] if k == "epoch" else v[2]) for k, v in callback.events if k in ("epoch", "progress")
             and (k == "epoch" or v[2] in ("train", "validate"))]
    starts = [i for i, (k, _) in enumerate(order) if k == "epoch"]
    assert [order[i][1] for i in starts] == [1, 2, 3]
    for i in starts:  # each epoch's start comes before its steps, after the last epoch's validation
        assert order[i + 1] == ("progress", "train") and (i == 0 or order[i - 1] == ("progress", "validate"))


def test_resume_refuses_other_settings(tmp_path):
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=0, warmup_epochs=1)
    train(model_cfg, data_cfg, train_cfg, model=_model(model_cfg), datasets=aux_tile_datasets(4, 4))
    other = train_cfg.replace(resume=True, learning_rate=1e-2)
    with pytest.raises(ConfigError, match=r"train\.learning_rate: checkpoint 0\.003, now 0\.01"):
        train(model_cfg, data_cfg, other, model=_model(model_cfg), datasets=aux_tile_datasets(4, 4))
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(model_cfg, data_cfg, train_cfg.replace(resume=True, output=str(tmp_path / "x.dsmodel")),
              model=_model(model_cfg), datasets=aux_tile_datasets(4, 4))


@pytest.mark.parametrize("metric", ["iou", "loss"])
def test_early_stop_and_accumulation(tmp_path, metric):
    # A learning rate too small to change predictions: neither IoU nor loss improves after epoch 1.
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=6, warmup_epochs=0, learning_rate=1e-12,
                                              min_learning_rate=0, early_stop_patience=2, grad_accumulation=3,
                                              early_stop_metric=metric)
    result = train(model_cfg, data_cfg, train_cfg, model=_model(model_cfg), datasets=aux_tile_datasets(16, 4))
    assert result.stopped_early and [e["epoch"] for e in result.history] == [1, 2, 3]
    assert result.best_epoch == 1
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["finished"]
    assert ckpt["schedule"]["step_count"] == 3 * math.ceil(4 / 3)  # 4 micro-batches, accumulate 3 -> 2 steps
    assert np.isfinite([e["train_loss"] for e in result.history]).all()


def test_patience_counts_from_the_first_iou_above_zero(tmp_path):
    # A model that predicts background everywhere and cannot change: IoU 0 every epoch, which is no plateau of a
    # model that learnt something, so patience never runs out (its loss metric would still stop it).
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=5, warmup_epochs=0, learning_rate=1e-12,
                                              min_learning_rate=0, early_stop_patience=2)
    model = _model(model_cfg)
    with torch.no_grad():
        model.decoder.classifier.bias.fill_(-1e4)
    result = train(model_cfg, data_cfg, train_cfg, model=model, datasets=aux_tile_datasets(8, 4))
    assert [e["val_iou"] for e in result.history] == [0.0] * 5
    assert not result.stopped_early and result.epochs_run == 5


def test_a_finished_training_goes_on_when_its_epochs_are_raised(tmp_path):
    model_cfg, data_cfg, cfg = _configs(tmp_path, epochs=1, warmup_epochs=1, early_stop_patience=None)
    first = train(model_cfg, data_cfg, cfg, model=_model(model_cfg), datasets=aux_tile_datasets(8, 4))
    assert [e["epoch"] for e in first.history] == [1, 2]
    assert Path(first.report).read_text().count("<tr><td>") == 2

    callback = RecordingCallback()
    more = train(model_cfg, data_cfg, cfg.replace(epochs=2, resume=True), callback, model=_model(model_cfg),
                 datasets=aux_tile_datasets(8, 4))
    assert more.epochs_run == 1 and [e["epoch"] for e in more.history] == [1, 2, 3]
    assert any("going on to epoch 3" in m for m in callback.messages("info"))
    ckpt = load_checkpoint(more.checkpoint)
    assert ckpt["epoch"] == 3 and ckpt["finished"]
    assert [e["epoch"] for e in json.loads(Path(more.outputs["metrics_json"]).read_text())] == [1, 2, 3]
    assert Path(more.report).read_text().count("<tr><td>") == 3  # the report again, one row per epoch (2 before)

    callback = RecordingCallback()
    again = train(model_cfg, data_cfg, cfg.replace(epochs=2, resume=True), callback, model=_model(model_cfg),
                  datasets=aux_tile_datasets(8, 4))
    assert again.epochs_run == 0 and len(again.history) == 3
    assert any("raise epochs to go on" in m for m in callback.messages("info"))
    assert not any(m.startswith("Training ") for m in callback.messages("info"))  # no "epochs 4..3" line


def test_an_early_stopped_training_goes_on_only_with_more_patience(tmp_path):
    model_cfg, data_cfg, cfg = _configs(tmp_path, epochs=6, warmup_epochs=0, learning_rate=1e-12,
                                        min_learning_rate=0, early_stop_patience=2)
    stopped = train(model_cfg, data_cfg, cfg, model=_model(model_cfg), datasets=aux_tile_datasets(8, 4))
    assert stopped.stopped_early and len(stopped.history) == 3

    callback = RecordingCallback()
    same = train(model_cfg, data_cfg, cfg.replace(epochs=8, resume=True), callback, model=_model(model_cfg),
                 datasets=aux_tile_datasets(8, 4))
    assert same.epochs_run == 0 and any("raise early_stop_patience" in m for m in callback.messages("info"))

    more = train(model_cfg, data_cfg, cfg.replace(epochs=8, early_stop_patience=4, resume=True),
                 model=_model(model_cfg), datasets=aux_tile_datasets(8, 4))
    assert more.stopped_early and [e["epoch"] for e in more.history] == [1, 2, 3, 4, 5]  # 4 epochs without gain
    assert more.best_epoch == 1 and Path(more.bundle).is_file()


def test_side_weights_that_do_not_fit_the_model_fail_before_training(tmp_path):
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=1, warmup_epochs=0)
    bad = train_cfg.replace(loss=train_cfg.loss.replace(side_weights=[0.5]))

    class NoData:  # the check runs before the data is touched
        def __iter__(self):
            raise AssertionError("data read before the side weights were checked")

    with pytest.raises(ConfigError, match=r"side_weights has 1 value.*dualstream model has 2"):
        train(model_cfg, data_cfg, bad, datasets=NoData())
    assert not Path(bad.output).exists()


def test_prefetcher_keeps_order_raises_errors_and_stops_early():
    from engine.runtime.prefetch import Prefetcher

    assert list(Prefetcher(range(50), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise OSError("disk gone")

    items = Prefetcher(broken())
    assert next(items) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(items)
    endless = Prefetcher(iter(int, 1))  # never ends: close() must still stop the thread
    assert next(endless) == 0
    endless.close()
    assert endless._done.is_set()  # its loop has returned
