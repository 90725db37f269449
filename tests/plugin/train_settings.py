"""What the Train algorithm tests share: tiny settings and the bundle's metadata read back."""

from __future__ import annotations

from engine.bundle.schema import BundleMetadata

#: Tiny training settings (numbers as strings, enums by name, as scripts pass them).
TINY = {"PRESET": "tiny", "EPOCHS": "1", "WARMUP_EPOCHS": "1", "BATCH_SIZE": "8", "LEARNING_RATE": "0.003",
        "TILE_SIZE": "64", "DEVICE": "cpu", "TILES_PER_EPOCH": "32", "SEED": "0", "LABEL_MAPPING": "90=1"}


def metadata(bundle: str) -> BundleMetadata:
    from engine.bundle.store import read_metadata

    return read_metadata(bundle)
