"""``python -m engine train`` / ``info`` as a user runs them: real subprocesses on synthetic GeoTIFFs.

The dataset is the reference layout (16-bit imagery, 4 aux files x 12 bands in EPSG:4326, label value 90)
with ``label_from="aux"``: the class is visible only through the aux field, so a model that reaches a high
validation IoU must be reading the aux rasters at the right place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bundle.store import read_metadata
from engine.cli.main import build_parser
from engine.cli.options import flag_name
from engine.cli.train import request_from_args
from engine.data import synthetic
from engine.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
# Small and fast, yet reliably learnable (several seeds checked): 12 steps of 4 tiles per epoch, 1 + 7 epochs.
FAST = ["--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "48", "--batch-size", "4", "--epochs", "7",
        "--warmup-epochs", "1", "--lr", "3e-3", "--device", "cpu", "--num-workers", "0"]
AUX_FILES = [("t_gems", "GEMS_"), ("t_ap", "AIR_Pollution_CO_"), ("t_ap", "AIR_Pollution_NO2_"),
             ("t_ap", "AIR_Pollution_SO2_")]


@pytest.fixture(scope="module")
def aux_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference_aux_class")
    return Path(synthetic.make_reference_dataset(root, n_train=3, n_val=2, size=(128, 128), seed=0, aux_bands=12,
                                                 label_from="aux", vectors=True))


def engine(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))  # 1 thread: far faster on busy shared CPUs
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)


def _scene_args(root: Path, split: str, name: str, vector: bool) -> list[str]:
    prefix = "" if split == "train" else "val-"
    img, lbl = ("ts_sn", "tl_sn") if split == "train" else ("vs_sn", "vl_sn")
    label = root / f"{lbl}_gpkg" / f"{name}.gpkg" if vector else root / lbl / f"{name}.tif"
    args = [f"--{prefix}image", str(root / img / f"{name}.tif"), f"--{prefix}label", str(label)]
    if vector:
        args += [f"--{prefix}label-field", "class"]
    for folder, aux_prefix in AUX_FILES:
        folder = folder if split == "train" else folder.replace("t_", "v_")
        args += [f"--{prefix}aux", str(root / folder / f"{aux_prefix}{name}.tif")]
    return args


def test_train_reference_layout_then_info_and_resume(aux_dataset, tmp_path):
    out = tmp_path / "models" / "ref.dsmodel"
    done = engine("train", "--data", str(aux_dataset), "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Model bundle: {out}" in done.stdout
    meta = read_metadata(out)
    assert meta.metrics["val_iou"] > 0.8, meta.metrics
    assert meta.data.aux_channels == 48 and meta.data.vision_bands == 4
    assert meta.model.aux_channels == 48 and meta.train_config().epochs == 7
    for suffix in ("_metrics.csv", "_metrics.json", "_curves.png", "_predictions.png", "_report.html", "_stac.json"):
        assert (out.parent / f"ref{suffix}").is_file(), suffix
    assert (out.parent / "ref.dsmodel.ckpt").is_file() and not (out.parent / "ref.dsmodel.partial").exists()
    epochs = [line for line in done.stderr.splitlines() if line.startswith("Epoch ")]  # above the progress bars
    assert len(epochs) == 8 and epochs[-1].startswith("Epoch 8/8: training loss "), epochs
    assert "=" not in "".join(epochs), epochs
    best = [line for line in epochs if "validation IoU" in line and "(best)" in line]  # the bundle's best epoch
    assert best[-1].startswith(f"Epoch {meta.metrics['epoch']}/8"), (meta.metrics["epoch"], epochs)
    assert f"Metrics per epoch: {out.parent / 'ref_metrics.csv'}" in done.stdout

    info = engine("info", str(out))
    assert info.returncode == 0, info.stderr
    assert "Architecture: dualstream family (preset tiny)" in info.stdout
    assert "aux channels 48" in info.stdout and "label mapping: 90 -> 1" in info.stdout
    assert f"Metrics (best epoch {meta.metrics['epoch']})" in info.stdout
    raw = engine("info", str(out), "--json")
    assert json.loads(raw.stdout)["weights_sha256"] == meta.weights_sha256

    # Resuming a finished training changes nothing.
    again = engine("train", "--data", str(aux_dataset), "--out", str(out), *FAST, "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "training had finished" in again.stderr
    assert read_metadata(out).weights_sha256 == meta.weights_sha256


def test_train_explicit_scenes_with_vector_labels(aux_dataset, tmp_path):
    out = tmp_path / "vec.dsmodel"
    scenes = []
    for i in range(3):
        scenes += _scene_args(aux_dataset, "train", f"train_{i:03d}", vector=True)
    for i in range(2):
        scenes += _scene_args(aux_dataset, "val", f"val_{i:03d}", vector=True)
    done = engine("train", *scenes, "--out", str(out), *FAST, "--json", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["bundle"] == str(out) and len(result["history"]) == 8
    assert result["best_metrics"]["val_iou"] > 0.8, result["history"]
    meta = read_metadata(out)
    assert meta.train_config() is not None and meta.data.aux_channels == 48


def test_errors_are_one_line_with_exit_code_2(tmp_path):
    done = engine("train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.dsmodel"), *FAST)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "nowhere" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m.dsmodel").exists()
    junk = tmp_path / "junk.dsmodel"
    junk.write_text("not a model")
    info = engine("info", str(junk))
    assert info.returncode == 2 and "junk.dsmodel" in info.stderr and len(info.stderr.strip().splitlines()) == 1
    debug = engine("--debug", "info", str(junk))
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "BundleError" in debug.stderr
    usage = engine("train", "--out", str(tmp_path / "m.dsmodel"), "--label", "x.tif")
    assert usage.returncode == 2 and "--label must come after the --image" in usage.stderr


def _parse(*argv: str):
    request = request_from_args(build_parser().parse_args(["train", *argv]))
    return request.model, request.data, request.train


def test_config_file_then_flags_override(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model:\n  preset: b0\n  dropout: 0.2\n"
                      "data:\n  data_dir: /data/ref\n  tile_size: 256\n  label_mapping: {'255': 1}\n"
                      "train:\n  output: a.dsmodel\n  epochs: 12\n  learning_rate: 0.001\n")
    model, data, train = _parse("--config", str(config), "--epochs", "3", "--preset", "tiny", "--grad-clip", "0",
                                "--patience", "0", "--seed", "7")
    assert (model.preset, model.dropout) == ("tiny", 0.2)
    assert (data.data_dir, data.tile_size, data.label_mapping, data.seed) == ("/data/ref", 256, {"255": 1}, 7)
    assert (train.output, train.epochs, train.learning_rate) == ("a.dsmodel", 3, 0.001)
    assert train.grad_clip is None and train.early_stop_patience is None and train.seed == 7
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps({"train": {"output": "b.dsmodel", "warmup_epochs": 0},
                                   "data": {"data_dir": "/d"}}))
    assert _parse("--config", str(as_json))[2].warmup_epochs == 0
    as_json.write_text(json.dumps({"trian": {}}))
    with pytest.raises(ConfigError, match="unknown section"):
        _parse("--config", str(as_json))
    with pytest.raises(ConfigError, match="unknown setting"):
        as_json.write_text(json.dumps({"train": {"output": "b.dsmodel", "epoch": 3}, "data": {"data_dir": "/d"}}))
        _parse("--config", str(as_json))


def test_training_options_from_flags_and_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  output: a.dsmodel\n  loss:\n    terms: {ohem: 1, dice: 1}\n    ohem_min_kept: 50\n"
                      "data:\n  data_dir: /d\n")
    model, _, train = _parse("--config", str(config), "--model", "unet", "--encoder", "resnet18", "--optimizer",
                             "sgd", "--momentum", "0.7", "--schedule", "step", "--step-epochs", "3",
                             "--patience-metric", "loss", "--focal-gamma", "1.5")
    assert (model.name, model.encoder) == ("unet", "resnet18")
    assert (train.optimizer, train.momentum, train.schedule, train.step_epochs) == ("sgd", 0.7, "step", 3)
    assert train.early_stop_metric == "loss"
    assert train.loss.terms == {"ohem": 1.0, "dice": 1.0} and train.loss.ohem_min_kept == 50
    assert train.loss.focal_gamma == 1.5
    _, data, train = _parse("--config", str(config), "--loss", "focal=1,bce=0.5", "--side-weights", "0.2,0.1",
                            "--bands", "3,2,1", "--x-bands", "4", "--copy-paste", "0.5", "--clahe", "0.2")
    assert train.loss.terms == {"focal": 1.0, "ce": 0.5} and train.loss.side_weights == [0.2, 0.1]
    assert (data.bands, data.x_bands, data.aux_ratio) == ([3, 2, 1], [4], 1)
    assert (data.augment.copy_paste, data.augment.clahe_probability, data.augment.hsv) == (0.5, 0.2, 0.0)


def test_bad_loss_and_optimizer_names_list_the_valid_ones(tmp_path):
    base = ["train", "--out", str(tmp_path / "m.dsmodel"), "--data", str(tmp_path)]
    loss = engine(*base, "--loss", "focal=1,tversky=1")
    assert loss.returncode == 2 and "'tversky' is unknown" in loss.stderr
    assert "['focal', 'lovasz', 'dice', 'ohem', 'ce']" in loss.stderr and "Traceback" not in loss.stderr
    opt = engine(*base, "--optimizer", "lamb")
    assert opt.returncode == 2 and "adamw" in opt.stderr and "sgd" in opt.stderr


def test_class_colours_not_given_come_from_one_palette():
    from engine.config import CLASS_PALETTE, fill_class_colors

    _, data, _ = _parse("--out", "m.dsmodel", "--data", "d", "--class-names", *"abcdef")
    assert data.class_colors == list(CLASS_PALETTE[:6])  # the QGIS dialog's colour buttons use the same
    assert fill_class_colors(["#000000", "#1F78B4"], 4) == ["#000000", "#1F78B4", "#ff0000", "#33a02c"]  # no repeat
    assert fill_class_colors(["#111111", "#222222", "#333333"], 2) == ["#111111", "#222222"]
    many = fill_class_colors([], len(CLASS_PALETTE) + 2)
    assert many[len(CLASS_PALETTE):] == list(CLASS_PALETTE[:2])  # the palette repeats once it runs out


def test_class_colours_not_given_follow_the_class_names():
    from engine.config import fill_class_colors

    _, data, _ = _parse("--out", "m.dsmodel", "--data", "d", "--class-names", "forest", "grassland", "lake",
                        "artificial_surface", "street", "other")
    assert data.class_colors == ["#006400", "#ffff4c", "#0064c8", "#fa0000", "#808080", "#000000"]
    _, given, _ = _parse("--out", "m.dsmodel", "--data", "d", "--class-names", "forest", "water",
                         "--class-colors", "#111111")
    assert given.class_colors == ["#111111", "#0064c8"]  # a colour given is kept; the missing one from its name
    assert fill_class_colors([], 3, ["water", "river", "trees"]) == ["#0064c8", "#000000", "#006400"]  # no repeat


def test_class_colours_not_given_never_look_like_another_class():
    """A season map of 'arable' and 'built-up' drew both red: the palette's #ff0000 beside built-up's #fa0000."""
    from engine.config import fill_class_colors
    from engine.io.writers import hex_to_rgb

    names = ["none", "other", "grassland", "forest", "built-up"]
    colors = fill_class_colors([], len(names), names)
    assert colors[2:] == ["#ffff4c", "#006400", "#fa0000"]  # the named ones keep their usual colours
    for i, a in enumerate(colors):
        for b in colors[i + 1:]:
            assert max(abs(x - y) for x, y in zip(hex_to_rgb(a), hex_to_rgb(b))) >= 48, (a, b)
    assert fill_class_colors([], 2, ["arable", "Cotton-fallow"]) == ["#f096ff", "#000000"]  # crop's, then spare
    assert fill_class_colors(["#000000", "#fa0001"], 3) == ["#000000", "#fa0001", "#1f78b4"]  # given ones count


def test_class_names_and_colours_take_commas_as_the_qgis_field_does():
    """``--class-names a,b,c`` was refused (one name, 'needs at least two'): the one list parser of both front ends."""
    from engine.api import split_list

    _, data, _ = _parse("--out", "m.dsmodel", "--data", "d", "--class-names", "forest,grassland, lake",
                        "--class-colors", "#111111;#222222", "#333333")
    assert data.class_names == ["forest", "grassland", "lake"]
    assert data.class_colors == ["#111111", "#222222", "#333333"]
    _, spaced, _ = _parse("--out", "m.dsmodel", "--data", "d", "--class-names", "forest", "grassland")
    assert spaced.class_names == ["forest", "grassland"]  # names given apart, as before
    assert split_list("a, b;c,,") == ["a", "b", "c"] and split_list(["a,b", "c"]) == ["a", "b", "c"]
    assert split_list([1, 2]) == [1, 2] and split_list("") == []


def test_explicit_scenes_group_options_by_image(tmp_path):
    _, data, train = _parse("--out", "m.dsmodel", "--image", "a.tif", "--label", "a.gpkg", "--label-field", "cls",
                            "--aux", "a1.tif", "--aux", "a2.tif", "--extent", "0", "0", "10", "10",
                            "--image", "b.tif", "--label", "b.tif", "--aux", "b1.tif",
                            "--val-image", "v.tif", "--val-label", "v.tif", "--label-map", "3=1",
                            "--label-map", "4=1", "--class-names", "bg", "fg")
    a, b = data.train_scenes
    assert (a.image, a.label, a.label_field, a.aux, a.extent) == ("a.tif", "a.gpkg", "cls", ["a1.tif", "a2.tif"],
                                                                  [0.0, 0.0, 10.0, 10.0])
    assert (b.image, b.label, b.aux, b.label_field) == ("b.tif", "b.tif", ["b1.tif"], None)
    assert [s.image for s in data.val_scenes] == ["v.tif"] and data.data_dir is None
    assert data.label_mapping == {"3": 1, "4": 1} and data.class_colors == ["#000000", "#ff0000"]
    assert train.output == "m.dsmodel"
    with pytest.raises(ConfigError, match="explicit scenes .* not both"):
        _parse("--out", "m.dsmodel", "--data", "d", "--image", "a.tif")
    with pytest.raises(ConfigError) as missing:
        _parse("--data", "d")
    assert "give --out" in missing.value.render(flag_name)  # named as the command line names it


def test_tqdm_callback_writes_bars_and_messages_to_its_stream():
    import io

    from engine.cli.progress import TqdmCallback

    stream = io.StringIO()
    callback = TqdmCallback(stream=stream, disable_bars=False)
    for step in range(1, 5):
        callback.progress(step, 4, "train")
    callback.info("Stage 1: encoders frozen.")
    callback.metrics(1, {"epoch": 1, "epochs": 3, "train_loss": 0.51234, "stage": "frozen", "lr": 0.0003,
                         "val_loss": 0.4, "val_iou": 0.7312, "best": "val_iou", "seconds": 12.4})
    callback.warning("no validation tiles")
    callback.close()
    text = stream.getvalue()
    assert "train" in text and "4/4" in text
    assert "Stage 1: encoders frozen." in text
    assert ("Epoch 1/3 (encoders frozen): training loss 0.512, validation loss 0.400, validation IoU 0.731 (best), "
            "12 s\n") in text and "lr" not in text
    assert "warning: no validation tiles" in text
    quiet = io.StringIO()
    callback = TqdmCallback(stream=quiet, quiet=True)
    callback.progress(1, 2, "train")
    callback.info("hidden")
    callback.close()
    assert "hidden" not in quiet.getvalue() and "2" not in quiet.getvalue()


def test_tqdm_callback_opens_no_second_bar_for_a_repeated_completion():
    """A bulk run reports its tile count complete twice at the end (the last scene's last batch, then the scene's
    end): one bar, not a second one that starts at 0 and completes at once. A stage run again starts anew."""
    import io
    import re

    from engine.cli.progress import TqdmCallback

    stream = io.StringIO()
    callback = TqdmCallback(stream=stream, disable_bars=False)
    for done in (0, 60, 125, 125):
        callback.progress(done, 125, "tiles")
    starts = r"(?<!\d)0/125"  # a bar at its start
    assert len(re.findall(starts, stream.getvalue())) == 1
    for done in (0, 125):  # the same stage again from the start (e.g. validation in the next epoch)
        callback.progress(done, 125, "tiles")
    callback.close()
    assert len(re.findall(starts, stream.getvalue())) == 2


def test_progress_in_a_log_file_is_plain_lines_not_bars():
    """A SLURM job's log (no terminal): no bars (their redraws and cursor moves would fill the file), a plain line
    every LOG_SECONDS with the share done and the time left, one at the end; short stages stay silent."""
    import io

    from engine.cli.progress import LOG_SECONDS, TqdmCallback

    now = [0.0]
    stream = io.StringIO()
    callback = TqdmCallback(stream=stream, clock=lambda: now[0])
    callback.progress(0, 100, "tiles")
    for done in range(1, 101):
        now[0] += LOG_SECONDS / 4  # 4 tiles per line interval
        callback.progress(done, 100, "tiles")
    callback.progress(100, 100, "tiles")  # complete again: no second line
    for done in range(0, 11):  # a short stage
        callback.progress(done, 10, "segment")
    callback.info("a message")
    callback.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    progress = [line for line in lines if line.startswith("tiles: ")]
    assert len(progress) == 25 and progress[0] == "tiles: 4% (4/100), about 0:12:00 left"
    assert progress[-1] == "tiles: 100% (100/100)" and not any(line.startswith("segment") for line in lines)
    assert lines[-1] == "a message"
    # a terminal keeps its bars; quiet writes nothing
    quiet = io.StringIO()
    TqdmCallback(stream=quiet, quiet=True, clock=lambda: now[0]).progress(5, 10, "tiles")
    assert quiet.getvalue() == ""


def test_model_settings_come_from_their_declarations(tmp_path):
    """The model flags are the families' declared settings: 'auto' and 'default' leave the choice to the engine."""
    from engine.cli.options import flag_name
    def given(*argv: str):
        args = build_parser().parse_args(["train", "--data", str(tmp_path), "--out", "m.dsmodel", *argv])
        request = request_from_args(args)
        return (request.model, request.data, request.train), request.given

    (model, _, _), chosen = given("--model", "auto", "--preset", "default", "--encoder", "default")
    assert not {"model.name", "model.preset", "model.encoder"} & chosen  # left to engine.training.auto
    (model, _, _), chosen = given("--model", "unet", "--preset", "light", "--encoder", "resnet18", "--drop-path",
                                  "0.2", "--dropout", "0.3", "--pretrained", "imagenet")
    assert (model.name, model.preset, model.encoder, model.drop_path, model.dropout, model.pretrained) == \
        ("unet", "light", "resnet18", 0.2, 0.3, "imagenet")
    assert {"model.name", "model.preset"} <= chosen
    assert type(model).__name__ == "UNetConfig" and given("--model", "cmx")[0][0].drop_path == 0.1
    # messages name the model's settings by their flags, as every other setting
    assert (flag_name("model.name"), flag_name("model.preset"), flag_name("model.encoder")) == \
        ("--model", "--preset", "--encoder")
    with pytest.raises(SystemExit):  # argparse's choices are the registry's
        build_parser().parse_args(["train", "--model", "segnet"])
