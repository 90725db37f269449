"""Section "prompted" of ``make bench``: Segment Anything on the CPU, per model, at the real sizes with random
weights (the configs of the real checkpoints, built without downloading; weights do not change the time): the
embedding of a 1024 x 1024 window, and one click's answer once the window is embedded (the prompt encoder and mask
decoder and the mask brought to the window; then the polygons of a compact 320 px object through the polygon
pipeline, squared as a building: a random-weight mask is noise, whose specks would time something no trained
model draws), median of 10 clicks.

Each model runs in a child process of its own (its memory given back after), with torch's default threads. The
machine's 1-minute load average is recorded beside each figure: on a shared machine the figures are upper bounds;
the decoder's CPU seconds (both threads together) are recorded too, as they depend less on the load.
EdgeTAM's image encoder is a timm model: where timm (with its torchvision) cannot be imported, its row says so.
``--quick``: SAM ViT-B and SAM 2.1 tiny only, one embedding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import child_env

TITLE = "Segment Anything on the CPU: embedding a 1024 px window, answering a click"
REPO = Path(__file__).resolve().parents[2]
TARGET_CLICK_S = 0.3

#: name -> (transformers class, config changes to the class's default config: the real checkpoint's sizes)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "sam-vit-base": ("SamModel", {}),  # SamConfig's defaults are ViT-B's
    "sam2.1-tiny": ("Sam2Model", {}),  # Sam2Config's defaults are Hiera-T's
    "sam2.1-small": ("Sam2Model", {"vision_config": {"backbone_config": {
        "model_type": "sam2_hiera_det_model", "blocks_per_stage": [1, 2, 11, 2],
        "global_attention_blocks": [7, 10, 13]}}}),
    # EdgeTamConfig's default backbone names its architecture under a misspelt key in transformers 5.24 and so
    # builds timm's ResNet-50: the RepViT m1 of the real checkpoint's config is named here (the rest is default)
    "edgetam": ("EdgeTamModel", {"vision_config": {"model_type": "edgetam_vision_model", "backbone_config": {
        "model_type": "timm_wrapper", "architecture": "repvit_m1", "num_classes": 1000,
        "model_args": {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]}}}}),
    "sam3": ("Sam3Model", {}),  # Sam3Config's defaults are SAM 3's (ViT-L-like, 1008 px)
}
QUICK = ("sam-vit-base", "sam2.1-tiny")

CHILD = r"""
import json, os, resource, statistics, sys, time
import numpy as np
import torch
import transformers
from engine.prompted.model import PROMPT_MODEL_TYPES
from engine.prompted.model import PromptModel
from engine.imagery.picture import ImageWindow

name, class_name, changes, embeds, device = (sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]),
                                             sys.argv[5])
model_type = {"SamModel": "sam", "Sam2Model": "sam2", "EdgeTamModel": "edgetam", "Sam3Model": "sam3"}[class_name]
sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)  # GPU work is asynchronous
config_class = getattr(transformers, class_name.replace("Model", "Config"))
config = config_class(**changes)
torch.manual_seed(0)
start = time.perf_counter()
model = getattr(transformers, class_name)(config).eval().to(device)
built = time.perf_counter() - start
prompt = PromptModel(model, PROMPT_MODEL_TYPES[model_type], name)
rng = np.random.default_rng(0)
rgb = rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
rgb[300:600, 400:700] = 200
times = []
for _ in range(embeds + 1):  # the first is a warm-up
    t = time.perf_counter()
    embedding = prompt.embed(rgb)
    sync()
    times.append(time.perf_counter() - t)
window = ImageWindow(rgb, (500000.0, 0.5, 0.0, 4100000.0, 0.0, -0.5), "EPSG:32633", "bench", "bench")
out = {"model": name, "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6, "build_s": built,
       "embed_s": statistics.median(times[1:]) if len(times) > 1 else times[0], "embed_runs": times[1:],
       "threads": torch.get_num_threads()}
if not PROMPT_MODEL_TYPES[model_type].text:  # points and boxes (SAM 3 takes a text)
    from engine.io.polygons import ClassRule
    from engine.prompted.session import mask_polygons
    decode, shapes, cpu = [], [], []
    blob = np.zeros((1024, 1024), np.float32)  # a compact object, as a trained model's mask is (random weights
    blob[300:620, 380:700] = 0.9                # give noise, whose thousands of specks say nothing of a click)
    blob[300:360, 600:700] = 0.0
    rule = ClassRule("regularise", 16 * 0.25, 16 * 0.25)
    for i in range(11):
        t, c = time.perf_counter(), time.process_time()
        probabilities, score = prompt.decode(embedding, np.array([[450 + 7 * i, 380 + 5 * i]]), np.array([1]), None)
        decode.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        t = time.perf_counter()
        mask_polygons(blob, window.transform, window.crs, rule)
        shapes.append(time.perf_counter() - t)
    out.update(decode_s=statistics.median(decode[1:]), polygons_s=statistics.median(shapes[1:]),
               decode_cpu_s=statistics.median(cpu[1:]))  # CPU seconds, all threads: less sensitive to the load
    out["click_s"] = out["decode_s"] + out["polygons_s"]
else:  # SAM 3 answers a text: timed with token ids in place of the real checkpoint's tokenizer
    length = model.config.text_config.max_position_embeddings
    ids = torch.randint(2, model.config.text_config.vocab_size, (1, length))
    mask = torch.zeros(1, length, dtype=torch.long)
    mask[:, :4] = 1
    text = []
    for _ in range(4):
        t = time.perf_counter()
        with torch.inference_mode():
            model(vision_embeds=embedding.features, input_ids=ids.to(device), attention_mask=mask.to(device))
        sync()
        text.append(time.perf_counter() - t)
    out["text_s"] = statistics.median(text[1:])
    out["click_s"] = None
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if device.startswith("cuda"):
    out["gpu"] = torch.cuda.get_device_name()
    out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""


def _one(name: str, quick: bool, device: str) -> dict[str, Any]:
    class_name, changes = MODELS[name]
    load_before = os.getloadavg()[0]
    env = child_env()
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, name, class_name, json.dumps(changes),
                               "1" if quick or name == "sam3" else "2", device], capture_output=True, text=True,
                              env=env, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"model": name, "error": "did not finish within 30 minutes"}
    load = (load_before, os.getloadavg()[0])
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return {"model": name, "error": tail[0][:300], "load": load}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = load
    return result


def run(ctx: Any) -> dict[str, Any]:
    from engine.runtime.environment import resolve_device

    device = resolve_device(ctx.device)
    names = QUICK if ctx.quick else tuple(MODELS)
    rows = [_one(name, ctx.quick, device) for name in names]
    gpu = next((r["gpu"] for r in rows if r.get("gpu")), None)
    lines = [f"Device: {gpu or 'the CPU'} ({device}); float32.", "",
             "| model | parameters | embedding, 1024 px | click: decoder + mask | click: polygons | click in all | "
             "load (1 min) | peak memory |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | - | not measured: {r['error']} | | | | |")
            continue
        click, decode, shapes = (("-" if r.get(k) is None else f"{r[k]:.3f} s")
                                 for k in ("click_s", "decode_s", "polygons_s"))
        if r.get("text_s") is not None:
            decode = f"a text: {r['text_s']:.3f} s"
        lines.append(f"| {r['model']} | {r['parameters_m']:.0f} M | {r['embed_s']:.3g} s | {decode} | {shapes} | "
                     f"{click} | "
                     f"{r['load'][0]:.1f} / {r['load'][1]:.1f} | {r['peak_rss_mib']:.0f} MiB"
                     + (f", GPU {r['peak_gpu_mib']:.0f} MiB |" if r.get("peak_gpu_mib") else " |"))
    if any(r["model"] == "edgetam" and "error" in r for r in rows):
        lines += ["", "EdgeTAM: its RepViT image encoder is a timm model; where timm cannot be imported (it needs "
                      "torchvision, and PyPI's torchvision does not load with the CPU torch of `make install`) it "
                      "is not measured."]
    return {"device": device, "gpu": gpu, "models": rows, "target_click_s": TARGET_CLICK_S,
            "markdown": "\n".join(lines)}
