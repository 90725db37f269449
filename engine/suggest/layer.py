"""The suggested windows as a GeoPackage layer, written beside the destination and renamed when complete.

The layer carries its style (``windows.qml``: orange outlines, each window labelled with its rank, the reasons as
map tip) in the GeoPackage's ``layer_styles`` table as its default, so QGIS shows it styled however it is opened
(the plugin, Layer > Add Layer, or a drag from the file browser).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.geopackage import add_default_style, write_layer

STYLE = Path(__file__).with_name("windows.qml")
FIELDS = (("rank", "OFTInteger"), ("score", "OFTReal"), ("why", "OFTString"), ("scene", "OFTString"),
          ("col", "OFTInteger"), ("row", "OFTInteger"), ("size_px", "OFTInteger"), ("confidence", "OFTReal"),
          ("entropy", "OFTReal"), ("disagreement", "OFTReal"), ("labelled", "OFTReal"), ("focus_class", "OFTString"),
          ("top_class", "OFTString"), ("top_share", "OFTReal"))


@dataclass
class SuggestedWindow:
    """One window to label: where it is, its rank and score, and why."""

    rank: int
    score: float
    why: str
    scene: str
    col: int  # top-left pixel on the scene's grid
    row: int
    size: int
    corners: list[tuple[float, float]]  # map coordinates, clockwise from the top-left
    confidence: float
    entropy: float
    disagreement: float
    labelled: float
    focus_class: str
    top_class: str
    top_share: float

    def values(self) -> dict[str, Any]:
        return {"rank": self.rank, "score": self.score, "why": self.why, "scene": self.scene, "col": self.col,
                "row": self.row, "size_px": self.size, "confidence": self.confidence, "entropy": self.entropy,
                "disagreement": self.disagreement, "labelled": self.labelled, "focus_class": self.focus_class,
                "top_class": self.top_class, "top_share": self.top_share}


def write_windows(destination: str, windows: list[SuggestedWindow], crs: Any) -> str:
    """Write ``windows`` as the one layer of a new GeoPackage at ``destination`` (named after the file), with its
    default style."""
    def style(data: Any, name: str) -> None:
        add_default_style(data, name, STYLE.read_text(encoding="utf-8"), "DualStream: windows to label, by rank")

    rows = ((_outline(w.corners), [w.values()[name] for name, _ in FIELDS]) for w in windows)
    write_layer(destination, crs, FIELDS, rows, geometry="Polygon", then=style)
    return str(destination)


def _outline(corners: list[tuple[float, float]]) -> str:
    """The window's polygon (WKT) through its corners, exactly: no vertex added, so that a window written in
    another CRS than its scene's comes back to its scene's own corners."""
    ring = ", ".join(f"{float(x)!r} {float(y)!r}" for x, y in [*corners, corners[0]])
    return f"POLYGON(({ring}))"
