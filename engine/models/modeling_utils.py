"""The model contract every family satisfies (torch side of it; the config side is configuration_utils).

``model(vision, aux=None, coords=None) -> {"logits": (B, classes, H, W), "side_logits": [...]}``: full-resolution logits
and the deep-supervision side outputs (lower resolution, in training mode only; an empty list in eval mode
and for families without side heads). ``coords``: each tile's (year, day of year, latitude, longitude), NaN where
unknown, for the encoders that take them (Prithvi-EO-2.0's TL releases; ``takes_coords``), ignored by the others.
The base class owns the input checks; a family implements ``_forward`` and says which of its modules play which
role (``role_modules``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ModelError
from .configuration_utils import ModelConfig

ROLES = ("vision_encoder", "aux_encoder", "fusion", "decoder")


class SegmentationModel(nn.Module):
    """Base class of every family; ``config`` is the ModelConfig it was built from (what a bundle stores)."""

    num_side_outputs: ClassVar[int] = 0  # deep-supervision side outputs of ``forward`` in training mode
    side_strides: ClassVar[tuple[int, ...]] = ()  # their output strides, in ``side_logits`` order
    encoder_stride: int = 32  # vision H and W must be multiples of this (before the aux ratio is counted)

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.pretrained_source: str | None = None  # where pretrained encoder weights came from; None: random

    def role_modules(self) -> dict[str, list[nn.Module | None]]:
        """Modules per role among vision_encoder / aux_encoder / fusion; everything else is the decoder."""
        raise NotImplementedError

    def rate_factors(self) -> dict[str, tuple[list[nn.Parameter], float]]:
        """Parameters that learn at their own multiple of the head's learning rate: {group name: (parameters,
        factor)}, taken out of their roles' groups by the optimizer; none by default."""
        return {}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Disjoint parameter lists by role (``ROLES``), covering every parameter, for differential LRs."""
        groups: dict[str, list[nn.Parameter]] = {role: [] for role in ROLES}
        taken: set[int] = set()
        for role, modules in self.role_modules().items():
            if role not in ROLES or role == "decoder":
                raise ModelError(f"{type(self).__name__}.role_modules() names role '{role}'; use one of "
                                 f"{list(ROLES[:3])} (the decoder is everything else).")
            for module in modules:
                for param in module.parameters() if module is not None else []:
                    if id(param) not in taken:
                        taken.add(id(param))
                        groups[role].append(param)
        groups["decoder"] = [p for p in self.parameters() if id(p) not in taken]
        return groups

    def freeze_encoders(self, frozen: bool = True) -> None:
        """Freeze (``requires_grad=False``) or unfreeze the encoders; fusion and decoder stay trainable."""
        groups = self.param_groups()
        for param in groups["vision_encoder"] + groups["aux_encoder"]:
            param.requires_grad_(not frozen)

    @property
    def size_multiple(self) -> int:
        """Vision H and W must be multiples of this (the encoder stride, and the aux ratio when aux is used)."""
        return math.lcm(self.encoder_stride, self.config.aux_ratio) if self.config.uses_aux else self.encoder_stride

    def check_inputs(self, vision: Any, aux: Any) -> None:
        """ModelError naming the expected band counts and shapes when the inputs do not fit."""
        cfg = self.config
        if not isinstance(vision, torch.Tensor) or vision.ndim != 4:
            shape = tuple(vision.shape) if isinstance(vision, torch.Tensor) else type(vision).__name__
            raise ModelError(f"vision must be a (batch, {cfg.input_channels}, height, width) tensor, got {shape}.")
        batch, channels, height, width = vision.shape
        if channels != cfg.input_channels:
            dates = f" for each of {cfg.input_dates} dates (stacked in time order)" if cfg.input_dates > 1 else ""
            raise ModelError(f"vision has {channels} band(s) but the {cfg.name} model was built for "
                             f"{cfg.vision_channels} vision band(s){dates}; select the same bands the model was "
                             f"trained on.")
        self.check_grid(batch, height, width, aux)

    def check_grid(self, batch: int, height: int, width: int, aux: Any) -> None:
        """ModelError unless the tile's height and width are multiples of :attr:`size_multiple` and ``aux`` fits it."""
        cfg = self.config
        multiple = self.size_multiple
        for name, size in (("height", height), ("width", width)):
            if size % multiple or size == 0:
                low, high = (size // multiple) * multiple, (size // multiple + 1) * multiple
                valid = f"{low} or {high}" if low else f"{high}"
                raise ModelError(f"Vision tile {name} {size} is not a multiple of {multiple}; use {valid} "
                                 f"(any multiple of {multiple} works).")
        if not cfg.uses_aux:
            if aux is not None:
                raise ModelError(f"aux given to a vision-only {cfg.name} model (aux_channels=0); pass aux=None or "
                                 f"build the model with aux_channels set to the number of aux bands.")
            return
        if aux is None:
            raise ModelError(f"This {cfg.name} model takes {cfg.aux_channels} aux channel(s) but aux is missing; pass "
                             f"the aux rasters, or use a model built with aux_channels=0 for imagery only.")
        ratio = cfg.aux_ratio
        expected = (batch, cfg.aux_channels, height // ratio, width // ratio)
        if not isinstance(aux, torch.Tensor) or tuple(aux.shape) != expected:
            got = tuple(aux.shape) if isinstance(aux, torch.Tensor) else type(aux).__name__
            raise ModelError(f"aux must have shape {expected} (batch, aux channels, H/{ratio}, W/{ratio}): an aux grid "
                             f"of ({expected[2]}, {expected[3]}) for a {height}x{width} vision tile, got {got}.")

    def _forward(self, vision: torch.Tensor, aux: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits at full resolution, side logits in ``side_strides`` order) for checked inputs."""
        raise NotImplementedError

    def coord_takers(self) -> list[nn.Module]:
        """The modules that take each tile's date and place (a TL release's time and location encoders)."""
        return [m for m in self.modules() if not isinstance(m, SegmentationModel) and getattr(m, "takes_coords", False)]

    @property
    def takes_days(self) -> bool:
        """Called with each date's day numbers and validity as well (``days=``, ``valid=``: a season model)."""
        return self.config.TAKES_DAYS

    @property
    def takes_coords(self) -> bool:
        return bool(self.coord_takers())

    def forward(self, vision: torch.Tensor, aux: torch.Tensor | None = None,
                coords: torch.Tensor | None = None) -> dict[str, Any]:
        self.check_inputs(vision, aux)
        return self.run_with_coords(coords, int(vision.shape[0]), lambda: self._forward(vision, aux))

    def run_with_coords(self, coords: torch.Tensor | None, batch: int, run: Any, per_image: Any = None
                        ) -> dict[str, Any]:
        """``run()``'s (logits, side logits) as :meth:`forward`'s outputs, the encoders taking them given ``coords``
        for this pass only; ``per_image``: the tiles' (B, 4) coords -> the encoder's images' (a season's dates)."""
        takers = self.coord_takers() if coords is not None else []
        if takers and tuple(coords.shape) != (batch, 4):
            raise ModelError(f"coords must be (batch, 4): year, day of year, latitude, longitude per tile (NaN where "
                             f"unknown), got {tuple(coords.shape)} for a batch of {batch}.")
        for module in takers:  # the encoder reads them in this forward pass only
            module.coords = coords if per_image is None else per_image(coords)
        try:
            logits, side = run()
        finally:
            for module in takers:
                module.coords = None
        return {"logits": logits, "side_logits": list(side) if self.training else []}
