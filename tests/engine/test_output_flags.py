"""Every output flag of the command line refuses to write onto an input of the same run.

The test walks the real parsers: every option that takes a path-like value must be listed either in
``OUTPUT_FLAGS`` (then it is run pointing at an input, and must be refused with the input unchanged) or in
``NOT_OUTPUTS``. A new option in neither list fails ``test_every_path_option_is_classified``, so a new output
cannot skip the output-safety check unnoticed.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest

from engine.cli.main import build_parser, main

# (command, flag) of options that read (or name) something: inputs, settings, names
NOT_OUTPUTS = {
    ("train", "--config"), ("train", "--data"), ("train", "--image"), ("train", "--label"),
    ("train", "--label-field"), ("train", "--aux"), ("train", "--aoi"), ("train", "--val-image"),
    ("train", "--val-label"), ("train", "--val-label-field"), ("train", "--val-aux"), ("train", "--val-aoi"),
    ("train", "--pretrained"), ("train", "--bands"), ("train", "--x-bands"), ("train", "--aux-prefix"),
    ("train", "--class-names"), ("train", "--class-colors"), ("train", "--device"), ("train", "--init-from"),
    ("train", "--unlabelled"), ("train", "--dates"), ("train", "--val-dates"), ("segment", "--dates"),
    ("segment", "--stack-dates"),
    ("info", "MODEL"), ("info", "--model"),
    ("segment", "--config"), ("segment", "--image"), ("segment", "--aux"), ("segment", "--model"),
    ("segment", "--weights"), ("segment", "--extent-crs"), ("segment", "--aoi"), ("segment", "--device"),
    ("segment", "--images"), ("segment", "--aux-pattern"), ("segment", "--manifest"), ("segment", "--bands"),
    ("segment", "--stac-item"), ("segment", "--stac-items"), ("segment", "--treatment"),
    ("segment", "--class-min-area"),
    ("segment", "--class-fill-holes"), ("segment", "--transparent-classes"),
    ("polygons", "CLASSES.tif"), ("polygons", "--raster"), ("polygons", "--class-names"), ("polygons", "--confidence"),
    ("polygons", "--model"), ("polygons", "--scene"), ("polygons", "--treatment"), ("polygons", "--class-min-area"),
    ("polygons", "--class-fill-holes"),
    ("train", "--labelled-area"), ("train", "--val-labelled-area"),
    ("suggest", "--model"), ("suggest", "--image"), ("suggest", "--aux"), ("suggest", "--labelled-area"),
    ("suggest", "--aoi"),
    ("suggest", "--device"), ("suggest", "--bands"), ("propose", "--bands"),
    ("evaluate", "--pred"), ("evaluate", "--label"), ("evaluate", "--label-field"),
    ("export", "MODEL"), ("export", "--model"),
    ("import", "MODEL.onnx"), ("import", "--description"), ("import", "--input-name"), ("import", "--layout"),
    ("import", "--licence"), ("import", "--name"), ("import", "--output-name"), ("import", "--output-kind"),
    ("import", "--sensor"), ("import", "--source"), ("import", "--task"),
    ("label", "--image"), ("label", "--model"), ("label", "--prompts"), ("label", "--text"),
    ("label", "--class-name"), ("label", "--extent-crs"), ("label", "--device"), ("label", "--bands"),
    ("propose", "--windows"), ("propose", "--model"), ("propose", "--aux"), ("propose", "--sam"),
    ("propose", "--text"), ("propose", "--device"),
    ("accept", "--proposals"), ("accept", "--windows"), ("accept", "--label-field"),
    # accept appends to the user's label layer and labelled area by design (they exist and are meant to grow);
    # that they are none of its inputs is accept's own check (tests/engine/test_proposals.py)
    ("accept", "--labels"), ("accept", "--labelled-area"),
    # change detection: the later dates, the class rasters compared, the model that segments both dates
    ("train", "--after"), ("train", "--val-after"), ("segment", "--after"), ("segment", "--after-pattern"),
    ("train", "--label-after-field"), ("train", "--val-label-after-field"),  # a field of the polygon labels
    ("compare", "--image"), ("compare", "--after"), ("compare", "--before-classes"), ("compare", "--after-classes"),
    ("compare", "--model"), ("compare", "--device"), ("compare", "--extent-crs"),
    ("suggest", "--extent-crs"),
}

# (command, flag) -> the input the flag is pointed at (a key of the ``inputs`` fixture)
OUTPUT_FLAGS = {
    ("train", "--out"): "image",
    ("segment", "--out"): "image",
    ("segment", "--probabilities"): "aux",
    ("segment", "--confidence"): "aux",
    ("segment", "--polygons"): "image",
    ("segment", "--out-dir"): "image",
    ("evaluate", "--out"): "label",
    ("evaluate", "--rle-csv"): "prediction",
    ("evaluate", "--html"): "label",
    ("export", "--onnx"): "bundle",
    ("export", "--stac"): "bundle",
    ("import", "--output"): "bundle",
    ("polygons", "--out"): "prediction",
    ("suggest", "--out"): "area",
    ("label", "--out"): "image",
    ("propose", "--out"): "area",
    ("segment", "--change-table"): "aux",
    ("compare", "--out"): "image",
    ("compare", "--change-table"): "aux",
    ("compare", "--polygons"): "bundle",
}


def path_options() -> set[tuple[str, str]]:
    """(command, flag) of every option of every subcommand that takes a free-text value (a path or a name)."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    found = set()
    for command, sub in commands.items():
        for action in sub._actions:
            if action.nargs == 0 or action.choices or action.type not in (None, str):
                continue  # switches, choices and numbers name no file
            flag = action.option_strings[0] if action.option_strings else str(action.metavar)
            found.add((command, flag))
    return found


def test_every_path_option_is_classified():
    unknown = path_options() - NOT_OUTPUTS - set(OUTPUT_FLAGS)
    assert not unknown, (f"options {sorted(unknown)} are neither in OUTPUT_FLAGS (tested below) nor in NOT_OUTPUTS: "
                         f"say whether they write a file")
    assert set(OUTPUT_FLAGS) <= path_options()


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    """Input files of a run; the checks refuse before anything reads them, so their bytes do not matter."""
    folder = tmp_path / "in"
    folder.mkdir()
    files = {"image": "image.tif", "aux": "aux.tif", "label": "label.tif", "prediction": "prediction.tif",
             "bundle": "model.dsmodel", "area": "labelled.gpkg"}
    made = {}
    for key, name in files.items():
        made[key] = folder / name
        made[key].write_bytes(f"{key} bytes".encode() * 64)
    return made


def argv_of(command: str, flag: str, inputs: dict[str, Path], out: Path) -> list[str]:
    """The command line of ``command`` with its own outputs in ``out``; ``flag`` is added (or replaced) later."""
    i = {k: str(v) for k, v in inputs.items()}
    if command == "train":
        return ["train", "--image", i["image"], "--label", i["label"], "--aux", i["aux"], "--preset", "tiny",
                "--tile-size", "64", "--epochs", "1", "--warmup-epochs", "0", "--device", "cpu", "--quiet",
                "--out", str(out / "m.dsmodel")]
    if command == "segment" and flag == "--out-dir":
        return ["segment", "--images", i["image"], "--model", i["bundle"], "--device", "cpu", "--quiet",
                "--out-dir", str(out / "bulk")]
    if command == "segment":
        return ["segment", "--image", i["image"], "--aux", i["aux"], "--model", i["bundle"], "--device", "cpu",
                "--quiet", "--out", str(out / "o.tif")]
    if command == "evaluate":
        return ["evaluate", "--pred", i["prediction"], "--label", i["label"], "--quiet", "--out",
                str(out / "metrics.json")]
    if command == "export":
        return ["export", i["bundle"], "--quiet", "--onnx", str(out / "m.onnx")]
    if command == "import":
        return ["import", i["bundle"], "--output", str(out / "m.dsmodel")]
    if command == "polygons":
        return ["polygons", i["prediction"], "--quiet", "--out", str(out / "p.gpkg")]
    if command == "suggest":
        return ["suggest", "--model", i["bundle"], "--image", i["image"], "--labelled-area", i["area"],
                "--device", "cpu", "--quiet", "--out", str(out / "windows.gpkg")]
    if command == "label":
        return ["label", "--image", i["image"], "--prompts", i["area"], "--model", "sam2.1-tiny", "--quiet",
                "--out", str(out / "labels.gpkg")]
    if command == "propose":
        return ["propose", "--windows", i["area"], "--model", i["bundle"], "--sam", "sam2.1-tiny", "--quiet",
                "--out", str(out / "proposals.gpkg")]
    if command == "compare":
        return ["compare", "--model", i["bundle"], "--image", i["image"], "--after", i["aux"], "--quiet", "--out",
                str(out / "change.tif")]
    raise AssertionError(f"no command line for {command}")


def _with(argv: list[str], flag: str, value: str) -> list[str]:
    if flag in argv:
        argv = list(argv)
        argv[argv.index(flag) + 1] = value
        return argv
    return [*argv, flag, value]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("command,flag", sorted(OUTPUT_FLAGS), ids=[f"{c}{f}" for c, f in sorted(OUTPUT_FLAGS)])
def test_each_output_flag_refuses_an_input(command, flag, inputs, tmp_path, capsys):
    target = inputs[OUTPUT_FLAGS[(command, flag)]]
    before = {key: _digest(path) for key, path in inputs.items()}
    out = tmp_path / "out"
    out.mkdir()
    code = main(_with(argv_of(command, flag, inputs, out), flag, str(target)))
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2, error
    assert flag in error and str(target) in error, error
    assert "would overwrite" in error or "not a folder" in error, error  # --out-dir is a folder
    assert {key: _digest(path) for key, path in inputs.items()} == before
    assert sorted(p.name for p in inputs["image"].parent.iterdir()) == sorted(p.name for p in inputs.values())
