"""``python -m engine segment`` / ``evaluate`` through the real argument parser (in-process)."""

from __future__ import annotations

import json

from engine.cli.main import main
from engine.data import synthetic
from tests.helpers import make_bundle


def test_segment_and_evaluate_commands(tmp_path, capsys):
    scene = synthetic.make_scene(tmp_path / "s", "s", size=(64, 80), seed=3, aux_channels=48)
    model = make_bundle(tmp_path / "m.dsmodel", aux_channels=48)
    out = tmp_path / "out.tif"
    code = main(["segment", "--image", scene["image"], "--aux", scene["aux"][0], "--model", model, "--model", model,
                 "--weights", "0.7", "0.3", "--out", str(out), "--probabilities", str(tmp_path / "p.tif"),
                 "--polygons", str(tmp_path / "p.gpkg"), "--tta", "flips", "--device", "cpu", "--batch-size", "2",
                 "--overlap", "0.5", "--threshold", "0.3", "--quiet", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == str(out) and out.is_file() and (tmp_path / "out.qml").is_file()
    assert (tmp_path / "p.gpkg").is_file() and result["pixels"] == 64 * 80
    code = main(["evaluate", "--pred", str(out), "--label", scene["label"], "--label-map", "90=1",
                 "--out", str(tmp_path / "m.json"), "--dice", "--rle-csv", str(tmp_path / "rle.csv"),
                 "--html", str(tmp_path / "m.html"), "--quiet"])
    assert code == 0
    assert "mIoU" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["pixels"] == 64 * 80 and len(metrics["iou"]) == 2
    # the HTML report the QGIS algorithm shows, from the command line too: the classes and the matrix's pixels
    page = (tmp_path / "m.html").read_text()
    assert "Confusion matrix" in page and metrics["class_names"][1] in page
    assert f"{metrics['confusion_matrix'][1][1]:,}" in page and f"{metrics['miou']:.4f}" in page
    assert (tmp_path / "rle.csv").read_text().startswith("ImageId,EncodedPixels\nout,")


def test_bad_input_is_one_line_error(tmp_path, capsys):
    model = make_bundle(tmp_path / "m.dsmodel")
    code = main(["segment", "--image", str(tmp_path / "missing.tif"), "--model", model, "--out",
                 str(tmp_path / "o.tif"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.tif" in err and err.startswith("error:")
    assert not (tmp_path / "o.tif").exists()
