"""Presto and Galileo release files of the real layouts and sizes (random weights), written as the official
repositories hold them: Presto's ``data/default_model.pt`` (encoder + MAE decoder, ``encoder.``/``decoder.``
prefixes), Galileo's ``models/nano/encoder.pt`` + ``config.json`` (``model.encoder`` sizes), each with its MIT
licence file."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.models.encoders.galileo import GalileoEncoder
from engine.models.encoders.presto import PrestoEncoder

LICENCE = "MIT License\n\nCopyright (c) 2023 NASA Harvest\n(a test copy: random weights in the release's layout)\n"
S1_S2 = ["vv", "vh", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22"]


def by_name(family: str, vision: int, options: dict) -> dict:
    """A test build's options for a family placing its bands by name (eoseries: Presto's groups): the first
    ``vision`` of Sentinel-1/2's names and NDVI, and two dates (its encoder runs per pixel); others unchanged."""
    from engine.models import AutoModelConfig

    if "band_names" in AutoModelConfig.config_class(family).__dataclass_fields__:
        options = {"band_names": [*S1_S2, "ndvi"][:vision], "dates": 2, **options}
    return options


def write_presto_release(folder: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """``folder/data/default_model.pt`` + LICENSE; returns the encoder's state (our names)."""
    torch.manual_seed(seed)
    state = PrestoEncoder().state_dict()
    for value in state.values():  # not the initial values: a load that kept ours would be seen
        if value.is_floating_point():
            value.add_(torch.randn_like(value) * 0.02)
    release = {f"encoder.{k}": v for k, v in state.items()}
    release.update({"decoder.mask_token": torch.zeros(128), "decoder.decoder_embed.weight": torch.randn(128, 128)})
    (folder / "data").mkdir(parents=True, exist_ok=True)
    torch.save(release, folder / "data" / "default_model.pt")
    (folder / "LICENSE").write_text(LICENCE, encoding="utf-8")
    return state


def write_galileo_release(folder: Path, seed: int = 0, size: str = "nano") -> dict[str, torch.Tensor]:
    """``folder/models/<size>/encoder.pt`` + ``config.json`` + LICENSE (nano's sizes); returns the state."""
    torch.manual_seed(seed)
    sizes = {"embedding_size": 128, "depth": 4, "num_heads": 8, "mlp_ratio": 4, "max_sequence_length": 24,
             "max_patch_size": 8}
    state = GalileoEncoder(**sizes).state_dict()
    for value in state.values():
        if value.is_floating_point():
            value.add_(torch.randn_like(value) * 0.02)
    target = folder / "models" / size
    target.mkdir(parents=True, exist_ok=True)
    torch.save(state, target / "encoder.pt")
    config = {"training": {"patch_sizes": [1, 2, 3, 4, 5, 6, 7, 8]},
              "model": {"encoder": {**sizes, "freeze_projections": False, "drop_path": 0.1}}}
    (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "LICENSE").write_text(LICENCE, encoding="utf-8")
    return state
