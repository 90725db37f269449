"""Where a run's result layers go in the Layers panel: together, in a fixed order, the main one selected.

Processing loads the output layers of a run one by one, in the order of their file paths, each on top of the
previous one, and calls each layer's post-processor right after adding it. So the probability raster
(``..._probabilities.tif``) came above the class raster, and the polygons under the probabilities (hidden). A
:class:`RunLayers` is shared by the post-processors of one run: every time one of its layers arrives it puts
the run's layers loaded so far in their rank order (rank 0 on top), optionally inside a group, expands the
legend of the layers that ask for it and makes the chosen layer the current one.
"""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsLayerTreeGroup, QgsLayerTreeLayer, QgsMapLayer, QgsProject


@dataclass
class _Entry:
    layer_id: str
    rank: int
    expanded: bool
    visible: bool


class RunLayers:
    """The layers of one run, kept together in rank order (see the module docstring)."""

    def __init__(self, group: str | None = None):
        self.group = group
        self.entries: list[_Entry] = []
        self.current_id: str | None = None

    def add(self, layer: QgsMapLayer, rank: int, project: QgsProject | None = None, *, current: bool = False,
            expanded: bool = False, visible: bool = True) -> None:
        """Record ``layer`` (just loaded) and arrange every layer of the run loaded so far."""
        self.entries = [e for e in self.entries if e.layer_id != layer.id()]
        self.entries.append(_Entry(layer.id(), rank, expanded, visible))
        if current:
            self.current_id = layer.id()
        self.arrange(project or QgsProject.instance())

    def _parent(self, root: QgsLayerTreeGroup, nodes: list[QgsLayerTreeLayer]) -> QgsLayerTreeGroup:
        if self.group:
            group = root.findGroup(self.group)
            return group if group is not None else root.insertGroup(0, self.group)
        return nodes[0].parent() if nodes and nodes[0].parent() is not None else root

    def arrange(self, project: QgsProject) -> None:
        root = project.layerTreeRoot()
        entries = sorted(self.entries, key=lambda e: e.rank)
        nodes = [root.findLayer(e.layer_id) for e in entries]
        placed = [(e, n) for e, n in zip(entries, nodes) if n is not None]
        if not placed:
            return
        parent = self._parent(root, [n for _, n in placed])
        ids = {entry.layer_id for entry, _ in placed}
        ours = [i for i, child in enumerate(parent.children())
                if isinstance(child, QgsLayerTreeLayer) and child.layerId() in ids]
        # insert the clones before our first node there, then drop the originals: a layer whose node is removed
        # while no other node shows it would leave the project
        index = ours[0] if ours else 0
        for offset, (entry, node) in enumerate(placed):
            clone = node.clone()
            clone.setItemVisibilityChecked(entry.visible if node.itemVisibilityChecked() else False)
            clone.setExpanded(entry.expanded)
            parent.insertChildNode(index + offset, clone)
        for _, node in placed:
            node.parent().removeChildNode(node)
        self._select(project)

    def _select(self, project: QgsProject) -> None:
        """Make the chosen layer the current one of the Layers panel (desktop only)."""
        layer = project.mapLayer(self.current_id) if self.current_id else None
        if layer is None:
            return
        try:
            from qgis.utils import iface
        except ImportError:
            return
        if iface is not None and hasattr(iface, "layerTreeView") and iface.layerTreeView() is not None:
            iface.layerTreeView().setCurrentLayer(layer)
