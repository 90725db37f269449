"""Real-data fixtures: the shared folder of real imagery, opt-in with ``pytest -m realdata``.

The folder is ``$DUALSTREAM_REALDATA`` or ``../shared/realdata`` beside the repository (layout in its README).
When it is absent every test here is skipped with the reason; the tests are deselected by default anyway
(pyproject addopts).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "shared" / "realdata"  # <repo>/../shared/realdata


def realdata_root() -> Path:
    return Path(os.environ.get("DUALSTREAM_REALDATA") or DEFAULT_ROOT)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real-data root, or a skip naming the missing folder and how to point at it."""
    root = realdata_root()
    if not (root / "gdl_buildings_landcover").is_dir() or not (root / "cloud38_sample").is_dir():
        pytest.skip(f"real data folder '{root}' is absent (needs gdl_buildings_landcover/ and cloud38_sample/); "
                    f"set DUALSTREAM_REALDATA to its location")
    return root

