"""The torch-free part of the model contract: ``ModelConfig``, the base of every family's configuration.

Every family has a ``configuration_<family>.py`` with a ``ModelConfig`` subclass (its presets and options) and
a ``modeling_<family>.py`` with the model. ``ModelConfig(name="cmx", preset="b0")`` and
``ModelConfig.from_dict({"name": "cmx", ...})`` return the family's own config class, so code that only knows
a family name (CLI, plugin, bundle) never needs to import it. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError
from ..settings import Settings, check
from .registry import FAMILIES, family_module, list_models

T = TypeVar("T", bound="ModelConfig")
DEFAULT_FAMILY = "dualstream"


@dataclass
class ModelConfig(Settings):
    """Settings every family shares. ``aux_channels=0`` builds a vision-only model.

    Families add their own fields and override ``preset``'s default. ``aux_ratio`` is the number of vision
    pixels per aux pixel of the aux tensor the data gives the model (8: a 64x64 aux grid under a 512 tile;
    1: aux at the vision resolution, e.g. extra bands of the same image).
    """

    name: str = DEFAULT_FAMILY
    preset: str = "b1"
    vision_channels: int = 4
    aux_channels: int = 48
    num_classes: int = 1
    aux_ratio: int = 8
    dropout: float = 0.1
    pretrained: str | None = None  # "imagenet", a hub id or a local save_pretrained folder; None = random init

    PRESETS: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> ModelConfig:
        # ModelConfig(name=...) builds the family's own config class (like transformers' AutoConfig.for_model).
        if cls is ModelConfig:
            cls = family_config_class(kwargs.get("name", args[0] if args else DEFAULT_FAMILY))
        return super().__new__(cls)

    def __post_init__(self) -> None:
        check(self.preset in self.PRESETS,
               f"model preset '{self.preset}' is unknown for family '{self.name}'; use one of {list(self.PRESETS)}.")
        check(self.vision_channels >= 1, f"vision_channels must be >= 1 (got {self.vision_channels}).")
        check(self.aux_channels >= 0, f"aux_channels must be >= 0, 0 = vision only (got {self.aux_channels}).")
        check(self.num_classes >= 1, f"num_classes must be >= 1, 1 = binary (got {self.num_classes}).")
        check(self.aux_ratio >= 1, f"aux_ratio must be >= 1 (got {self.aux_ratio}).")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout}).")

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """The family's config from a dict (``name`` picks the family when called on ``ModelConfig``)."""
        if cls is ModelConfig:
            if not isinstance(data, dict):
                raise ConfigError(f"ModelConfig: expected a mapping of settings, got {type(data).__name__}.")
            target = family_config_class(data.get("name", DEFAULT_FAMILY))
            return target.from_dict(data)  # type: ignore[return-value]
        return super().from_dict.__func__(cls, data)  # type: ignore[attr-defined]

    @property
    def output_channels(self) -> int:
        """Channels of the logits: 1 for binary (sigmoid), N for N-class softmax."""
        return self.num_classes

    @property
    def uses_aux(self) -> bool:
        """Whether the model takes an aux tensor (callers pass ``aux=None`` otherwise)."""
        return self.aux_channels > 0

    def fit_data(self: T, vision_channels: int, aux_channels: int, num_classes: int, aux_ratio: int) -> T:
        """This config with the band counts, classes and aux ratio of the training data.

        Families that ignore aux unless asked (the single-stream baselines) override this to keep it at 0.
        """
        return self.replace(vision_channels=vision_channels, aux_channels=aux_channels, num_classes=num_classes,
                            aux_ratio=aux_ratio)

    def aux_input_note(self, tile_size: int) -> str | None:
        """What the model does with its aux input, when that is worth saying (the training log shows it)."""
        return None

    def preset_settings(self) -> Any:
        """The preset object of this config."""
        return self.PRESETS[self.preset]


def family_config_class(name: Any) -> type[ModelConfig]:
    """The config class of family ``name``; ConfigError listing the families for an unknown one."""
    if name not in FAMILIES:
        raise ConfigError(f"Unknown model family '{name}'; valid families are {list_models()}.")
    return family_module(str(name), "configuration").CONFIG
