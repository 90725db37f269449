"""`make bench`'s entry point runs and writes both result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_bench_quick_environment_section_writes_results(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "environment",
                           "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    section = doc["sections"]["environment"]
    assert section["status"] == "ok"
    assert section["results"]["metrics"]["matmul_median_s"] > 0
    assert section["results"]["environment"]["torch"]
    assert "## Environment and reference timing" in (tmp_path / "results.md").read_text()


def test_gil_probe_runs_the_work_and_reports_its_share_of_the_lock():
    """What the probe must do on any machine: run the work once in another thread, return its result, re-raise its
    error, restore the switch interval and report a held time within the work's wall time. Whether the shares tell
    lock-holding work from waiting work needs two free cores (a busy 2-core machine read 0.0 for a pure-Python
    loop): ``bench.gil_probe.calibration`` measures that beside the bench's own figures instead."""
    import time

    from bench.gil_probe import calibration, lock_held_seconds

    interval = sys.getswitchinterval()
    held, wall, result = lock_held_seconds(lambda: sum(range(300_000)), idle_seconds=0.1)
    assert result == sum(range(300_000)) and 0 <= held <= wall
    held, wall, result = lock_held_seconds(lambda: time.sleep(0.2), idle_seconds=0.1)
    assert result is None and wall >= 0.2 and 0 <= held <= wall
    with pytest.raises(ZeroDivisionError):
        lock_held_seconds(lambda: 1 / 0, idle_seconds=0.1)
    assert sys.getswitchinterval() == interval
    probe = calibration(rounds=1)
    assert 0 <= probe["sleep_share"] <= 1 and 0 <= probe["python_share"] <= 1
    assert probe["trustworthy"] == (probe["python_share"] > 0.3 and probe["sleep_share"] < 0.1)


def test_targets_show_figure_met_load_and_the_last_recorded_figure(tmp_path):
    from bench.targets import read_record, summary, targets, write_record

    bulk = {"scenes": 15, "bulk_over_one_by_one": 2.8, "per_scene_overhead_share": 0.05}
    doc = {"sections": {"cpu_default": {"status": "ok", "load": {"min": 1.2, "median": 1.5, "max": 2.0},
                                        "results": {"cases": [], "bulk": bulk}},
                        "train": {"status": "failed", "load": {"min": 0.1, "median": 0.1, "max": 0.1}}}}
    found = {t.name: t for t in targets(doc)}
    speedup = found["bulk (UNet light): one run / one process per scene, 15 x 512²"]
    overhead = found["bulk (UNet light): per-scene overhead / model time, 15 x 512²"]
    assert (speedup.figure, speedup.met, speedup.load) == (2.8, False, "1.2-2.0")
    assert overhead.met is True and found["training: real data pipeline / tensors in memory"].met is None
    record = tmp_path / "last.json"
    write_record(list(found.values()), "2026-11-25T09:00:00+00:00", path=record)
    assert "training: real data pipeline / tensors in memory" not in read_record(path=record)  # not measured
    assert read_record(quick=True, path=record) == {}  # quick runs are recorded apart
    bulk["bulk_over_one_by_one"] = 3.3
    table = summary(targets(doc), read_record(path=record)).splitlines()
    row = next(line for line in table if line.startswith("| bulk (UNet light): one run"))
    assert row == ("| bulk (UNet light): one run / one process per scene, 15 x 512² | >= 3.00x | 3.30x | yes | 1.2-2.0 "
                   "| 2.80x (not met) | 1.2-2.0, 2026-11-25T09:00 |")
    assert any("| training: real data pipeline / tensors in memory | >= 0.90x | - | not measured |" in line
               for line in table)


def test_change_threshold_rules_pick_from_pooled_counts():
    """bench/change_threshold.py: the F1 curve pools the pairs' pixels, and each rule picks as its docstring says
    (a wrong pick would misreport what a threshold is worth)."""
    import numpy as np

    from bench.change_threshold import f1_curve, picks
    from engine.training.metrics import THRESHOLDS

    truth = np.array([[1, 1, 0, 0]])
    # one pair right from 0.3 on, one with a false alarm up to 0.6: pooled, 0.6 is the best threshold
    curve = f1_curve([(np.array([[0.9, 0.7, 0.1, 0.0]]), truth), (np.array([[0.8, 0.65, 0.55, 0.2]]), truth)])
    at = dict(zip(THRESHOLDS, curve))
    assert at[0.6] == pytest.approx(1.0) and at[0.5] == pytest.approx(8 / 9) and at[0.7] == pytest.approx(6 / 7)
    val = [0.5] * len(THRESHOLDS)
    val[THRESHOLDS.index(0.8)] = 0.9  # a lone peak: the smoothing averages it away, the others take it
    val[THRESHOLDS.index(0.45)] = 0.895
    chosen = picks(val, val, curve)
    assert chosen["training"] == 0.8 and chosen["flips"] == 0.8 and chosen["near 0.5"] == 0.45
    assert chosen["smoothed"] != 0.8 and chosen["oracle"] == 0.6 and chosen["0.5"] == 0.5


def test_eo_change_fine_tuned_arms_differ_only_in_their_start(monkeypatch, tmp_path):
    """bench/eo_change.py: the fine-tuned arms train every layer with the encoder at the same 0.1x rate, the release
    given to ``finetuned`` only, and ``--epochs`` reaches every arm's training (equal steps between arms)."""
    import bench.change_real
    import bench.eo_change as eo

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(eo, "cli", lambda *args: calls.append(args) or {})
    monkeypatch.setattr(bench.change_real, "predict", lambda *args: {"change_model": [("p.tif", "beirut.tif")]})
    monkeypatch.setattr(bench.change_real, "scores", lambda pairs: {"f1": 0.5})
    for arm in ("finetuned", "random_finetuned"):
        eo.one(tmp_path, tmp_path, arm, 0, "/releases/galileo_nano", epochs=1)
    flags = [dict(zip(args[3::2], args[4::2])) for args in calls]  # after "train --data DIR"
    for got in flags:
        assert got["--frozen-encoder"] == "off" and got["--vision-lr-factor"] == "0.1" and got["--epochs"] == "1"
        assert got["--encoder"] == "galileo_nano" and got["--lr"] == "1e-3"
    assert flags[0]["--pretrained"] == "/releases/galileo_nano" and flags[1]["--pretrained"] == "none"
    assert {k: v for k, v in flags[0].items() if k not in ("--pretrained", "--out")} == {
        k: v for k, v in flags[1].items() if k not in ("--pretrained", "--out")}


def test_self_training_pseudo_label_rule_from_a_probability_raster(tmp_path):
    """bench/self_training.py: a change probability raster becomes a PNG whose confident pixels train as change (1)
    and no change (0) and whose unsure and no-data pixels train as ignored (the ignore index), read with the label
    mapping the script gives training; inverted or crossed thresholds are refused before any training."""
    import numpy as np
    import rasterio
    from PIL import Image

    from bench.self_training import IGNORED, LABEL_MAP, write_pseudo_label
    from engine.config.values import parse_label_pairs
    from engine.data.labels import LabelMapper

    p = np.array([[0.95, 0.9, 0.89, 0.5], [0.11, 0.1, 0.0, np.nan], [1.0, -1.0, 0.3, 0.7]], np.float32)
    p[2, 1] = -1.0  # the raster's nodata value below
    raster = tmp_path / "p.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32", nodata=-1.0) as out:
        out.write(p, 1)
    shares = write_pseudo_label(raster, tmp_path / "pair.png", high=0.9, low=0.1)
    raw = np.array(Image.open(tmp_path / "pair.png"))
    mapper = LabelMapper(parse_label_pairs(LABEL_MAP), 0, 255, "pair.png", 2)
    classes = mapper.map_raster(raw.astype(np.float64), np.ones(raw.shape, bool))
    assert classes.tolist() == [[1, 1, 255, 255], [255, 0, 0, 255], [1, 255, 255, 255]]
    assert (raw == IGNORED).sum() == 7 and shares == pytest.approx({"change": 3 / 12, "no_change": 2 / 12,
                                                                   "ignored": 7 / 12})
    from bench.self_training import pseudo_labels

    with pytest.raises(ValueError, match="low < high"):
        pseudo_labels(p, high=0.1, low=0.9)


def test_ssl_pretrain_synthetic_label_is_exactly_the_pasted_pixels():
    """bench/ssl_pretrain.py: with no look and no shift, the two dates of a synthetic pair differ exactly where the
    label says change (patches of other images pasted into one date), and the patches pasted into both dates are no
    change; with the look and the shift the label is unchanged in kind (0 and 255 only) and the dates differ
    everywhere a little (another look), not only where pasted."""
    import numpy as np

    from bench.ssl_pretrain import CHANGE, synthetic_pair

    rng = np.random.default_rng(3)
    base = np.full((128, 128, 3), 100, np.uint8)
    donors = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(2)]
    for seed in range(6):
        a, b, label = synthetic_pair(base, donors, np.random.default_rng(seed), changes=(2, 4), unchanged=(2, 2),
                                     shift=0, look=0.0)
        differs = (a != b).any(axis=2)
        assert label.any() and set(np.unique(label)) <= {0, CHANGE}
        assert np.array_equal(differs, label == CHANGE)
        pasted = (a != base).any(axis=2) | (b != base).any(axis=2)
        assert (pasted & (label == 0)).any()  # the unchanged patches: foreign texture in both dates, no change
    a, b, label = synthetic_pair(base, donors, np.random.default_rng(0), shift=3, look=1.0)
    assert a.shape == b.shape == base.shape and set(np.unique(label)) <= {0, CHANGE}
    assert (a != b).any(axis=2)[label == 0].mean() > 0.5


def test_ssl_pretrain_writes_a_pair_folder_training_reads(tmp_path):
    """bench/ssl_pretrain.py: the synthetic pairs are a change dataset folder (train/ and val/, A/ B/ label/ named
    alike) that training's folder reader splits as written; the validation pairs come from the held-out sources
    only, so the pretext's validation IoU is of images no training pair was made from."""
    import numpy as np
    from PIL import Image

    from bench.ssl_pretrain import VAL_SOURCES, write_synthetic
    from engine.data.sources import pair_scenes

    rng = np.random.default_rng(0)
    sources = []
    for name in ("samples_DSIFN/A/0_2.png", "samples_DSIFN/B/0_2.png", *VAL_SOURCES):
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tint = 40 if name in VAL_SOURCES else 200  # the held-out images dark, the others bright
        Image.fromarray((rng.integers(0, 50, (96, 96, 3)) + tint).astype(np.uint8)).save(path)
        sources.append(path)
    out = write_synthetic(tmp_path / "synth", sources, pairs=4, val_pairs=2, seed=0)
    train, val, problems = pair_scenes(out, None)
    assert (len(train), len(val), problems) == (4, 2, [])
    for png in (out / "val" / "A").glob("*.png"):
        assert np.asarray(Image.open(png)).mean() < 150  # made of the dark held-out images only
    for png in (out / "train" / "label").glob("*.png"):
        assert set(np.unique(np.asarray(Image.open(png)))) <= {0, 255}


def test_ssl_pretrain_inpainting_shows_every_pixel_on_one_date_only():
    """bench/ssl_pretrain.py's inpainting pretext: the masked blocks are grey on the first date and the others grey
    on the second, so a pixel's content is on exactly one date (the network must take each part from the date that
    shows it); the target is the image's standardised luminance."""
    import numpy as np

    from bench.ssl_pretrain import GREY, masked_pair

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    before, after, target, masked = masked_pair(base, np.random.default_rng(1), block=8, share=0.5)
    assert 0.2 < masked.mean() < 0.8 and masked.shape == (40, 50)
    assert (before[masked] == GREY).all() and (after[~masked] == GREY).all()
    assert (before[~masked] != GREY).any(axis=1).mean() > 0.9 and (after[masked] != GREY).any(axis=1).mean() > 0.9
    assert np.all(masked[:8, :8] == masked[0, 0])  # whole blocks
    luminance = base.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.corrcoef(target.ravel(), luminance.ravel())[0, 1] > 0.999
    assert abs(float(target.mean())) < 1e-4 and abs(float(target.std()) - 1) < 1e-3
