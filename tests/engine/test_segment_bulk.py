"""Bulk segmentation (``segment --images ... --out-dir``): per-scene failures, resume, identity, torchrun, bad input.

Scenes are small synthetic GeoTIFFs with a 6-band aux raster named ``<stem>_aux.tif`` beside each image, the
bundle a tiny 3-class model with random (seeded) weights: enough for the bookkeeping, which is what is tested.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.cli.main import main
from engine.config import BulkConfig, SegmentConfig
from engine.config.inference import DEFAULT_OVERLAP
from engine.errors import ConfigError
from engine.segment import segment
from engine.segment.backend import onnxruntime_missing
from engine.segment.bulk.runner import segment_bulk
from engine.segment.bulk.scenes import MARKER_FOLDER
from engine.segment.tiling import overlap_pixels, tile_count
from tests.helpers import BULK_SIZES, RecordingCallback, assert_single_runs_equal, read_pixels

REPO = Path(__file__).resolve().parents[2]
@pytest.fixture(scope="module")
def mixed(tmp_path_factory, bulk_scenes) -> Path:
    """The good scenes plus a corrupt image (with its aux) and an image without its aux."""
    folder = tmp_path_factory.mktemp("bulk_mixed") / "mixed"
    shutil.copytree(bulk_scenes, folder)
    (folder / "corrupt.tif").write_bytes(b"II*\x00" + b"not a tiff" * 20)
    (folder / "corrupt_aux.tif").write_bytes(b"II*\x00" + b"not a tiff" * 20)
    shutil.copy(bulk_scenes / "b.tif", folder / "lonely.tif")
    return folder


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["segment", "--device", "cpu", "--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _summary(out_dir: Path) -> dict:
    return json.loads((out_dir / "summary.json").read_text())




def test_mixed_folder_good_scenes_done_bad_ones_failed_with_their_reason(mixed, bulk_model, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _cli(capsys, "--images", str(mixed), "--aux-pattern", "{stem}_aux.tif", "--model", bulk_model,
                             "--out-dir", str(out), "--mosaic", "--with-probabilities")
    assert code == 1, err  # some scenes failed
    summary = _summary(out)
    by_name = {Path(s["image"]).stem: s for s in summary["scenes"]}
    assert set(by_name) == {"a", "b", "c", "corrupt", "lonely"}  # aux files are not scenes
    assert [by_name[n]["status"] for n in ("a", "b", "c")] == ["done"] * 3
    assert by_name["corrupt"]["status"] == "failed" and "could not be read as a raster" in by_name["corrupt"]["error"]
    assert by_name["lonely"]["status"] == "failed" and "lonely_aux.tif" in by_name["lonely"]["error"]
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": 2, "canceled": 0}
    # the backend that ran, not the setting: auto runs onnxruntime on the CPU where it is installed
    ran = "torch" if onnxruntime_missing() else "onnxruntime"
    assert summary["backend"] == summary["ranks"]["0"]["backend"] == ran
    assert summary["backend_requested"] == summary["settings"]["backend"] == "auto"
    assert f"with {ran}" in (out / "summary.html").read_text()
    # largest first: the order spreads work evenly
    assert [Path(s["image"]).stem for s in summary["scenes"]][:3] == ["c", "a", "b"]
    assert all(isinstance(s["seconds"], float) and "error" in s for s in summary["scenes"])
    # the once-per-process set-up (torch import, device) is reported apart from the scenes' time; the scenes
    # overlap (one is published while the next runs), each within the run's time
    done = [s for s in summary["scenes"] if s["status"] == "done"]
    assert 0 < summary["setup_seconds"] <= min(s["started_s"] for s in done)
    assert all(s["started_s"] + s["seconds"] <= summary["seconds"] for s in done)
    assert all(0 < s["model_seconds"] < s["seconds"] for s in done)  # the model's share of the scene's own time
    assert "failed: " + str(mixed / "corrupt.tif") in stdout
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("image,status,error,pixels,seconds,model_seconds,") and len(csv_lines) == 6
    assert "lonely" in (out / "summary.html").read_text()
    for name in ("a", "b", "c"):
        assert (out / f"{name}.tif").is_file() and (out / f"{name}.qml").is_file()
        assert (out / f"{name}_probabilities.tif").is_file()
    assert not (out / "corrupt.tif").exists() and not (out / "lonely.tif").exists()
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    with rasterio.open(out / "mosaic.vrt") as ds:
        assert ds.count == 1 and len(ds.files) == 4  # the VRT and the three class rasters


def test_a_killed_runs_partial_files_are_removed_and_the_scenes_warnings_are_in_the_summary(bulk_scenes, bulk_model,
                                                                                            tmp_path):
    """A bulk run killed in scene "a" left its hidden temp raster; the rerun removes it, and the warning that says
    so is the scene's, in summary.json, .csv and .html (an unattended run's warnings are read there)."""
    out = tmp_path / "out"
    out.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    litter = out / f".a.tmp-{int(gone.stdout)}-0123abcd.tif"
    litter.write_bytes(b"partial")
    callback = RecordingCallback()
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out)),
                          SegmentConfig(models=[bulk_model], device="cpu"), callback)
    assert result.ok and not litter.exists()
    warned = {Path(s["image"]).stem: s["warnings"] for s in _summary(out)["scenes"]}
    assert [len(w) for w in (warned["a"], warned["b"], warned["c"])] == [1, 0, 0] and litter.name in warned["a"][0]
    assert any(kind == "warning" and litter.name in m for kind, m in callback.events)
    import csv

    rows = {Path(r["image"]).stem: r for r in csv.DictReader((out / "summary.csv").open())}
    assert litter.name in rows["a"]["warnings"] and rows["b"]["warnings"] == ""
    page = (out / "summary.html").read_text()
    assert "<th>warnings</th>" in page and litter.name in page


@pytest.mark.parametrize(("interval", "cost", "expected"), [
    (0.0, 0.0, [1, 2, 3, 4, 5, 5, 5]),  # due after every scene
    (1e9, 0.0, [1, 5, 5]),  # the first at once, then at the end only
    (0.0, 1.0, [1, 3, 5, 5]),  # a write that took 1 s waits 20 s: scenes take 10 s here
])
def test_the_running_summary_is_rewritten_at_most_every_summary_seconds(mixed, bulk_model, tmp_path, monkeypatch,
                                                                         interval, cost, expected):
    """It lists every scene: rewritten after each of thousands it would cost more than the scenes. Written after
    the first scene, then when SUMMARY_SECONDS (and 20 times a write's own cost) have passed, and at the end
    (then once more, whole, by the run). The runner's clock is the test's: each scene takes 10 s, each summary
    write ``cost`` s, whatever the machine's speed."""
    import types

    from engine.segment.bulk import runner as bulk_module
    from engine.segment.bulk import share as share_module

    clock = {"now": 0.0}
    written = []
    real = bulk_module.write_summary

    def write_summary(out, summary, scenes):
        written.append(len(summary["scenes"]))
        clock["now"] += cost
        return real(out, summary, scenes)

    def scene_run(*args, **kwargs):
        clock["now"] += 10.0
        return run_scene(*args, **kwargs)

    run_scene = share_module.RankShare.run_scene
    fake_time = types.SimpleNamespace(perf_counter=lambda: clock["now"])
    monkeypatch.setattr(bulk_module, "time", fake_time)
    monkeypatch.setattr(share_module, "time", fake_time)
    monkeypatch.setattr(share_module.RankShare, "run_scene", scene_run)
    monkeypatch.setattr(share_module, "SUMMARY_SECONDS", interval)
    monkeypatch.setattr(bulk_module, "write_summary", write_summary)
    result = segment_bulk(BulkConfig(images=[str(mixed / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(tmp_path / "out")), SegmentConfig(models=[bulk_model], device="cpu"))
    assert len(result.scenes) == 5
    assert written == expected
    assert len(_summary(tmp_path / "out")["scenes"]) == 5


def test_bulk_outputs_equal_single_runs(bulk_scenes, bulk_model, tmp_path, monkeypatch):
    """... and the scenes' outputs are written by the run's writer thread, started once, not one a scene."""
    import threading

    started: list[str] = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (started.append(self.name), start(self))[1])
    out = tmp_path / "bulk"
    template = SegmentConfig(models=[bulk_model], device="cpu", tta="flips")
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes / "*.tif")], aux_patterns=["{stem}_aux.tif"],
                                     out_dir=str(out), probabilities=True), template)
    assert result.ok and len(result.scenes) == 3
    assert len([name for name in started if name.startswith("dualstream-writer")]) == 1, started
    monkeypatch.undo()
    assert_single_runs_equal(bulk_scenes, template, out, tmp_path)


def test_the_summary_names_the_backend_that_ran(bulk_scenes, bulk_model, tmp_path):
    bulk = BulkConfig(images=[str(bulk_scenes / "a.tif")], aux_patterns=["{stem}_aux.tif"], out_dir=str(tmp_path))
    template = SegmentConfig(models=[bulk_model], device="cpu", backend="torch")
    assert segment_bulk(bulk, template).summary["backend"] == "torch"
    summary = _summary(tmp_path)
    assert (summary["backend"], summary["backend_requested"], summary["ranks"]["0"]["backend"]) == ("torch",) * 3
    again = segment_bulk(bulk, template).summary  # every scene skipped: no model ran
    assert again["counts"]["skipped"] == 1 and again["backend"] is None and again["backend_requested"] == "torch"


def test_resume_skips_finished_redoes_half_written_and_refuses_other_settings(bulk_scenes, bulk_model, tmp_path,
                                                                              capsys):
    out = tmp_path / "out"
    args = ["--images", str(bulk_scenes), "--aux-pattern", "{stem}_aux.tif", "--model", bulk_model,
            "--out-dir", str(out)]
    assert _cli(capsys, *args)[0] == 0
    first = {Path(s["image"]).stem: s for s in _summary(out)["scenes"]}
    stamps = {n: (out / f"{n}.tif").stat().st_mtime_ns for n in BULK_SIZES}

    # a: killed while publishing (marker still "running", a partial class raster); b: damaged since
    marker_a = out / MARKER_FOLDER / "a.json"
    marker_a.write_text(json.dumps({"version": 1, "status": "running", "image": str(bulk_scenes / "a.tif")}))
    (out / "a.tif").write_bytes(b"partial")
    with open(out / "b.tif", "ab") as handle:
        handle.write(b"junk")
    assert _cli(capsys, *args)[0] == 0
    second = {Path(s["image"]).stem: s for s in _summary(out)["scenes"]}
    assert {n: s["status"] for n, s in second.items()} == {"a": "done", "b": "done", "c": "skipped"}
    assert (out / "c.tif").stat().st_mtime_ns == stamps["c"]  # untouched
    assert second["c"]["tiles"] == first["c"]["tiles"] and second["c"]["pixels"] == 150 * 190
    assert json.loads(marker_a.read_text())["status"] == "done"
    with rasterio.open(out / "a.tif") as ds:
        assert ds.shape == BULK_SIZES["a"]

    # other settings: the finished outputs are not silently replaced ...
    code, stdout, _ = _cli(capsys, *args, "--tta", "flips")
    assert code == 1 and all(s["status"] == "failed" for s in _summary(out)["scenes"])
    assert "tta 'none' (now 'flips')" in stdout and "--overwrite" in stdout
    assert (out / "c.tif").stat().st_mtime_ns == stamps["c"]
    # ... unless asked to
    assert _cli(capsys, *args, "--tta", "flips", "--overwrite")[0] == 0
    assert {s["status"] for s in _summary(out)["scenes"]} == {"done"}
    # a file no bulk run wrote is never replaced
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "b.tif").write_bytes(b"mine")
    code, stdout, _ = _cli(capsys, "--images", str(bulk_scenes / "b.tif"), "--aux-pattern", "{stem}_aux.tif",
                           "--model", bulk_model, "--out-dir", str(foreign))
    assert code == 1 and "no bulk run recorded writing it" in stdout and (foreign / "b.tif").read_bytes() == b"mine"


def test_cancel_keeps_finished_scenes_and_leaves_no_partial_output(bulk_scenes, bulk_model, tmp_path):
    out = tmp_path / "out"

    stride = 64 - overlap_pixels(64, DEFAULT_OVERLAP)
    first_tiles = tile_count(190, 64, stride) * tile_count(150, 64, stride)  # c's (150 x 190 px, tile 64)

    class CancelInSecondScene(RecordingCallback):
        def is_canceled(self) -> bool:  # a few tiles into the second scene: the first may still be publishing
            tiles = [p[0] for p in self.messages("progress") if p[2] == "tiles"]
            return sum(done > first_tiles for done in tiles) >= 3

    callback = CancelInSecondScene()
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes)], aux_patterns=["{stem}_aux.tif"], out_dir=str(out)),
                          SegmentConfig(models=[bulk_model], device="cpu", batch_size=1), callback)
    assert result.canceled and not result.ok
    statuses = {Path(s.image).stem: s.status for s in result.scenes}
    assert statuses == {"c": "done", "a": "canceled", "b": "canceled"}  # b may have been read ahead: never run
    assert _summary(out)["counts"]["canceled"] == sum(1 for s in statuses.values() if s == "canceled")
    for name, status in statuses.items():
        assert (out / f"{name}.tif").exists() == (status == "done")
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_a_scene_whose_running_marker_cannot_be_written_is_failed_and_not_published(bulk_scenes, bulk_model,
                                                                                  tmp_path, monkeypatch):
    """The running marker is written on the publishing thread while the model runs; its failure must still keep
    the scene's outputs from being published (a published scene without a marker is refused on a rerun)."""
    from engine.segment.bulk import share as share_module

    real = share_module.mark_running

    def mark_running(scene, outputs):
        if Path(scene.image).stem == "a":
            raise OSError(28, "No space left on device")
        return real(scene, outputs)

    monkeypatch.setattr(share_module, "mark_running", mark_running)
    out = tmp_path / "out"
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes)], aux_patterns=["{stem}_aux.tif"], out_dir=str(out)),
                          SegmentConfig(models=[bulk_model], device="cpu"))
    statuses = {Path(s.image).stem: s.status for s in result.scenes}
    assert statuses == {"a": "failed", "b": "done", "c": "done"}
    failed = next(s for s in result.scenes if s.status == "failed")
    assert "No space left on device" in failed.error
    assert not (out / "a.tif").exists() and not (out / "a.qml").exists()
    assert (out / "b.tif").exists() and (out / "c.tif").exists()
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_style_files_staged_while_the_model_runs_are_published_or_removed(bulk_scenes, bulk_model, tmp_path,
                                                                          monkeypatch):
    """Each scene's .qml is written on the publishing thread while the model runs and only renamed when the scene
    is published. A scene that fails meanwhile (here: while its style is still being written) leaves no temp file:
    closing it waits for the staging."""
    import threading
    import time

    from engine.segment import run as run_module
    from engine.segment.sinks import SceneWriter

    staged = []
    real_stage, real_tiles = SceneWriter.stage_styles, run_module.SceneRun.run_tiles

    def stage_styles(self, styles):
        time.sleep(0.3)  # the failing scene's model stops before its style is written
        real_stage(self, styles)
        staged.append((Path(self.plan.cfg.image).stem, threading.current_thread().name, sorted(self.staged)))

    def run_tiles(self, *args, **kwargs):
        if Path(self.plan.cfg.image).stem == "a":
            raise OSError(5, "Input/output error")
        return real_tiles(self, *args, **kwargs)

    monkeypatch.setattr(SceneWriter, "stage_styles", stage_styles)
    monkeypatch.setattr(run_module.SceneRun, "run_tiles", run_tiles)
    out = tmp_path / "out"
    result = segment_bulk(BulkConfig(images=[str(bulk_scenes)], aux_patterns=["{stem}_aux.tif"], out_dir=str(out)),
                          SegmentConfig(models=[bulk_model], device="cpu"))
    assert {Path(s.image).stem: s.status for s in result.scenes} == {"a": "failed", "b": "done", "c": "done"}
    assert sorted(name for name, _, _ in staged) == ["a", "b", "c"]
    assert all(thread.startswith("dualstream-publishing") for _, thread, _ in staged)
    assert all(paths == [out / f"{name}.qml"] for name, _, paths in staged)
    assert not (out / "a.tif").exists() and not (out / "a.qml").exists()
    single = tmp_path / "single.tif"
    segment(SegmentConfig(image=str(bulk_scenes / "b.tif"), aux=[str(bulk_scenes / "b_aux.tif")],
                          models=[bulk_model], output=str(single), device="cpu"))
    assert (out / "b.qml").read_text() == single.with_suffix(".qml").read_text()
    assert (out / "c.qml").is_file()
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_manifest_csv_and_json(bulk_scenes, bulk_model, tmp_path, capsys):
    manifest = tmp_path / "scenes.csv"
    manifest.write_text(f"image,aux,output\n{bulk_scenes / 'b.tif'},{bulk_scenes / 'b_aux.tif'},first.tif\n"
                        f"{bulk_scenes / 'a.tif'},{bulk_scenes / 'a_aux.tif'},\n")
    assert _cli(capsys, "--manifest", str(manifest), "--model", bulk_model, "--out-dir", str(tmp_path / "o1"))[0] == 0
    assert (tmp_path / "o1" / "first.tif").is_file() and (tmp_path / "o1" / "a.tif").is_file()
    listed = tmp_path / "scenes.json"
    listed.write_text(json.dumps([{"image": str(bulk_scenes / "b.tif"), "aux": str(bulk_scenes / "b_aux.tif")}]))
    assert _cli(capsys, "--manifest", str(listed), "--model", bulk_model, "--out-dir", str(tmp_path / "o2"))[0] == 0
    assert np.array_equal(read_pixels(tmp_path / "o2" / "b.tif"), read_pixels(tmp_path / "o1" / "first.tif"))


@pytest.mark.parametrize("case", ["empty folder", "glob matches nothing", "same output name", "manifest column",
                                  "output replaces input", "aux needed", "single flags"])
def test_bad_input_is_one_clear_error(case, bulk_scenes, bulk_model, tmp_path, capsys):
    args = ["--aux-pattern", "{stem}_aux.tif", "--model", bulk_model, "--out-dir", str(tmp_path / "out")]
    expect = {"empty folder": "holds no raster files", "glob matches nothing": "matches no file",
              "same output name": "would both write", "manifest column": "has no 'image' column",
              "output replaces input": "would overwrite the images", "aux needed": "needs aux data",
              "single flags": "--out name(s) one scene"}[case]
    if case == "empty folder":
        (tmp_path / "empty").mkdir()
        args = ["--images", str(tmp_path / "empty"), *args]
    elif case == "glob matches nothing":
        args = ["--images", str(tmp_path / "nothing" / "*.tif"), *args]
    elif case == "same output name":
        (tmp_path / "other").mkdir()
        shutil.copy(bulk_scenes / "a.tif", tmp_path / "other" / "a.tif")
        shutil.copy(bulk_scenes / "a_aux.tif", tmp_path / "other" / "a_aux.tif")
        args = ["--images", str(bulk_scenes / "a.tif"), str(tmp_path / "other" / "a.tif"), *args]
    elif case == "manifest column":
        (tmp_path / "m.csv").write_text(f"path,aux\n{bulk_scenes / 'a.tif'},{bulk_scenes / 'a_aux.tif'}\n")
        args = ["--manifest", str(tmp_path / "m.csv"), "--model", bulk_model, "--out-dir", str(tmp_path / "out")]
    elif case == "output replaces input":
        folder = tmp_path / "inplace"
        shutil.copytree(bulk_scenes, folder)
        args = ["--images", str(folder / "a.tif"), *args[:-2], "--out-dir", str(folder)]
    elif case == "aux needed":
        args = ["--images", str(bulk_scenes / "a.tif"), "--model", bulk_model, "--out-dir", str(tmp_path / "out")]
    else:
        args = ["--images", str(bulk_scenes / "a.tif"), "--out", str(tmp_path / "x.tif"), *args]
    before = sorted(p.name for p in bulk_scenes.iterdir())
    code, _, err = _cli(capsys, *args)
    assert code == 2 and err.startswith("error: ") and expect in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in bulk_scenes.iterdir()) == before


def test_output_folder_inside_the_input_folder_is_not_read_back(bulk_scenes, bulk_model, tmp_path, capsys):
    folder = tmp_path / "data"
    shutil.copytree(bulk_scenes, folder)
    args = ["--images", str(folder / "**" / "*.tif"), "--aux-pattern", "{stem}_aux.tif", "--model", bulk_model,
            "--out-dir", str(folder / "out")]
    assert _cli(capsys, *args)[0] == 0
    code, _, err = _cli(capsys, *args)  # the rerun's glob now reaches the outputs
    assert code == 0 and "written by an earlier bulk run" in err
    assert sorted(Path(s["image"]).stem for s in _summary(folder / "out")["scenes"]) == ["a", "b", "c"]
    assert {s["status"] for s in _summary(folder / "out")["scenes"]} == {"skipped"}


def test_torchrun_two_gloo_ranks_same_outputs_and_one_summary(mixed, bulk_model, tmp_path):
    single = tmp_path / "single"
    segment_bulk(BulkConfig(images=[str(mixed)], aux_patterns=["{stem}_aux.tif"], out_dir=str(single)),
                 SegmentConfig(models=[bulk_model], device="cpu"))
    out = tmp_path / "ranks"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "engine", "segment", "--images", str(mixed), "--aux-pattern", "{stem}_aux.tif", "--model", bulk_model,
         "--out-dir", str(out), "--device", "cpu", "--json"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode != 0  # two scenes failed: rank 0 exits 1 and torchrun says so
    assert done.stdout.count('"out_dir"') == 1  # only rank 0 reports
    summary = _summary(out)
    assert summary["world_size"] == 2 and set(summary["ranks"]) == {"0", "1"}
    assert summary["backend"] == ["torch" if onnxruntime_missing() else "onnxruntime"]  # each rank's, once
    assert {s["rank"] for s in summary["scenes"]} == {0, 1}
    assert summary["counts"] == _summary(single)["counts"] == {"done": 3, "skipped": 0, "failed": 2, "canceled": 0}
    # greedy by pixels: the largest scene alone on one rank, the rest on the other
    ranks = {Path(s["image"]).stem: s["rank"] for s in summary["scenes"]}
    assert sum(1 for s in summary["scenes"] if s["rank"] == ranks["c"]) == 1
    for name in BULK_SIZES:
        assert np.array_equal(read_pixels(out / f"{name}.tif"), read_pixels(single / f"{name}.tif"))


def test_bulk_config_checks():
    with pytest.raises(ConfigError, match="either as images"):
        BulkConfig(images=["x"], manifest="m.csv", out_dir="o")
    with pytest.raises(ConfigError, match="give out_dir"):
        BulkConfig(images=["x"])


def test_aux_patterns_by_name_with_replacement_and_clear_errors(tmp_path):
    from engine.segment.bulk.scenes import match_aux
    from engine.segment.reader import default_readers

    for name in ("scene_b_image.tif", "scene_b_aux.tif", "GEMS_scene_b_image.tif"):
        (tmp_path / name).write_bytes(b"")
    image = tmp_path / "scene_b_image.tif"
    assert match_aux(image, ["{stem:_image=_aux}.tif", "GEMS_{name}"]) == (
        [str(tmp_path / "scene_b_aux.tif"), str(tmp_path / "GEMS_scene_b_image.tif")], None)
    aux, error = match_aux(image, ["{stem}_x.tif"])
    assert aux == [] and "scene_b_image_x.tif" in error and "does not exist" in error
    with pytest.raises(ConfigError, match=r"\{stem:OLD=NEW\}"):
        match_aux(image, ["{date}.tif"])
    assert default_readers("cpu") == 1 and 1 <= default_readers("cuda:0") <= 8


def test_scene_records_keep_the_summary_format():
    """summary.json's scene items are SceneRecord's dicts: the same keys in the same order as before the
    dataclass, and a record read back from a part or a marker is the record written."""
    from engine.segment.bulk.summary import SceneRecord

    record = SceneRecord(image="a.tif", aux=["a_aux.tif"], name="a", status="done", pixels=100, seconds=1.5,
                         model_seconds=1.25, px_per_s=66.7, tiles=4, output="out/a.tif", warnings=["w"], rank=1,
                         order=2, started_s=0.5, report={"low_confidence": 0.25})
    assert list(record.to_dict()) == ["image", "aux", "name", "status", "error", "pixels", "seconds",
                                      "model_seconds", "px_per_s", "tiles", "output", "warnings", "rank", "order",
                                      "started_s", "report", "after", "change", "dates"]  # appended
    assert SceneRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert SceneRecord.from_dict({**record.to_dict(), "from_a_later_version": 1}) == record


def test_a_web_layer_handed_over_is_named_by_its_layer_in_messages_and_the_page(tmp_path):
    """A failed web layer's scene was listed by its description (a page of inline XML as QGIS hands it over):
    messages and the HTML page name the layer; the JSON and the CSV keep the description, which reruns read."""
    from engine.segment.bulk.summary import SceneRecord, summary_html

    xml = ('<GDAL_WMS><Service name="WMS"><Version>1.1.1</Version><ServerUrl>http://127.0.0.1:9/wms?</ServerUrl>'
           '<Layers>ortho</Layers></Service></GDAL_WMS>')
    layer = SceneRecord(image=f"{xml}|layername=Ortho photos", aux=[], name="Ortho photos", error="no tiles")
    files = [SceneRecord(image=str(tmp_path / "a.tif"), aux=[], name="a", status="done"),
             SceneRecord(image=str(tmp_path / "wms.xml"), aux=[], name="wms")]
    (tmp_path / "wms.xml").write_text(xml)
    assert layer.shown == "WMS layer 'Ortho photos'"
    assert [r.shown for r in files] == [r.image for r in files]  # a file, a description file: their paths
    page = summary_html({"counts": {"done": 1, "skipped": 0, "failed": 2, "canceled": 0}, "pixels": 0,
                         "seconds": 1.0, "world_size": 1, "device": "cpu", "out_dir": str(tmp_path)},
                        [layer, *files])
    assert "WMS layer &#x27;Ortho photos&#x27;" in page and "GDAL_WMS" not in page
    assert layer.to_dict()["image"].startswith("<GDAL_WMS>")
