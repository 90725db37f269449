"""Cases of issue 61 (items 4 and 10): pretrained weights that are damaged, frozen random encoders, settings that
were taken without a word, and dates no satellite scene has.

Before, a damaged Prithvi release or a truncated transformers checkpoint ended in a traceback, a frozen encoder
with random weights trained silently, ``--feature-cache-mb -5`` was taken, ``--pretrained none`` was refused for
Prithvi and a file name dated 0001-01-01 (or day 366 of 2023) was fed to the time encoder as it is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

PRITHVI_FILE = "Prithvi_EO_V2_tiny_TL.pt"


def _release(change: str) -> Any:
    """A setup writing ``d/rel/Prithvi_EO_V2_tiny_TL.pt``, a release with one tensor of the wrong shape (``shape``)
    or one value that is no tensor (``value``)."""

    def make(w: dict[str, Any], d: Path) -> None:
        import torch

        from tests.engine.foundation_fixtures import prithvi_release_state

        state: dict[str, Any] = prithvi_release_state()
        if change == "shape":
            state["encoder.blocks.0.attn.qkv.weight"] = torch.zeros(5, 7)
        else:
            state["encoder.norm.weight"] = "not a tensor"
        (d / "rel").mkdir()
        torch.save(state, d / "rel" / PRITHVI_FILE)

    return make


def _truncated_dinov3(w: dict[str, Any], d: Path) -> None:
    """``d/dino``: a DINOv3 ConvNeXt checkpoint whose model.safetensors was cut short, as by an interrupted copy."""
    import numpy as np
    from safetensors.numpy import save_file

    folder = d / "dino"
    folder.mkdir()
    config = {"model_type": "dinov3_convnext", "hidden_sizes": [8, 16, 32, 64], "depths": [1, 1, 1, 1],
              "num_channels": 3}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    save_file({"stages.0.weight": np.zeros((64, 64), np.float32)}, str(folder / "whole.safetensors"))
    data = (folder / "whole.safetensors").read_bytes()
    (folder / "whole.safetensors").unlink()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _dated(name: str) -> Any:
    def make(w: dict[str, Any], d: Path) -> None:
        shutil.copyfile(w["image"], d / name)

    return make


def weights_cases() -> list[Any]:
    """The cases (``cases.Case``; imported here, as cases.py imports this module to add them to its table)."""
    from .cases import Case, train

    prithvi = ("--model", "unet", "--encoder", "prithvi_eo2_tiny_tl")
    bands = ("--bands", "1,2,3,4")  # the scene's bands have no names Prithvi's could be found by
    year_one = "S2A_MSIL2A_00010101T103031_scene.tif"  # day 366 of 2023: tests/engine/test_prithvi_coords.py
    return [
        Case("train_prithvi_release_with_a_wrong_shaped_tensor",
             lambda w, d: train(w, d, *prithvi, "--pretrained", str(d / "rel" / PRITHVI_FILE), *bands, aux=None),
             (PRITHVI_FILE.lower(), "blocks.0.attn.qkv.weight (5, 7)", "another shape", "download"),
             setup=_release("shape")),
        Case("train_prithvi_release_with_a_value_that_is_no_tensor",
             lambda w, d: train(w, d, *prithvi, "--pretrained", str(d / "rel" / PRITHVI_FILE), *bands, aux=None),
             (PRITHVI_FILE.lower(), "no tensor", "norm.weight: str", "download"), setup=_release("value")),
        Case("train_truncated_transformers_checkpoint",
             lambda w, d: train(w, d, "--model", "unet", "--encoder", "tiny_dinov3_convnext", "--pretrained",
                                str(d / "dino"), aux=None),
             ("model.safetensors", "damaged or incomplete", "copy the complete checkpoint"),
             setup=_truncated_dinov3),
        Case("train_feature_cache_mb_negative",
             lambda w, d: train(w, d, "--feature-cache-mb", "-5", aux=None), ("--feature-cache-mb", "-5")),
        # a frozen encoder with random weights: refused before any data is read, unless asked for with none
        Case("train_frozen_cached_random_encoder_refused",
             lambda w, d: train(w, d, *prithvi, "--frozen-encoder", "cached", aux=None, quiet=False),
             ("--frozen-encoder cached", "prithvi_eo2_tiny_tl", "no pretrained weights", "--pretrained release",
              "--pretrained none"), absent=("Data:",)),
        # asked for: said to be a baseline; and a file name's date that no satellite scene has is taken as unknown
        Case("train_frozen_random_encoder_asked_for_on_a_scene_dated_year_0001",
             lambda w, d: train(w, d, *prithvi, "--pretrained", "none", "--frozen-encoder", "cached",
                                image=str(d / year_one), aux=None, quiet=False), code=0, produces=("m.dsmodel",),
             setup=_dated(year_one),
             warns=("(--pretrained none, as asked)", "a baseline", "randomly initialised (--pretrained none)",
                    "Prithvi-EO-2.0 release", "its file name gives 0001-01-01", "taken as unknown",
                    "0 of 1 scene(s) with a date"), absent=("Stage 1", "ImageNet", "--pretrained imagenet")),
    ]
