"""`make demo`: the whole product on generated sample data, through headless ``qgis_process`` runs.

1. deploy the plugin into a throwaway QGIS profile under ``demo_output/qgis`` (what ``make deploy`` does);
2. generate the sample deterministically with ``engine.data.synthetic``: two scenes of the same synthetic
   "world", each a 4-band 16-bit image in UTM 52N (EPSG:32652), a 48-channel coarse aux stack in EPSG:4326 and
   labels (raster and polygons); the class shows in both the imagery and the aux stack;
3. ``qgis_process run dualstream:train`` on scene A (tiny preset; a few minutes on 2 CPU cores);
4. ``qgis_process run dualstream:segment`` on scene B (class raster + QML, probabilities, polygons);
5. ``qgis_process run dualstream:evaluate`` of B's prediction against B's labels;
6. a PNG quicklook (image | prediction | labels) and a summary of where everything is, with the IoU.

Usage: ``.venv/bin/python scripts/demo.py [--out demo_output] [--epochs N] [--tiles-per-epoch N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.deploy_plugin import (  # noqa: E402
    deploy,
    enable_plugin,
    qgis_env,
    qgis_process_command,
    venv_site_packages,
)

CLASS_NAMES = "background,hotspot"
CLASS_COLORS = "#d9d9d9,#e6550d"


def say(message: str) -> None:
    print(f"\n== demo: {message}", flush=True)


def run_qgis_process(command: list[str], root: Path, alg: str, params: dict, log: Path, as_json: bool = False) -> dict:
    """``qgis_process run ALG -- KEY=value ...``; the output goes to the terminal and to ``log``.

    Lists repeat the key (how qgis_process takes several values). With ``as_json`` the JSON answer is returned.
    """
    args = [f"{key}={item}" for key, value in params.items()
            for item in (value if isinstance(value, list) else [value])]
    full = [*command, *(["--json"] if as_json else []), "run", alg, "--", *args]
    print("$ " + " ".join(full[:1] + [a if " " not in a else repr(a) for a in full[1:]]), flush=True)
    env = qgis_env(root, {"DUALSTREAM_SITE_PACKAGES": None, "PYTHONPATH": None})
    with log.open("a", encoding="utf-8") as handle:
        handle.write("$ " + " ".join(full) + "\n")
        process = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            handle.write(line)
            lines.append(line)
            if not as_json and not line.startswith(("QStandardPaths", "<string>")):
                print(line, end="", flush=True)
        code = process.wait()
    text = "".join(lines)
    if code != 0:
        print(text[-4000:], file=sys.stderr)
        raise SystemExit(f"make demo: `qgis_process run {alg}` failed (exit code {code}); full log: {log}")
    if as_json:
        return json.loads(text[text.index("{"):])
    return {}


def polygon_rings(path: str, transform) -> list:
    """Exterior rings of the polygons in ``path`` as (N, 2) arrays of pixel (col, row) coordinates."""
    import numpy as np
    from osgeo import ogr

    rings = []
    source = ogr.Open(path)
    for feature in source.GetLayer(0):
        geometry = feature.GetGeometryRef()
        parts = [geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())] \
            if geometry.GetGeometryName() == "MULTIPOLYGON" else [geometry]
        for part in parts:
            points = np.array(part.GetGeometryRef(0).GetPoints())[:, :2]
            cols, rows = (~transform) * (points[:, 0], points[:, 1])
            rings.append(np.stack([np.asarray(cols) - 0.5, np.asarray(rows) - 0.5], axis=1))
    return rings


def quicklook(image: str, prediction: str, label: str, polygons: str | None, out: Path, miou: float) -> None:
    """PNG: the image (bands 3-2-1 stretched) | the predicted classes | the reference labels."""
    import numpy as np
    import rasterio
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    with rasterio.open(image) as ds:
        rgb = ds.read([3, 2, 1]).astype("float32")
        transform = ds.transform
    low, high = np.percentile(rgb, 2, axis=(1, 2)), np.percentile(rgb, 98, axis=(1, 2))
    rgb = np.clip((rgb - low[:, None, None]) / np.maximum(high - low, 1e-6)[:, None, None], 0, 1).transpose(1, 2, 0)
    with rasterio.open(prediction) as ds:
        pred = ds.read(1)
    with rasterio.open(label) as ds:
        truth = (ds.read(1) == 90).astype("uint8")
    cmap = ListedColormap(CLASS_COLORS.split(","))
    figure = Figure(figsize=(15, 5.4), dpi=100)
    FigureCanvasAgg(figure)
    panels = (("Image (bands 3-2-1)", rgb, None), (f"Prediction (mIoU {miou:.3f})", pred, cmap),
              ("Reference labels", truth, cmap))
    for index, (title, data, colors) in enumerate(panels, start=1):
        axis = figure.add_subplot(1, 3, index)
        axis.imshow(data, cmap=colors, vmin=0, vmax=1, interpolation="nearest")
        if index == 1 and polygons:  # the predicted polygons as outlines on the image
            for ring in polygon_rings(polygons, transform):
                axis.plot(ring[:, 0], ring[:, 1], color="#ffff00", linewidth=0.8)
            axis.set_xlim(-0.5, rgb.shape[1] - 0.5)
            axis.set_ylim(rgb.shape[0] - 0.5, -0.5)
            title += ", predicted polygons"
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("DualStream demo: scene B segmented by the model trained on scene A")
    figure.tight_layout()
    figure.savefig(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo_output", help="output folder (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=4, help="main training epochs (default %(default)s)")
    parser.add_argument("--tiles-per-epoch", type=int, default=48)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out: Path = args.out.resolve()
    # Two torch threads at most: the demo is meant for a 2-core laptop and must not swamp a shared machine.
    os.environ.setdefault("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))
    for sub in ("data", "model", "segmentation", "evaluation"):
        shutil.rmtree(out / sub, ignore_errors=True)
    log = out / "qgis_process.log"
    out.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")

    say("deploying the plugin into a throwaway QGIS profile")
    root = out / "qgis"
    plugin = deploy(root / "profiles", "default", venv_site_packages(), enable=False)
    enable_plugin(root / "profiles" / "default")
    print(f"plugin: {plugin} (QGIS_CUSTOM_CONFIG_PATH={root})")
    command = qgis_process_command()

    say("generating the sample (4-band uint16 imagery in EPSG:32652, 48-band aux in EPSG:4326, labels)")
    from engine.data.synthetic import make_sample

    scenes = make_sample(out / "data")
    for name, paths in scenes.items():
        print(f"{name}: image {paths['image']}, aux {paths['aux'][0]}, labels {paths['label']}")

    say("training a tiny model on scene A (qgis_process run dualstream:train)")
    train = scenes["train"]
    bundle = out / "model" / "demo.dsmodel"
    report = out / "model" / "training_report.html"
    run_qgis_process(command, root, "dualstream:train", {
        "INPUT": train["image"], "LABELS": train["label"], "AUX": train["aux"], "LABEL_MAPPING": "90=1",
        "CLASS_NAMES": CLASS_NAMES, "CLASS_COLORS": CLASS_COLORS, "PRESET": "tiny", "WARMUP_EPOCHS": "1",
        "EPOCHS": str(args.epochs), "BATCH_SIZE": "8", "LEARNING_RATE": "0.003", "TILE_SIZE": "128",
        "TILES_PER_EPOCH": str(args.tiles_per_epoch), "VALIDATION_SHARE": "0.2", "DEVICE": "auto", "SEED": "0",
        "OUTPUT": str(bundle), "OUTPUT_REPORT": str(report)}, log)

    say("segmenting scene B (qgis_process run dualstream:segment)")
    test = scenes["test"]
    classes = out / "segmentation" / "scene_b_classes.tif"
    probabilities = out / "segmentation" / "scene_b_probabilities.tif"
    polygons = out / "segmentation" / "scene_b_polygons.gpkg"
    run_qgis_process(command, root, "dualstream:segment", {
        "INPUT": test["image"], "AUX": test["aux"], "MODEL": [str(bundle)], "OVERLAP": "0.25", "TTA": "flips",
        "DEVICE": "auto", "BATCH_SIZE": "4", "OUTPUT": str(classes), "OUTPUT_PROBABILITIES": str(probabilities),
        "OUTPUT_POLYGONS": str(polygons)}, log)

    say("evaluating scene B against its labels (qgis_process run dualstream:evaluate)")
    metrics_json = out / "evaluation" / "scene_b_metrics.json"
    evaluation = run_qgis_process(command, root, "dualstream:evaluate", {
        "INPUT": str(classes), "LABELS": test["label"], "LABEL_MAPPING": "90=1", "OUTPUT": str(metrics_json),
        "OUTPUT_HTML": str(out / "evaluation" / "scene_b_metrics.html"),
        "OUTPUT_TABLE": str(out / "evaluation" / "scene_b_metrics_table.csv")}, log, as_json=True)
    results = evaluation["results"]
    metrics = json.loads(metrics_json.read_text(encoding="utf-8"))

    say("writing the quicklook")
    png = out / "quicklook.png"
    quicklook(test["image"], str(classes), test["label"], str(polygons), png, float(results["MIOU"]))

    iou = metrics["iou"]
    seconds = time.perf_counter() - start
    print(f"""
DualStream demo finished in {seconds / 60:.1f} min.
  model bundle:        {bundle}
  training report:     {report}
  class raster:        {classes}   (palette + class names inside; open it in QGIS)
  its QML style:       {classes.with_suffix('.qml')}
  probabilities:       {probabilities}
  polygons:            {polygons}
  metrics:             {metrics_json}  (+ .csv, _confusion.csv, scene_b_metrics.html)
  quicklook:           {png}
  qgis_process log:    {log}
  IoU on scene B (unseen): {metrics['class_names'][1]} {iou[1]:.3f}, {metrics['class_names'][0]} {iou[0]:.3f}, \
mean IoU {metrics['miou']:.3f}, pixel accuracy {metrics['pixel_accuracy']:.3f}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
