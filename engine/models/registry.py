"""The family registry (torch-free): family ``X`` is the package ``engine/models/X/``, its ``configuration_X.CONFIG``
(a torch-free ``ModelConfig``) and ``modeling_X.MODEL`` (a ``SegmentationModel``); adding one: docs/models.md.
``RUN_ONLY`` names configurations of models that are run, never trained or built with torch (an imported ONNX
graph): bundles name them, the training choices never list them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

# = their packages' names
FAMILIES = ("dualstream", "cmx", "unet", "pspnet", "deeplabv3plus", "fpn", "change", "season", "eoseries")
RUN_ONLY = ("imported",)  # packages with a configuration module only


def list_models() -> list[str]:
    """Family names accepted by :func:`engine.models.build_model`, in registry order."""
    return list(FAMILIES)


def has_configuration(name: Any) -> bool:
    """Whether ``name`` has a configuration here: a family one trains, or a run-only model (``RUN_ONLY``)."""
    return name in FAMILIES or name in RUN_ONLY


def check_family(name: str) -> None:
    """KeyError listing the valid names unless ``name`` is a registered family."""
    if name not in FAMILIES:
        raise KeyError(f"Unknown model '{name}'; valid models are {list_models()}.")


def family_module(name: str, kind: str) -> ModuleType:
    """``engine.models.<name>.<kind>_<name>`` (kind = configuration or modeling) of a registered family."""
    return importlib.import_module(f"{__package__}.{name}.{kind}_{name}")


def list_presets(name: str | None = None) -> list[str]:
    """Presets of family ``name``; without a name, every preset of any family (the front ends' choices). Imported
    when asked, so the base configuration, which declares the preset setting with these choices, needs none."""
    names = [name] if name is not None else list(FAMILIES)
    seen: dict[str, None] = {}
    for family in names:
        check_family(family)
        seen.update(dict.fromkeys(family_module(family, "configuration").CONFIG.PRESETS))
    return list(seen)
