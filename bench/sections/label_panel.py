"""Section "label_panel" of ``make bench``: how long a click on a large raster holds QGIS's GUI thread in the
*Label with Segment Anything* panel (the real desktop under Xvfb, the plugin deployed into a throwaway profile).

A 1600 x 1600 px scene (800 px with ``--quick``) fills the canvas and a tiny Segment Anything of the real layout with
random weights answers: its masks are noise over the whole window, tens of thousands of vertices, a harder case
than a trained model's object (which the panel must not depend on). Per click: the longest gap between the ticks of
a 10 ms GUI-thread timer (the freeze a user feels), the wait until the mask is drawn, the time the status says, and
the mask's vertices as traced and as drawn (simplified to half a screen pixel). The first click embeds the window.
Before the masks were traced and drawn in a background task, a click froze QGIS for 4-5.5 s here while the status
said "answered in 0.02 s".
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import child_env

TITLE = "Labelling panel: how long a click holds QGIS's GUI thread (a large mask, Xvfb)"
REPO = Path(__file__).resolve().parents[2]
TARGET_STALL_S = 0.25  # a click once embedded: no longer than this without the GUI answering
CLICKS = [[0.5, 0.5], [0.3, 0.6], [0.7, 0.3], [0.4, 0.4], [0.6, 0.7], [0.2, 0.2], [0.8, 0.8]]

PREPARE = r"""
import sys
from pathlib import Path
from engine.data.synthetic import make_scene
from tests.engine.prompted_models import save_tiny
folder, size = Path(sys.argv[1]), int(sys.argv[2])
print(make_scene(folder / "data", "scene", size=(size, size), seed=4, aux_channels=0, dtype="uint8")["image"])
save_tiny("sam", folder / "sam")
"""


def run(ctx: Any) -> dict[str, Any]:
    from scripts.deploy_plugin import deploy, venv_site_packages

    if shutil.which("xvfb-run") is None or shutil.which("qgis") is None:
        raise RuntimeError("xvfb-run and qgis are needed (`make install` installs both)")
    size = 800 if ctx.quick else 1600
    root = Path(tempfile.mkdtemp(prefix="dualstream-bench-panel-"))
    try:
        made = subprocess.run([sys.executable, "-c", PREPARE, str(root), str(size)], cwd=REPO, env=child_env(),
                              check=True, capture_output=True, text=True)
        image = made.stdout.strip().splitlines()[-1]
        deploy(root / "profiles", "default", venv_site_packages(Path(sys.executable)))
        out = Path(ctx.output_dir) / "label_panel"
        out.mkdir(parents=True, exist_ok=True)
        config = root / "config.json"
        config.write_text(json.dumps({"image": image, "model": str(root / "sam"), "clicks": CLICKS, "out": str(out)}))
        env = {k: v for k, v in os.environ.items()
               if k not in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "DUALSTREAM_SITE_PACKAGES", "PYTHONPATH")}
        env.update(DUALSTREAM_GUI_CONFIG=str(config), DUALSTREAM_GUI_TOOLS=str(REPO / "tests" / "gui"))
        subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", "qgis", "--profiles-path", str(root),
                        "--nologo", "--noversioncheck", "--code", str(REPO / "bench" / "label_panel_session.py")],
                       cwd=root, env=env, capture_output=True, text=True, timeout=1800)
        report = json.loads((out / "report.json").read_text())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if not report.get("finished"):
        raise RuntimeError(f"the QGIS session stopped at {report.get('steps', [])[-1:]}: {report.get('error')}")
    clicks = report["clicks"]
    later = clicks[1:]  # the first click embeds the window (loads the model too)
    result = {"size": size, "clicks": clicks, "target_stall_s": TARGET_STALL_S,
              "first_stall_s": clicks[0]["longest_stall_s"],
              "longest_stall_s": max(c["longest_stall_s"] for c in later),
              "median_wait_s": statistics.median(c["wait_s"] for c in later),
              "median_traced_vertices": statistics.median(c["traced_vertices"] for c in later),
              "median_drawn_vertices": statistics.median(c["drawn_vertices"] for c in later)}
    result["markdown"] = (
        f"{size} x {size} px window, {len(later)} clicks once embedded: the GUI thread's longest stall "
        f"{result['longest_stall_s']:.3f} s (the embedding click {result['first_stall_s']:.3f} s); the mask drawn "
        f"after {result['median_wait_s']:.2f} s (median; the status said it), "
        f"{result['median_traced_vertices']:,.0f} vertices traced, {result['median_drawn_vertices']:,.0f} drawn.")
    return result


if __name__ == "__main__":
    import argparse

    sys.path.insert(0, str(REPO))
    from bench.common import BenchContext

    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(REPO / "bench_output"))
    args = parser.parse_args()
    print(json.dumps(run(BenchContext(output_dir=Path(args.output), quick=args.quick)), indent=1, default=str))
