"""Layers of files that share one name, told apart by their folders.

A change dataset as published names a pair's files alike in A/, B/ and label/ (LEVIR-CD: ``A/train_36_0512_0512.png``,
``B/...``, ``label/...``). QGIS names a layer after its file, so every layer combo of the change forms listed
"train_36_0512_0512" three times. Layers still named after their file whose names collide are named by folder and
file instead (``A/train_36_0512_0512``; more folders where those agree too). A layer the user renamed keeps its name.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsMapLayer, QgsProject, QgsProviderRegistry

MOST_FOLDERS = 3  # folders named at most before the file's own name


def layer_file(layer: QgsMapLayer) -> Path | None:
    """The local file behind a layer of the GDAL or OGR provider, None for any other layer."""
    if layer.providerType() not in ("gdal", "ogr"):
        return None
    path = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source()).get("path") or ""
    return Path(path) if path and Path(path).is_file() else None


def folder_name(path: Path, folders: int) -> str:
    """``path``'s stem after its last ``folders`` folders: ``A/train_36`` for 1."""
    return "/".join([*path.parent.parts[len(path.parent.parts) - folders:], path.stem]) if folders else path.stem


def _named_after_file(layer: QgsMapLayer, path: Path) -> bool:
    """Whether the layer's name is its file's (as QGIS names it, or as this module did)."""
    return any(layer.name() == folder_name(path, folders) for folders in range(MOST_FOLDERS + 1))


def distinguish(project: QgsProject) -> dict[str, str]:
    """Name the project's layers that share a file name by folder and file; {layer id: new name} of those renamed."""
    groups: dict[str, list[tuple[QgsMapLayer, Path]]] = {}
    for layer in project.mapLayers().values():
        path = layer_file(layer)
        if path is not None and _named_after_file(layer, path):
            groups.setdefault(path.stem, []).append((layer, path))
    renamed = {}
    for members in groups.values():
        if len({path.resolve() for _, path in members}) < 2:
            continue
        for folders in range(1, MOST_FOLDERS + 1):
            names = [folder_name(path, folders) for _, path in members]
            if len(set(names)) == len({path.resolve() for _, path in members}):
                break
        for (layer, _), name in zip(members, names):
            if layer.name() != name:
                layer.setName(name)
                renamed[layer.id()] = name
    return renamed
