"""Processing algorithm "Accept proposed labels": the checked windows of a proposals layer appended to the label
layer and the labelled area (GeoPackage files through the engine, one transaction each; scratch layers here)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateTransform,
    QgsExpression,
    QgsExpressionContext,
    QgsExpressionContextUtils,
    QgsFeature,
    QgsFeatureRequest,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterVectorLayer,
    QgsProject,
    QgsVectorFileWriter,
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
            "in one transaction; stop editing them first) or scratch layers. A window accepted before (its outline "
            "in the labelled area, or its polygons in the label layer) is refused with nothing appended, whatever "
            "the kind of layer: no label goes into training twice. A layer filtered in QGIS (Query Builder) is "
            "appended to only where its filter shows all that is appended (a label it hid would not be trained on); "
            "else nothing is appended. Then train again with <b>Start from model</b> set to the current model.</p>"
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
        try:
            targets = [_target(self, parameters, key, context, scratch) for key in (self.LABELS, self.LABELLED_AREA)]
            api = engine_api()
            settings = read_settings(self, parameters, context, "accept")
            cfg = run_engine(api.AcceptConfig, proposals=proposals, windows=windows, labels=targets[0].source,
                             labelled_area=targets[1].source, **settings)
            try:
                result = run_engine(api.accept, cfg)
            except QgsProcessingException as exc:
                raise QgsProcessingException(_named(str(exc), targets)) from exc
            # the scratch layers take the features only when neither layer's filter would hide any of them
            appended = [target.appended(context) for target in targets]
            for target, features, things in zip(targets, appended, ("polygons accepted", "windows")):
                target.check_filter(features, things)
            for target, features in zip(targets, appended):
                target.add(features)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for note in result.notes:
            feedback.pushInfo(render_message(note))
        feedback.pushInfo(f"Accepted window(s) {', '.join(map(str, result.windows))}: {len(result.polygons)} "
                          f"polygon(s) appended to the labels, {len(result.windows)} window(s) to the labelled area.")
        feedback.pushInfo(render_message(_named(result.next_step, targets, "the scratch layer ")))
        return {"POLYGONS": len(result.polygons), "WINDOWS": len(result.windows)}


class _Target:
    """A destination layer as the engine appends to it: a GeoPackage layer as it is; a scratch (memory) layer as a
    GeoPackage copy of its features (so that windows and labels accepted before are found there the same way),
    whose new features are then added to the scratch layer."""

    def __init__(self, source: str, parameter: str, layer: QgsVectorLayer | None = None, copied: int = 0):
        self.source, self.parameter, self.layer, self.copied = source, parameter, layer, copied

    def appended(self, context: QgsProcessingContext) -> list[QgsFeature]:
        """The features the engine appended to the copy (those after the ``copied`` ones), for the scratch layer:
        its fields, its CRS."""
        if self.layer is None:
            return []
        written = QgsVectorLayer(self.source, "accepted", "ogr")
        transform = QgsCoordinateTransform(written.crs(), self.layer.crs(), context.transformContext() or
                                           QgsProject.instance().transformContext())
        fields = self.layer.fields()
        features = []
        for index, source in enumerate(written.getFeatures(QgsFeatureRequest().addOrderBy("fid"))):
            if index < self.copied:
                continue
            feature = QgsFeature(fields)
            geometry = source.geometry()
            geometry.transform(transform)
            feature.setGeometry(geometry)
            for position in range(fields.count()):
                name = fields.at(position).name()
                if source.fields().lookupField(name) >= 0:
                    feature.setAttribute(position, source[name])
            features.append(feature)
        written = None  # the file is closed before its folder goes
        return features

    def check_filter(self, features: list[QgsFeature], things: str) -> None:
        """The engine's refusal when the scratch layer's filter (a QGIS expression, which the engine cannot read)
        would hide any of ``features``: QGIS would not show them, training would not read them."""
        subset = self.layer.subsetString() if self.layer is not None else ""
        if not subset or not features:
            return
        expression = QgsExpression(subset)
        context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(self.layer))
        hidden = 0
        for feature in features:
            context.setFeature(feature)
            hidden += not bool(expression.evaluate(context)) or expression.hasEvalError()
        if hidden:
            what = "label layer" if self.parameter == AcceptAlgorithm.LABELS else "labelled area"
            raise QgsProcessingException(str(engine_api().hidden_by_filter(
                what, self.layer.name(), subset, hidden, len(features), things)))

    def add(self, features: list[QgsFeature]) -> None:
        """``features`` added to the scratch layer."""
        if self.layer is None:
            return
        if features and not self.layer.dataProvider().addFeatures(features):
            raise QgsProcessingException(f"The scratch layer '{self.layer.name()}' did not take the accepted "
                                         f"features.")
        self.layer.updateExtents()
        self.layer.triggerRepaint()


def _named(text: str, targets: list[_Target], what: str = "") -> str:
    """``text`` with the scratch layers' GeoPackage copies named as the layers the user chose (``what`` before
    each name): the user trains with their scratch layer, not with the temporary file it was copied from."""
    for target in targets:
        if target.layer is not None:
            text = text.replace(f"'{target.source}'", f"{what}'{target.layer.name()}'").replace(
                target.source, target.layer.name())
    return text


def _target(alg: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
            scratch: Path) -> _Target:
    """What the engine appends to for the destination parameter ``name``."""
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    if layer is None or not layer.isValid():
        raise QgsProcessingException(f"Parameter {name}: choose a polygon layer (a GeoPackage or a scratch layer).")
    if layer.isEditable():
        raise QgsProcessingException(f"Parameter {name}: '{layer.name()}' is being edited; save and stop editing it, "
                                     f"then accept again (nothing was appended).")
    if layer.providerType() == "memory":
        return _copied(layer, name, scratch / f"{name.lower()}.gpkg", context)
    if layer.providerType() != "ogr":
        raise QgsProcessingException(f"Parameter {name}: '{layer.name()}' ({layer.providerType()}) cannot be "
                                     f"appended to; use a GeoPackage or a scratch layer.")
    return _Target(layer.source(), name)  # a filter (QGIS's subset) comes with it: the engine checks it


def _copied(layer: QgsVectorLayer, name: str, path: Path, context: QgsProcessingContext) -> _Target:
    """The scratch ``layer`` written whole (its CRS, geometry type, fields and every feature, those its filter hides
    too: a label accepted before is found there as well) to the GeoPackage ``path``, for the engine to check and
    append to."""
    whole = layer.clone()  # a memory layer's clone holds its features; the user's layer keeps its filter
    whole.setSubsetString("")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = path.stem
    options.fileEncoding = "UTF-8"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(whole, str(path), context.transformContext(), options)
    if error[0] != 0:
        raise QgsProcessingException(f"Parameter {name}: the scratch layer '{layer.name()}' could not be handed over "
                                     f"({error[1]}); save it as a GeoPackage and accept into that.")
    return _Target(str(path), name, layer, whole.featureCount())
