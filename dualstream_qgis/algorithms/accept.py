"""Processing algorithm "Accept proposed labels": the checked windows of a proposals layer appended to the label
layer and the labelled area (GeoPackage files through the engine, one transaction each; scratch layers here)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateTransform,
    QgsFeature,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterVectorLayer,
    QgsProject,
    QgsVectorLayer,
)

from ..compat import SOURCE_POLYGON, pick
from ..engine_bridge import engine_api
from ..feedback import render_message, run_engine
from .algorithm import DualStreamAlgorithm
from .common import add_parameter, parameters_help
from .parameters import add_settings, declared_text, read_settings
from .sources import vector_source

NO_THREADING = pick("Qgis.ProcessingAlgorithmFlag.NoThreading", "QgsProcessingAlgorithm.Flag.FlagNoThreading")


class AcceptAlgorithm(DualStreamAlgorithm):
    """The proposals of the accepted windows into the labels, the windows into the labelled area."""

    PROPOSALS = "PROPOSALS"
    WINDOWS = "WINDOWS"
    LABELS = "LABELS"
    LABELLED_AREA = "LABELLED_AREA"
    REQUIRED_PACKAGES = ()

    def name(self) -> str:
        return "accept"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Accept proposed labels")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("The checked windows' proposals appended to your labels, the windows to the labelled area.")

    def flags(self) -> Any:
        # a scratch layer of the project is appended to: that must happen on the main thread
        return super().flags() | NO_THREADING

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Takes the <b>Proposed labels</b> that <b>Propose labels with Segment Anything</b> wrote, as you "
            "corrected them, and appends the polygons of the accepted windows to the <b>Label layer</b> (their "
            "<i>class_id</i> in its class field) and the windows' outlines to the <b>Labelled area</b>. The "
            "accepted windows are the <b>Windows accepted</b> ranks, else the windows of the proposals given "
            "(the selected ones with <i>Selected features only</i>). Both layers may be GeoPackage layers (appended "
            "in one transaction; stop editing them first) or scratch layers. Then train again with <b>Start from "
            "model</b> set to the current model.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "accept.proposals")
        add_parameter(self, QgsProcessingParameterFeatureSource(param, label, [SOURCE_POLYGON]),
                      text + self.tr(" Only selected features counts where ticked."))
        param, label, text = declared_text(self, "accept.windows")
        add_parameter(self, QgsProcessingParameterFeatureSource(param, label, [SOURCE_POLYGON]), text)
        add_settings(self, "accept.window_ids")
        for key in ("accept.labels", "accept.labelled_area"):
            param, label, text = declared_text(self, key)
            add_parameter(self, QgsProcessingParameterVectorLayer(param, label, [SOURCE_POLYGON]),
                          text + self.tr(" A scratch layer works too."))
        add_settings(self, "accept.label_field")
        self.addOutput(QgsProcessingOutputNumber("POLYGONS", self.tr("Polygons appended")))
        self.addOutput(QgsProcessingOutputNumber("WINDOWS", self.tr("Windows appended")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        proposals, _ = vector_source(self, parameters, self.PROPOSALS, context, feedback)
        windows, _ = vector_source(self, parameters, self.WINDOWS, context, feedback)
        scratch = Path(tempfile.mkdtemp(prefix="dualstream-accept-"))
        targets = {key: _target(self, parameters, key, context, scratch) for key in (self.LABELS, self.LABELLED_AREA)}
        api = engine_api()
        settings = read_settings(self, parameters, context, "accept")
        cfg = run_engine(api.AcceptConfig, proposals=proposals, windows=windows, labels=targets[self.LABELS][0],
                         labelled_area=targets[self.LABELLED_AREA][0], **settings)
        label_layer = targets[self.LABELS][1]
        if label_layer is not None and label_layer.fields().lookupField(cfg.label_field) < 0:
            raise QgsProcessingException(f"Parameter LABEL_FIELD_NAME: the label layer '{label_layer.name()}' has no "
                                         f"field '{cfg.label_field}'; give its class field.")
        result = run_engine(api.accept, cfg)
        for path, layer in targets.values():
            if layer is not None:
                _append_scratch(path, layer, context)
        for note in result.notes:
            feedback.pushInfo(render_message(note))
        feedback.pushInfo(f"Accepted window(s) {', '.join(map(str, result.windows))}: {len(result.polygons)} "
                          f"polygon(s) appended to the labels, {len(result.windows)} window(s) to the labelled area.")
        feedback.pushInfo(render_message(_named(result.next_step, targets.values())))
        return {"POLYGONS": len(result.polygons), "WINDOWS": len(result.windows)}


def _named(text: str, targets: Any) -> str:
    """``text`` with the files the engine appended to in place of a scratch layer named as that layer: the user
    trains with their scratch layer, not with the temporary file it was copied from."""
    for path, layer in targets:
        if layer is not None:
            text = text.replace(f"'{path}'", f"the scratch layer '{layer.name()}'")
    return text


def _target(alg: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
            scratch: Path) -> tuple[str, QgsVectorLayer | None]:
    """(what the engine appends to, the scratch layer to copy into afterwards or None) of a destination layer."""
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    if layer is None or not layer.isValid():
        raise QgsProcessingException(f"Parameter {name}: choose a polygon layer (a GeoPackage or a scratch layer).")
    if layer.isEditable():
        raise QgsProcessingException(f"Parameter {name}: '{layer.name()}' is being edited; save and stop editing it, "
                                     f"then accept again (nothing was appended).")
    if layer.providerType() == "memory":
        return str(scratch / f"{name.lower()}.gpkg"), layer  # the engine writes a new file, copied in below
    if layer.providerType() != "ogr":
        raise QgsProcessingException(f"Parameter {name}: '{layer.name()}' ({layer.providerType()}) cannot be "
                                     f"appended to; use a GeoPackage or a scratch layer.")
    return layer.source(), None


def _append_scratch(path: str, layer: QgsVectorLayer, context: QgsProcessingContext) -> None:
    """The features the engine wrote to ``path`` added to the scratch ``layer`` (same-named fields copied)."""
    written = QgsVectorLayer(path, "accepted", "ogr")
    transform = QgsCoordinateTransform(written.crs(), layer.crs(), context.transformContext() or
                                       QgsProject.instance().transformContext())
    fields = layer.fields()
    features = []
    for source in written.getFeatures():
        feature = QgsFeature(fields)
        geometry = source.geometry()
        geometry.transform(transform)
        feature.setGeometry(geometry)
        for index in range(fields.count()):
            name = fields.at(index).name()
            if source.fields().lookupField(name) >= 0:
                feature.setAttribute(index, source[name])
        features.append(feature)
    if not layer.dataProvider().addFeatures(features):
        raise QgsProcessingException(f"The scratch layer '{layer.name()}' did not take the accepted features.")
    layer.updateExtents()
    layer.triggerRepaint()
