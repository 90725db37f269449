"""Runs that load their outputs as the dialog does, and what the loaded layers show (the change tests share them)."""

from __future__ import annotations

PROJECTS: list = []


def run_loading(alg_id: str, params: dict, loaded: tuple[str, ...]) -> tuple[dict, dict]:
    """processing.run as the dialog runs it: the outputs in ``loaded`` opened on completion into a project of
    their own (Processing's own result loading); (results, the project's layers by name)."""
    import processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import QgsProcessingContext, QgsProcessingOutputLayerDefinition, QgsProject

    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    params = {key: QgsProcessingOutputLayerDefinition(str(value), project) if key in loaded else value
              for key, value in params.items()}
    results = processing.run(alg_id, params, onFinish=handleAlgorithmResults, context=context)
    PROJECTS.append(project)  # its layers live as long as it does
    return results, {layer.name(): layer for layer in project.mapLayers().values()}


def palette(layer) -> dict[int, tuple[str, int]]:
    """A paletted raster layer's classes: value -> (label, alpha)."""
    from qgis.core import QgsPalettedRasterRenderer

    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer), type(renderer).__name__
    return {int(c.value): (c.label, c.color.alpha()) for c in renderer.classes()}


def table_rows(layer) -> list[dict]:
    return [{field.name(): feature[field.name()] for field in layer.fields()} for feature in layer.getFeatures()]
