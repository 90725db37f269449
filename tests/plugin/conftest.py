"""Fixtures shared by the plugin tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def unseen_seed_base() -> int:
    """Noise seeds of the unseen scenes are this + 1..3; a module overrides it to get other scenes."""
    return 10


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, unseen_seed_base):
    """A 256x256 training scene and three unseen 128x128 scenes of the same synthetic world (field_seed 1)."""
    from engine.data.synthetic import make_scene

    root = tmp_path_factory.mktemp("scenes")
    made = {"train": make_scene(root, "train", size=(256, 256), seed=1, field_seed=1, label_from="both")}
    for index in (1, 2, 3):
        made[f"s{index}"] = make_scene(root, f"s{index}", size=(128, 128), seed=unseen_seed_base + index,
                                       field_seed=1, label_from="both")
    return made


