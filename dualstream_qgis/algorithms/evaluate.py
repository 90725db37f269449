"""Processing algorithm "Evaluate segmentation": a predicted class raster against labels -> metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
)

from ..compat import SOURCE_POLYGON, SOURCE_VECTOR, WKB_NO_GEOMETRY, field_types
from ..engine_bridge import engine_api
from ..feedback import EVALUATE_STAGES, Stages, run_engine
from ..styling import layer_post_processor
from .algorithm import DualStreamAlgorithm
from .common import (
    EnumNamesMixin,
    add_parameter,
    class_field_parameter,
    ensure_parent,
    enum_value,
    label_field,
    parameters_help,
)
from .parameters import add_settings, declared_text, read_settings
from .sources import LabelLayerParameter, RasterLayerParameter, input_name, label_source, raster_source
from .train_form import is_temporary
from .web_layers import WebLayer

#: Label values: how the labels become classes (index 0 is the default).
LABEL_VALUE_CHOICES = ("the model's training values", "class numbers", "this mapping")


class EvaluateAlgorithm(EnumNamesMixin, DualStreamAlgorithm):
    """Compares a class raster with a label layer: IoU, F1, precision, recall per class, confusion matrix."""

    INPUT = "INPUT"
    LABELS = "LABELS"
    LABEL_FIELD = "LABEL_FIELD"
    LABEL_VALUES = "LABEL_VALUES"
    LABEL_MAPPING = "LABEL_MAPPING"
    OUTPUT = "OUTPUT"
    OUTPUT_HTML = "OUTPUT_HTML"
    OUTPUT_TABLE = "OUTPUT_TABLE"

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Evaluate segmentation")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Measure a class raster against reference labels (IoU, F1, precision, recall).")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Compares a predicted class raster (e.g. the output of <b>Segment with DualStream</b>) with "
            "reference labels, pixel by pixel on the prediction's grid.</p>"
            "<p><b>Inputs</b>: the <b>predicted raster</b> (class numbers), the <b>label layer</b> (a raster of "
            "class values, or polygons: every polygon is class 1 unless a class field is chosen; any CRS). The "
            "classes come from the prediction. <b>Label values are</b> says how the labels become classes: "
            "<i>the model's training values</i> (the mapping the model was trained with, e.g. 90 -> 1, which "
            "Segment with DualStream writes into the prediction), <i>class numbers</i> (0, 1, 2, ... as they are) "
            "or <i>this mapping</i> (the pairs in <b>Label mapping</b>, e.g. 90=1).</p>"
            "<p><b>Outputs</b>: a <b>JSON</b> file with per-class IoU, F1, precision and recall, mean IoU, pixel "
            "accuracy and the confusion matrix (a CSV with the same name is written beside it), an <b>HTML</b> "
            "summary for the Results viewer, and a <b>table</b> with one row per class. A <b>change raster</b> "
            "(Detect change, Compare classifications: class 0 is <i>no change</i>) is also scored on change itself "
            "against a change label: change precision, recall, F1 and IoU, any kind of change found against any "
            "change labelled.</p>"
            "<p><b>Typical workflow</b>: segment a scene you hold labels for (not used in training), evaluate it, "
            "compare models or TTA settings by their mean IoU.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "evaluate.prediction")
        add_parameter(self, RasterLayerParameter(param, label), text)
        param, label, text = declared_text(self, "evaluate.label")
        add_parameter(self, LabelLayerParameter(param, label, [SOURCE_POLYGON]), text)
        param, label, text = declared_text(self, "evaluate.label_field")
        add_parameter(self, class_field_parameter(param, label), text)
        add_parameter(self, QgsProcessingParameterEnum(
            self.LABEL_VALUES, self.tr("Label values are"), options=list(LABEL_VALUE_CHOICES), defaultValue=0),
            self.tr("How the label layer's values become classes. The model's training values: the label mapping "
                    "the model was trained with (e.g. 90 -> 1), which Segment writes into the class raster; for a "
                    "raster from elsewhere the values are taken as class numbers. Class numbers: the values are "
                    "0, 1, 2, ... as they are. This mapping: the pairs in Label mapping."))
        add_settings(self, "evaluate.label_mapping")
        param, label, text = declared_text(self, "evaluate.output")
        add_parameter(self, QgsProcessingParameterFileDestination(param, label, self.tr("JSON files (*.json)")), text)
        param, label, text = declared_text(self, "evaluate.html")
        add_parameter(self, QgsProcessingParameterFileDestination(param, label, self.tr("HTML files (*.html)"),
                                                                  optional=True),
                      text + self.tr(" It is shown in the Results viewer."))
        add_parameter(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, self.tr("Metrics table"), SOURCE_VECTOR, optional=True),
            self.tr("A table (no geometry) with one row per class: class_id, class_name, iou, f1, precision, "
                    "recall."))
        self.addOutput(QgsProcessingOutputNumber("MIOU", self.tr("Mean IoU")))
        self.addOutput(QgsProcessingOutputNumber("PIXEL_ACCURACY", self.tr("Pixel accuracy")))
        self.addOutput(QgsProcessingOutputNumber("FOREGROUND_IOU", self.tr("Foreground IoU (binary)")))
        for key in CHANGE_SCORES:  # a change raster's (class 0 "no change"): change found against change labelled
            self.addOutput(QgsProcessingOutputNumber(f"CHANGE_{key.upper()}", self.tr(f"Change {key} (a change "
                                                                                      f"raster's)")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        prediction = raster_source(parameters, self.INPUT, context)
        if isinstance(prediction, WebLayer):
            raise QgsProcessingException(f"Parameter {self.INPUT}: '{prediction.name}' is a web layer, a picture of "
                                         f"a map, not class numbers; choose the class raster written by Segment.")
        label, label_layer = label_source(self, parameters, self.LABELS, context, feedback)
        field = label_field(label_layer, self.parameterAsString(parameters, self.LABEL_FIELD, context),
                            self.LABEL_FIELD, feedback)
        mapping = self._label_mapping(parameters, context, feedback)
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if not output:
            raise QgsProcessingException("Parameter OUTPUT: choose where to save the metrics (.json).")
        if Path(output).suffix.lower() != ".json":
            output = str(Path(output).with_suffix(".json"))
        ensure_parent(output, self.OUTPUT)
        html_path = ensure_parent(self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context) or None,
                                  self.OUTPUT_HTML)
        api = engine_api()
        cfg = run_engine(api.EvaluateConfig, prediction=prediction, label=label, output=output,
                         label_field=field, label_mapping=mapping, html=html_path)
        evaluation = run_engine(api.evaluate, cfg, self.callback(feedback, Stages(EVALUATE_STAGES)))
        metrics, rows, per_class = evaluation.metrics, evaluation.rows, evaluation.per_class
        for row in rows:
            feedback.pushInfo(f"class {row['class_id']} ({row['class_name']}): "
                              + ", ".join(f"{k}={_fmt(row[k])}" for k in per_class))
        feedback.pushInfo(f"mean IoU {_fmt(metrics.get('miou'))}, pixel accuracy {_fmt(metrics.get('pixel_accuracy'))}")
        change = metrics.get("change") or {}
        if change:
            feedback.pushInfo("Change (any change found against any change labelled): "
                              + ", ".join(f"{key} {_fmt(change.get(key))}" for key in CHANGE_SCORES))
        results: dict[str, Any] = {
            self.OUTPUT: output,
            "MIOU": _rounded(metrics.get("miou")),
            "PIXEL_ACCURACY": _rounded(metrics.get("pixel_accuracy")),
            "FOREGROUND_IOU": _rounded(metrics.get("foreground_iou")),
            **{f"CHANGE_{key.upper()}": _rounded(change.get(key)) for key in CHANGE_SCORES},
        }
        if html_path:
            results[self.OUTPUT_HTML] = html_path
        if parameters.get(self.OUTPUT_TABLE) is not None:
            sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT_TABLE, context, table_fields(),
                                                 WKB_NO_GEOMETRY)
            if sink is not None:
                for row in rows:
                    feature = QgsFeature(table_fields())
                    feature.setAttributes([row["class_id"], row["class_name"],
                                           *[_number(row[k]) for k in per_class]])
                    sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
                results[self.OUTPUT_TABLE] = dest_id
                if context.willLoadLayerOnCompletion(dest_id):
                    context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(layer_post_processor(
                        self._table_name(parameters, context, prediction, label, label_layer, dest_id)))
        return results


    def _table_name(self, parameters: dict[str, Any], context: QgsProcessingContext, prediction: str, label: str,
                    label_layer: QgsMapLayer | None, table: str) -> str:
        """The metrics table's layer name: the file chosen for it, else "<prediction> vs <labels> metrics" (three
        evaluations of one prediction were three "<prediction> metrics")."""
        if Path(str(table).split("|")[0]).suffix and not is_temporary(str(table)):
            return Path(str(table).split("|")[0]).stem
        labels = label_layer.name() if label_layer is not None else input_name(
            parameters.get(self.LABELS), label, context)
        given = parameters.get(self.LABELS)
        if isinstance(given, QgsProcessingFeatureSourceDefinition) and given.selectedFeaturesOnly:
            labels += " (selected)"
        return f"{input_name(parameters.get(self.INPUT), prediction, context)} vs {labels} metrics"

    def _label_mapping(self, parameters: dict[str, Any], context: QgsProcessingContext,
                       feedback: QgsProcessingFeedback) -> dict[str, int] | None:
        """EvaluateConfig.label_mapping from Label values: None (the model's), {} (class numbers) or the pairs."""
        text = self.parameterAsString(parameters, self.LABEL_MAPPING, context).strip()
        if parameters.get(self.LABEL_VALUES) in (None, "") and text:
            choice = "this mapping"  # a script that gives only the mapping means it
        else:
            choice = enum_value(self, parameters, self.LABEL_VALUES, context, LABEL_VALUE_CHOICES)
        feedback.pushInfo(f"Label values are {choice}" + (f": {text}" if choice == "this mapping" else ""))
        if choice == "class numbers":
            if text:
                feedback.pushWarning(f"Label mapping '{text}' is not used: Label values is 'class numbers'.")
            return {}
        if choice == "this mapping":
            if not text:
                raise QgsProcessingException(
                    "Parameter LABEL_MAPPING: Label values is 'this mapping' but Label mapping is empty; write the "
                    "pairs (VALUE=CLASS, e.g. 90=1), or set Label values to 'class numbers' or 'the model's "
                    "training values'.")
            return run_engine(read_settings, self, parameters, context, "evaluate")["label_mapping"]
        if text:
            feedback.pushWarning(f"Label mapping '{text}' is not used: Label values is 'the model's training "
                                 "values'; choose 'this mapping' to score with it.")
        return None


#: The change scores the engine gives a change raster (``metrics["change"]``), in the order the log says them.
CHANGE_SCORES = ("precision", "recall", "f1", "iou")


def table_fields() -> QgsFields:
    integer, text, real = field_types()
    fields = QgsFields()
    fields.append(QgsField("class_id", integer))
    fields.append(QgsField("class_name", text))
    for name in engine_api().PER_CLASS:
        fields.append(QgsField(name, real))
    return fields


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _rounded(value: Any) -> float | None:
    """A score for the results (QGIS prints them in the log): 4 decimals; the JSON keeps every digit."""
    number = _number(value)
    return None if number is None else round(number, 4)


def _fmt(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.4f}"
