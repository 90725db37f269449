"""Blending on the model's device: the row band lives in GPU memory, next to the probabilities.

On a GPU the host-side blend (multiply every tile's probabilities by the window and add them into the band,
16 tiles x C x 512 x 512 per batch) costs the main thread about as long as the model itself, and copying
every tile's probabilities back costs more (each pixel comes back once per overlapping tile). Here the adds
are device kernels queued behind the model's, the main thread never waits for them, and only finished rows
come back to the host, once per pixel, without the main thread waiting for them either. The numpy
:class:`~engine.segment.tiling.RowBandAccumulator` stays the CPU path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..runtime.environment import require
from ..runtime.prefetch import to_host
from .tiling import RowBandAccumulator


class DeviceRowBandAccumulator(RowBandAccumulator):
    """:class:`~engine.segment.tiling.RowBandAccumulator` with its band as torch tensors on ``device``.

    :meth:`add` takes torch tensors on that device (probabilities (C, h, w), weights (h, w), valid (h, w) bool).
    The sink receives numpy rows and a fourth argument, ``ready``, to call before reading them: on CUDA they are
    copied out without waiting (``transfer.to_host``), so the thread adding tiles never waits for the GPU.
    """

    def __init__(self, width: int, height: int, channels: int, band_rows: int, sink: Callable[..., None],
                 device: Any):
        self.torch = require("torch")
        self.device = self.torch.device(device)
        super().__init__(width, height, channels, band_rows, sink)

    def _allocate(self) -> tuple[Any, Any, Any]:
        torch = self.torch
        return (torch.zeros((self.channels, self.band_rows, self.width), dtype=torch.float32, device=self.device),
                torch.zeros((self.band_rows, self.width), dtype=torch.float32, device=self.device),
                torch.zeros((self.band_rows, self.width), dtype=torch.bool, device=self.device))

    def _all_valid(self, valid: Any) -> bool:
        return False  # asking would make this thread wait for the GPU

    def _finished_rows(self, n: int) -> tuple[Any, Any]:
        """As the host band's, as tensors on the device."""
        weight = self._weight[:n]
        valid = self._valid[:n] & (weight > 0)
        probs = self._sum[:, :n] / self.torch.where(weight > 0, weight, self.torch.ones_like(weight))
        return probs, valid

    def _emit(self, n: int) -> None:
        # queued behind the model's work, so this thread goes on with the next batch; the sink's writer thread
        # calls ready() before it reads the rows
        (probs, valid), ready = to_host(self._finished_rows(n))
        self.sink(self.base, probs, valid, ready)

    def _shift(self, n: int) -> None:
        keep = self.band_rows - n
        if keep > 0:  # torch refuses overlapping in-place copies: clone the source rows first
            self._sum[:, :keep] = self._sum[:, n:].clone()
            self._weight[:keep] = self._weight[n:].clone()
            self._valid[:keep] = self._valid[n:].clone()
        self._sum[:, keep:] = 0
        self._weight[keep:] = 0
        self._valid[keep:] = False
