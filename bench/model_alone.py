"""The model alone on a bulk run's tiles, started as a bulk run starts it: a fresh process loads the bundle on the
CPU, reads and batches every tile of the scenes into memory (not timed), then times the model over all batches
twice: from its first call (``cold_s``: onnxruntime's first run in a process is slower, in the bulk run too) and
again (``warm_s``).

``python bench/model_alone.py BUNDLE TILE IMAGE...`` prints ``{"cold_s": ..., "warm_s": ..., "batches": ...}``.
Used by ``bench/cpu_default.py``'s bulk comparison, before and after the bulk run.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def model_alone(bundle: str, tile: int, images: list[str]) -> dict[str, float]:
    from engine.callbacks import QuietCallback
    from engine.config import SegmentConfig
    from engine.segment import plan_segmentation, prepared_batches
    from engine.segment.backend import make_predictor

    cfg = SegmentConfig(image=images[0], models=[bundle], output=str(Path(images[0]).with_name("unused.tif")),
                        device="cpu")
    batches = []
    for image in images:
        plan = plan_segmentation(cfg.replace(image=image), QuietCallback())
        try:
            batches += prepared_batches(plan, cfg.batch_size)
        finally:
            plan.reader.close()
    predictor = make_predictor(plan.members, cfg, QuietCallback(), tile)
    gc.collect()  # as a bulk run does once its model is loaded
    passes = []
    for _ in range(2):
        begin = time.perf_counter()
        for batch in batches:
            predictor(batch.vision, batch.aux)
        passes.append(time.perf_counter() - begin)
    return {"cold_s": passes[0], "warm_s": passes[1], "batches": len(batches)}


if __name__ == "__main__":
    print(json.dumps(model_alone(sys.argv[1], int(sys.argv[2]), sys.argv[3:])))
