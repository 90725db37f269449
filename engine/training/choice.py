"""A choice of training settings made for the user (:mod:`.auto`): the settings chosen together and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import DataConfig, ModelConfig, TrainConfig
from ..errors import mention, plain_name, render


@dataclass
class Choice:
    """Settings chosen for the user together (``section.field`` -> the value as a front end takes it), and why."""

    values: dict[str, Any]
    reason: str


@dataclass
class Chosen:
    """The settings after the choice, and the choices made."""

    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    choices: list[Choice] = field(default_factory=list)
    device: str = "cpu"

    def lines(self, name: Callable[[str], str] = plain_name, assign: str = " ", sep: str = " ") -> list[str]:
        """One line per choice, ``SETTING VALUE, chosen: REASON.``, the settings named by ``name`` (``--tile-size
        192`` on the command line; QGIS: ``Tile size: 192`` with ``assign=": "``)."""
        return [render(sep.join(f"{mention(k)}{assign}{v}" for k, v in c.values.items()) + f", chosen: {c.reason}.",
                       name) for c in self.choices]

    @property
    def configs(self) -> tuple[ModelConfig, DataConfig, TrainConfig]:
        return self.model, self.data, self.train


