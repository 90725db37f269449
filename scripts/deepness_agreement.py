"""Deepness's own test models through ``dualstream segment`` and through Deepness itself, classes compared.

Usage: ``python scripts/deepness_agreement.py DEEPNESS_TEST_DATA OUT_DIR [--peers DIR] [--json FILE]``

``DEEPNESS_TEST_DATA`` is the ``test/data`` folder of PUTvision/qgis-plugin-deepness (its dummy segmentation
models and ``dummy_fotomap_small.tif``, an RGBA orthophoto at 2 cm). Each model runs as a user runs it: ``dualstream
segment --model M.onnx --image dummy_fotomap_small.tif`` (no flags: the alpha band, a batch fixed inside the graph
and a graph without metadata are this checkout's to handle), and through ``run_deepness.py`` of ``--peers``
(default ``/work/shared/peers``; QGIS's Python with ``QT_QPA_PLATFORM=offscreen``, ``DEEPNESS_EXTRA_PATH`` naming
a folder with opencv-python-headless and onnxruntime for it). Deepness processes at the resolution the model
records, else 100 cm/px; to compare on the image's own grid, Deepness is given a copy of each graph with one key
added, ``resolution`` (the image's cm/px), and nothing else changed. Agreement: the share of pixels both gave a
class where the classes are equal (Deepness's first output, its class = its value - 1). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
IMAGE = "dummy_fotomap_small.tif"
MODELS = ["dummy_model/dummy_segmentation_models/" + name for name in (
    "dummy_model.onnx", "one_output_sigmoid_bsx1x512x512.onnx", "one_output_sigmoid_bsx512x512.onnx",
    "one_output_softmax_bsx2x512x512.onnx", "two_outputs_sigmoid_bsx1x512x512.onnx",
    "two_outputs_sigmoid_bsx512x512.onnx", "two_outputs_softmax_bsx2x512x512.onnx",
    "different_output_size_512_to_484.onnx")] + ["dummy_model/one_output_sigmoid_red_detector.onnx"]


def with_resolution(model: Path, centimetres: float, out: Path) -> Path:
    """A copy of ``model`` with Deepness's ``resolution`` key (cm/px) set, the graph unchanged."""
    import onnx

    graph = onnx.load(str(model))
    kept = [p for p in graph.metadata_props if p.key != "resolution"]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    entry = graph.metadata_props.add()
    entry.key, entry.value = "resolution", json.dumps(centimetres)
    onnx.save(graph, str(out))
    return out


def classes_on(reference: Path, other: Path) -> tuple[np.ndarray, np.ndarray]:
    """(reference's classes, other's classes on the reference's grid, nearest neighbour; 255 outside)."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    with rasterio.open(reference) as ref, rasterio.open(other) as src:
        mine = np.full((ref.height, ref.width), 255, np.uint8)
        reproject(src.read(1), mine, src_transform=src.transform, src_crs=src.crs, dst_transform=ref.transform,
                  dst_crs=ref.crs, src_nodata=255, dst_nodata=255, resampling=Resampling.nearest)
        return ref.read(1), mine


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=900)


def compare(data: Path, out: Path, peers: Path) -> list[dict]:
    import rasterio

    image = data / IMAGE
    with rasterio.open(image) as ds:
        centimetres = abs(ds.transform.a) * 100
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    rows = []
    for relative in MODELS:
        model = data / relative
        stem = model.stem
        ours, theirs = out / f"{stem}.dualstream.tif", out / f"{stem}.deepness.tif"
        mine = run([sys.executable, "-m", "engine", "segment", "--model", str(model), "--image", str(image),
                    "--out", str(ours)])
        said = [line for line in mine.stderr.splitlines() if line.startswith(("warning:", "error:"))
                or "alpha band" in line]
        copy = with_resolution(model, centimetres, out / f"{stem}.res.onnx")
        deepness = run(["/usr/bin/python3", str(peers / "run_deepness.py"), str(copy), str(image), str(theirs)], env)
        row = {"model": relative.rsplit("/", 1)[-1], "dualstream": "ok" if mine.returncode == 0 else "refused",
               "deepness": "ok" if deepness.returncode == 0 and theirs.exists() else "failed", "said": said}
        if deepness.returncode != 0:
            row["deepness_error"] = (deepness.stderr.strip().splitlines() or ["?"])[-1][:300]
        if row["dualstream"] == "ok" and row["deepness"] == "ok":
            reference, mapped = classes_on(theirs, ours)
            both = (reference != 255) & (mapped != 255)
            row.update(pixels=int(both.sum()), agree=float((reference[both] == mapped[both]).mean()),
                       differ=int((reference[both] != mapped[both]).sum()),
                       classes_dualstream={int(k): int(v) for k, v in zip(*np.unique(mapped[both],
                                                                                     return_counts=True))},
                       classes_deepness={int(k): int(v) for k, v in zip(*np.unique(reference[both],
                                                                                   return_counts=True))})
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | dualstream segment | Deepness | pixels compared | agreement (pixels differing) | classes "
             "(dualstream / Deepness) |", "|---|---|---|---|---|---|"]
    for r in rows:
        agree = f"{100 * r['agree']:.4f} % ({r['differ']})" if "agree" in r else "-"
        counts = (f"{r['classes_dualstream']} / {r['classes_deepness']}" if "agree" in r else
                  (r["said"][-1][:160] if r["said"] else r.get("deepness_error", "")))
        lines.append(f"| {r['model']} | {r['dualstream']} | {r['deepness']} | {r.get('pixels', '-')} | {agree} | "
                     f"{counts} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="Deepness's test/data folder")
    parser.add_argument("out", type=Path, help="a folder for the class rasters")
    parser.add_argument("--peers", type=Path, default=Path("/work/shared/peers"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = compare(args.data, args.out, args.peers)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
