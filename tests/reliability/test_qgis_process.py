"""A subset of the reliability cases through real headless ``qgis_process`` runs of the deployed plugin.

The same checks as the command-line table: the run fails with a message naming the parameter, no Python
traceback, no new file at the destination, every input byte-identical; plus the parts only the plugin writes
(the Evaluate HTML page, the copied training report) and the issue's silent ``TILE_SIZE=8192`` run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import snapshot

pytestmark = [pytest.mark.qgis]

SCRIPT = "<script>alert(1)</script>"
COMMAND_SECONDS = 300


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, deploy_plugin: Any, venv_site_packages: list[str]) -> Path:
    root = tmp_path_factory.mktemp("reliability-qgis")
    deploy_plugin(root, venv_site_packages)
    return root


def _segment(w: dict, **extra: str) -> dict[str, str]:
    return {"INPUT": w["image"], "AUX": w["aux"], "MODEL": w["bundle"], "DEVICE": "cpu", **extra}


def _train(w: dict, **extra: str) -> dict[str, str]:
    return {"INPUT": w["image"], "LABELS": w["label"], "AUX": w["aux"], "PRESET": "tiny", "EPOCHS": "1",
            "WARMUP_EPOCHS": "0", "TILE_SIZE": "64", "TILES_PER_EPOCH": "2", "BATCH_SIZE": "2", "DEVICE": "cpu",
            **extra}


def _sparse_big_image(w: dict, folder: Path) -> str:
    """A 65536 x 65536 px GeoTIFF on the scene's grid that takes about a megabyte (no block written)."""
    from osgeo import gdal

    source = gdal.Open(w["image"])
    path = folder / "huge.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 65536, 65536, source.RasterCount, gdal.GDT_UInt16,
                                              options=["TILED=YES", "SPARSE_OK=TRUE", "BIGTIFF=YES"])
    ds.SetGeoTransform(source.GetGeoTransform())
    ds.SetProjection(source.GetProjection())
    ds = None
    return str(path)


def _link(target: str, folder: Path) -> str:
    """A hard link to ``target`` named like a bundle: the same file under a name the algorithm accepts."""
    link = folder / "model.dsmodel"
    link.hardlink_to(target)
    return str(link)


def _copy(source: str, folder: Path, name: str) -> str:
    import shutil

    return shutil.copyfile(source, folder / name)


def _device_link(folder: Path) -> str:
    """A link to /dev/full named like a GeoTIFF (the link keeps the real device out of a faulty run's reach)."""
    link = folder / "full.tif"
    link.symlink_to("/dev/full")
    return str(link)


def _fifo(folder: Path) -> str:
    path = folder / "fifo.tif"
    os.mkfifo(path)
    return str(path)


CASES = [
    # id, algorithm, parameters (w, d = output folder, p = a folder for links made beforehand), error words
    ("segment_output_onto_aux", "dualstream:segment", lambda w, d, p: _segment(w, OUTPUT=w["aux"]),
     ("OUTPUT", "AUX")),
    ("segment_probabilities_onto_model", "dualstream:segment",
     lambda w, d, p: _segment(w, OUTPUT=str(d / "o.tif"), OUTPUT_PROBABILITIES=w["bundle"]),
     ("OUTPUT_PROBABILITIES", "MODEL")),
    ("segment_tile_8192_on_a_huge_scene", "dualstream:segment",
     lambda w, d, p: _segment(w, INPUT=_sparse_big_image(w, p), TILE_SIZE="8192", BATCH_SIZE="64",
                              OUTPUT=str(d / "o.tif")),
     ("tile", "gib")),
    ("train_output_hardlink_to_image", "dualstream:train", lambda w, d, p: _train(w, OUTPUT=_link(w["image"], p)),
     ("OUTPUT", "INPUT")),
    ("train_report_copy_onto_label", "dualstream:train",
     lambda w, d, p: _train(w, OUTPUT=str(d / "m.dsmodel"), OUTPUT_REPORT=w["label"]),
     ("OUTPUT_REPORT", "LABELS")),
    # data checks with numbers (issue 24, item 5): an aux layer with no valid pixel, named, before any tile
    ("segment_aux_all_nodata", "dualstream:segment",
     lambda w, d, p: _segment(w, AUX=w["nodata_aux"], OUTPUT=str(d / "o.tif")), ("nodata_aux.tif", "no valid pixel")),
    ("train_aux_all_nan", "dualstream:train", lambda w, d, p: _train(w, AUX=w["nan_aux"], OUTPUT=str(d / "m.dsmodel")),
     ("nan_aux.tif", "no valid pixel")),
    ("evaluate_html_onto_prediction", "dualstream:evaluate",
     lambda w, d, p: {"INPUT": w["image_prediction"], "LABELS": w["label"], "LABEL_MAPPING": "90=1",
                   "OUTPUT": str(d / "m.json"), "OUTPUT_HTML": w["image_prediction"]}, ("OUTPUT_HTML", "INPUT")),
    # Evaluate's table is a sink QGIS creates itself: it replaced the label polygons with the metrics table
    ("evaluate_table_onto_labels", "dualstream:evaluate",
     lambda w, d, p: {"INPUT": w["image_prediction"], "LABELS": _copy(w["label_vector"], p, "labels.gpkg"),
                      "OUTPUT": str(d / "m.json"), "OUTPUT_TABLE": str(p / "labels.gpkg")},
     ("OUTPUT_TABLE", "LABELS", "would overwrite")),
    ("segment_output_is_a_device", "dualstream:segment",
     lambda w, d, p: _segment(w, OUTPUT=_device_link(p)), ("OUTPUT", "device")),
    ("segment_input_is_a_fifo", "dualstream:segment",
     lambda w, d, p: _segment(w, INPUT=_fifo(p), OUTPUT=str(d / "o.tif")), ("INPUT", "named pipe")),
    ("segment_model_is_a_folder", "dualstream:segment",
     lambda w, d, p: _segment(w, MODEL=str(Path(w["bundle"]).parent), OUTPUT=str(d / "o.tif")),
     ("MODEL", "folder", "tiny.dsmodel")),
    ("segment_extent_crs_unknown", "dualstream:segment",
     lambda w, d, p: _segment(w, EXTENT="0,10,0,10 [EPSG:999999]", OUTPUT=str(d / "o.tif")), ("EPSG:999999", "crs")),
    ("segment_tile_size_above_its_bound", "dualstream:segment",
     lambda w, d, p: _segment(w, TILE_SIZE="100000", OUTPUT=str(d / "o.tif")), ("TILE_SIZE", "8192")),
    ("train_class_colour_invalid", "dualstream:train",
     lambda w, d, p: _train(w, CLASS_NAMES="background,foreground", CLASS_COLORS="#000000,#zzzzzz",
                            OUTPUT=str(d / "m.dsmodel")), ("#zzzzzz", "colour")),
]


@pytest.mark.timeout(COMMAND_SECONDS + 120, func_only=True)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refused_through_qgis_process(case: tuple, qgis_process: Any, root: Path, workspace: dict,
                                      tmp_path: Path, ledger: Any) -> None:
    name, algorithm, params, words = case
    out, prep = tmp_path / "out", tmp_path / "prep"
    out.mkdir()
    prep.mkdir()
    values = params(workspace, out, prep)
    folders = [Path(workspace["root"]) / "inputs", Path(workspace["root"]) / "model", prep]
    inputs = snapshot(folders)
    try:  # a refusal comes before any heavy work: a run past the limit is a hang
        done = qgis_process.run_alg(root, algorithm, values, timeout=COMMAND_SECONDS)
    except subprocess.TimeoutExpired:
        ledger.record("qgis_process", name, hang=True, ok=False)
        pytest.fail(f"{name}: qgis_process did not exit within {COMMAND_SECONDS} s")
    text = done.stdout + done.stderr
    traceback = "Traceback (most recent call last)" in text
    after = snapshot(folders)
    # QGIS itself writes a statistics sidecar (<raster>.aux.xml) beside every raster it loads as a layer, as
    # it does in the desktop; those are counted apart. Every input file must keep its bytes.
    changed = sorted(k for k in inputs if inputs[k] != after.get(k) and not k.endswith(".aux.xml"))
    appeared = sorted(k for k in set(after) - set(inputs) if not k.endswith(".aux.xml"))
    new_files = sorted(p.name for p in out.iterdir())
    named = all(word.lower() in text.lower() for word in words)
    ok = done.returncode != 0 and named and not traceback and not changed and not new_files and not appeared
    ledger.record("qgis_process", name, clear_error=ok, traceback=traceback, left_behind=bool(new_files),
                  input_changed=bool(changed), ok=ok)
    assert done.returncode != 0, text
    assert named, f"the error should name {words}:\n{text}"
    assert not traceback, text
    assert not changed, f"inputs changed: {changed}"
    assert not appeared, f"files appeared beside the inputs: {appeared}"
    assert not new_files, new_files


def test_evaluate_html_escapes_class_names(qgis_process: Any, root: Path, workspace: dict, tmp_path: Path,
                                           ledger: Any) -> None:
    """Class names come from the prediction's metadata, which anyone can write: the page must escape them."""
    import shutil

    from osgeo import gdal

    prediction = tmp_path / "prediction.tif"
    shutil.copyfile(workspace["image_prediction"], prediction)
    ds = gdal.Open(str(prediction), gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["background", SCRIPT])
    ds = None
    page = tmp_path / "report.html"
    done = qgis_process.run_alg(root, "dualstream:evaluate", {
        "INPUT": prediction, "LABELS": workspace["label"], "LABEL_MAPPING": "90=1", "OUTPUT": tmp_path / "m.json",
        "OUTPUT_HTML": page})
    text = page.read_text() if page.exists() else ""
    ok = done.returncode == 0 and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and SCRIPT not in text
    ledger.record("qgis_process", "evaluate_html_escapes_script_class_name", worked=ok, code_executed=SCRIPT in text,
                  ok=ok)
    assert ok, done.stdout + done.stderr


def test_a_bundle_is_known_by_its_content(qgis_process: Any, root: Path, workspace: dict, tmp_path: Path,
                                         ledger: Any) -> None:
    """A bundle written by ``train --out model.bundle`` (older versions took any name) segments in QGIS as it does
    on the command line: MODEL is recognised by the file's content, not its name."""
    import shutil

    bundle = tmp_path / "model.bundle"
    shutil.copyfile(workspace["bundle"], bundle)
    out = tmp_path / "o.tif"
    values = _segment(workspace, MODEL=str(bundle), OUTPUT=str(out))
    done = qgis_process.run_alg(root, "dualstream:segment", values, timeout=COMMAND_SECONDS)
    ok = done.returncode == 0 and out.is_file() and out.with_suffix(".qml").is_file()
    ledger.record("qgis_process", "segment_with_a_bundle_named_model_bundle", worked=ok, ok=ok)
    assert ok, done.stdout + done.stderr
