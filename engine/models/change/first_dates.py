"""First dates encoded once (torch-free): the store of their encoder maps, and when a model can use it.

A monitoring series meets one first date with several later dates, so its tiles' encoder maps are the same for
every pair. Both backends keep them here, keyed by a digest of the normalised tile: torch tensors for the torch
model (``ChangeModel.share_first_dates``), numpy arrays for the onnxruntime one (``bundle/date_graphs.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: The most bytes of first dates' encoder maps a store keeps (ResNet-18 at 256 px: about 2 MB a tile).
FEATURE_STORE_BYTES = 1 << 30

REUSED = ("A first date met again: its tiles' encoder maps, kept from its first pair, are reused (the encoder runs on "
          "the later date alone).")


def shares_first_dates(dates: int, aux_channels: int, takes_date_and_place: bool) -> bool:
    """Whether a model's first date can be encoded once for all its pairs: a model of several dates whose encoder
    reads the image alone (aux rasters stacked on each date's bands, or each tile's date and place, differ by pair)."""
    return dates > 1 and not aux_channels and not takes_date_and_place


class FirstDateFeatures:
    """The encoder maps of first dates already seen, keyed by a digest of the tile's values, shape and type. It fills
    up to ``limit`` bytes and then keeps what it holds: a series meets a first date's tiles in the same order for
    every later date, so a scene larger than the store still finds its first tiles. ``say``: told at the first reuse
    and when full."""

    def __init__(self, limit: int = FEATURE_STORE_BYTES, say: Callable[[str], None] | None = None):
        self.limit, self.held, self.hits, self.misses = int(limit), 0, 0, 0
        self.say = say
        self._maps: dict[bytes, list[Any]] = {}
        self._said: set[str] = set()

    @staticmethod
    def key(tile: Any) -> bytes:
        """The digest of one date's tile (a numpy array, or a CPU torch tensor)."""
        data = np.ascontiguousarray(tile)
        digest = hashlib.blake2b(data.tobytes(), digest_size=16)
        digest.update(f"{tuple(data.shape)}{data.dtype}".encode())
        return digest.digest()

    def put(self, key: bytes, maps: Sequence[Any]) -> None:
        size = sum(int(m.nbytes) for m in maps)
        if self.held + size > self.limit:
            self._once(f"The first dates' encoder maps fill their store ({self.limit / 2**20:.0f} MiB): first-date "
                       f"tiles not held are encoded again for each pair.")
            return
        self._maps[key] = [m.clone() if hasattr(m, "clone") else m.copy() for m in maps]  # not a view of the batch
        self.held += size

    def lookup(self, tiles: Sequence[Any]) -> tuple[list[bytes], list[list[Any] | None], list[int]]:
        """(keys, maps held or None, indices to encode) of a batch's first-date tiles."""
        keys = [self.key(t) for t in tiles]
        held = [self._maps.get(k) for k in keys]
        todo = [i for i, maps in enumerate(held) if maps is None]
        self.hits, self.misses = self.hits + len(held) - len(todo), self.misses + len(todo)
        if len(todo) < len(held):
            self._once(REUSED)
        return keys, held, todo

    def _once(self, message: str) -> None:
        if self.say is not None and message not in self._said:
            self._said.add(message)
            self.say(message)


def tally(stores: Sequence[FirstDateFeatures]) -> tuple[int, int]:
    """(first-date tiles encoded, reused from an earlier pair) over ``stores``."""
    return sum(s.misses for s in stores), sum(s.hits for s in stores)
