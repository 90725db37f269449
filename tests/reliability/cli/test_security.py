"""Security kept tested: class names that are HTML run nothing in any page or style the engine writes, and a
bundle never unpickles (the pickle cases of cases.py leave no marker; here the engine's own pages)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..workspace import SCRIPT_NAME, run_cli


def test_training_report_escapes_class_names(workspace: dict, ledger: Any) -> None:
    page = Path(workspace["report"]).read_text()
    ok = "&lt;script&gt;alert(1)&lt;/script&gt;" in page and SCRIPT_NAME not in page
    ledger.record("cli", "train_report_escapes_script_class_name", worked=ok, code_executed=SCRIPT_NAME in page,
                  ok=ok)
    assert ok


def test_segment_style_and_info_keep_the_name_as_text(workspace: dict, tmp_path: Path, ledger: Any) -> None:
    done = run_cli("segment", "--image", workspace["image"], "--aux", workspace["aux"], "--model",
                   workspace["bundle"], "--out", str(tmp_path / "o.tif"), "--quiet", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    labels = [e.get("label") for e in ET.parse(tmp_path / "o.qml").iter("paletteEntry")]  # well-formed XML
    info = run_cli("info", workspace["bundle"], "--json")
    names = json.loads(info.stdout)["data"]["class_names"]
    ok = labels == ["background", SCRIPT_NAME] and names == labels and not os.path.exists(workspace["code_marker"])
    ledger.record("cli", "segment_style_holds_script_class_name_as_text", worked=ok, ok=ok)
    assert ok, (labels, names)


def test_metrics_csv_keeps_a_formula_class_name_as_text(workspace: dict, tmp_path: Path, ledger: Any) -> None:
    """A class named like a spreadsheet formula (the prediction's category names, which anyone can write) goes
    into evaluate's CSVs as text: the cell starts with ', so a spreadsheet shows it instead of running it."""
    import csv
    import shutil

    from osgeo import gdal

    from ..cases import FORMULA

    prediction = tmp_path / "prediction.tif"
    shutil.copyfile(workspace["image_prediction"], prediction)
    ds = gdal.Open(str(prediction), gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["background", FORMULA])
    ds = None
    done = run_cli("evaluate", "--pred", str(prediction), "--label", workspace["label"], "--label-map", "90=1",
                   "--out", str(tmp_path / "m.json"), "--rle-csv", str(tmp_path / "rle.csv"), "--quiet")
    assert done.returncode == 0, done.stderr
    cells = [cell for name in ("m.csv", "m_confusion.csv", "rle.csv")
             for row in csv.reader((tmp_path / name).open(encoding="utf-8")) for cell in row]
    runs = [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")
            or (cell[:1] == "-" and not cell.lstrip("-").replace(".", "", 1).isdigit())]
    ok = "'" + FORMULA in cells and not runs
    ledger.record("cli", "evaluate_csv_keeps_formula_class_name_as_text", worked=ok, code_executed=bool(runs), ok=ok)
    assert ok, (runs, [c for c in cells if "HYPERLINK" in c])
