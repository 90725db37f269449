"""Write the Graphical Modeler models shipped in docs/models/ (run with QGIS's Python: ``make models``).

- ``segment_evaluate.model3``: Segment with DualStream -> Fill NoData cells (native) -> Evaluate segmentation:
  a scene segmented, its nodata filled with background, scored against reference labels; every step's output is
  a temporary output that feeds the next.
- ``train_segment.model3``: Train DualStream -> Segment with DualStream: the bundle Train writes is the Model of
  Segment (a model output: a trained model must not vanish with QGIS's temporary folder).
- ``ready_segment.model3``: Get a ready model -> Segment with DualStream: a model of the catalogue, named by the
  model's input, fetched (or found in the models folder) and wired as the Model of Segment.
- ``train_detect_change.model3``: Train change detection -> Detect change: a change model trained on one pair of
  dates and its change labels, then the change of a second pair found with it (change raster and change table).
- ``train_segment_season.model3``: Train season -> Segment season: a season model trained on the dates of one place
  (any order) and its land-cover or crop labels, then another season (another place or year) mapped with it: the
  class raster and the area of each class.

The models are built through PyQGIS's model API, so they say what QGIS itself would save from the Modeler.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "docs" / "models"


def _child(model, algorithm_id: str, child_id: str, description: str, x: float):
    from qgis.core import QgsProcessingModelChildAlgorithm
    from qgis.PyQt.QtCore import QPointF

    child = QgsProcessingModelChildAlgorithm(algorithm_id)
    child.setChildId(child_id)
    child.setDescription(description)
    child.setPosition(QPointF(x, 200))
    return child


def _input(model, parameter, x: float, y: float = 60):
    from qgis.core import QgsProcessingModelParameter
    from qgis.PyQt.QtCore import QPointF

    component = QgsProcessingModelParameter(parameter.name())
    component.setPosition(QPointF(x, y))
    model.addModelParameter(parameter, component)


def _output(child, output: str, name: str, description: str, mandatory: bool = False) -> None:
    from qgis.core import QgsProcessingModelOutput

    out = QgsProcessingModelOutput(name, description)
    out.setChildOutputName(output)
    out.setMandatory(mandatory)
    outputs = dict(child.modelOutputs())
    outputs[name] = out
    child.setModelOutputs(outputs)


def segment_evaluate():
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingParameterFile,
        QgsProcessingParameterMapLayer,
        QgsProcessingParameterRasterLayer,
        QgsProcessingParameterString,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Source,
    )

    model = QgsProcessingModelAlgorithm("Segment, fill and evaluate", "DualStream")
    model.setHelpContent({"ALG_DESC": "Segments a scene with a DualStream model, fills the class raster's nodata "
                                      "with class 0 (native:fillnodata) and scores it against reference labels."})
    _input(model, QgsProcessingParameterRasterLayer("image", "Image layer"), 0)
    _input(model, QgsProcessingParameterFile("model", "Model (.dsmodel)", extension="dsmodel"), 200)
    _input(model, QgsProcessingParameterMapLayer("labels", "Reference labels (raster or polygons)",
                                                 types=[QgsProcessing.TypeRaster, QgsProcessing.TypeVectorPolygon]),
           400)
    _input(model, QgsProcessingParameterString("class_field", "Class field (polygon labels)", optional=True), 600)
    segment = _child(model, "dualstream:segment", "segment", "Segment with DualStream", 100)
    segment.addParameterSources("INPUT", [Source.fromModelParameter("image")])
    segment.addParameterSources("MODEL", [Source.fromModelParameter("model")])
    segment.addParameterSources("OUTPUT", [Source.fromStaticValue("TEMPORARY_OUTPUT")])
    model.addChildAlgorithm(segment)
    fill = _child(model, "native:fillnodata", "fill", "Fill NoData cells", 300)
    fill.addParameterSources("INPUT", [Source.fromChildOutput("segment", "OUTPUT")])
    fill.addParameterSources("BAND", [Source.fromStaticValue(1)])
    fill.addParameterSources("FILL_VALUE", [Source.fromStaticValue(0)])
    model.addChildAlgorithm(fill)
    evaluate = _child(model, "dualstream:evaluate", "evaluate", "Evaluate segmentation", 500)
    evaluate.addParameterSources("INPUT", [Source.fromChildOutput("fill", "OUTPUT")])
    evaluate.addParameterSources("LABELS", [Source.fromModelParameter("labels")])
    evaluate.addParameterSources("LABEL_FIELD", [Source.fromModelParameter("class_field")])
    evaluate.addParameterSources("LABEL_VALUES", [Source.fromStaticValue(1)])
    _output(evaluate, "OUTPUT", "metrics", "Metrics (JSON)")
    model.addChildAlgorithm(evaluate)
    return model


def train_segment():
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingParameterMapLayer,
        QgsProcessingParameterNumber,
        QgsProcessingParameterRasterLayer,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Source,
    )

    model = QgsProcessingModelAlgorithm("Train, then segment", "DualStream")
    model.setHelpContent({"ALG_DESC": "Trains a DualStream model on an image and its labels, then segments a "
                                      "second image with the model just trained."})
    _input(model, QgsProcessingParameterRasterLayer("image", "Training image"), 0)
    _input(model, QgsProcessingParameterMapLayer("labels", "Labels (raster or polygons)",
                                                 types=[QgsProcessing.TypeRaster, QgsProcessing.TypeVectorPolygon]),
           200)
    _input(model, QgsProcessingParameterRasterLayer("scene", "Image to segment"), 400)
    _input(model, QgsProcessingParameterNumber("minutes", "Training time (minutes)",
                                               QgsProcessingParameterNumber.Double, 5.0, minValue=0.01), 600)
    train = _child(model, "dualstream:train", "train", "Train DualStream", 100)
    train.addParameterSources("INPUT", [Source.fromModelParameter("image")])
    train.addParameterSources("LABELS", [Source.fromModelParameter("labels")])
    train.addParameterSources("TIME_BUDGET", [Source.fromModelParameter("minutes")])
    _output(train, "OUTPUT", "bundle", "Model bundle")
    model.addChildAlgorithm(train)
    segment = _child(model, "dualstream:segment", "segment", "Segment with DualStream", 400)
    segment.addParameterSources("INPUT", [Source.fromModelParameter("scene")])
    segment.addParameterSources("MODEL", [Source.fromChildOutput("train", "OUTPUT")])
    _output(segment, "OUTPUT", "classes", "Class raster")
    model.addChildAlgorithm(segment)
    return model


def ready_segment():
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingParameterRasterLayer,
        QgsProcessingParameterString,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Source,
    )

    model = QgsProcessingModelAlgorithm("Get a ready model, then segment", "DualStream")
    model.setHelpContent({"ALG_DESC": "Fetches a ready model of DualStream's catalogue (or takes the one already in "
                                      "the models folder) and segments an image with it. The image needs the "
                                      "model's bands (picked by name where the image names them) in the values "
                                      "it was made for."})
    _input(model, QgsProcessingParameterString("ready_model", "Ready model (its name in the catalogue)",
                                               "ukis-csmask-4b-l1c"), 0)
    _input(model, QgsProcessingParameterRasterLayer("image", "Image to segment"), 250)
    get = _child(model, "dualstream:getmodel", "get", "Get a ready model", 100)
    get.addParameterSources("MODEL", [Source.fromModelParameter("ready_model")])
    model.addChildAlgorithm(get)
    segment = _child(model, "dualstream:segment", "segment", "Segment with DualStream", 400)
    segment.addParameterSources("INPUT", [Source.fromModelParameter("image")])
    segment.addParameterSources("MODEL", [Source.fromChildOutput("get", "OUTPUT")])
    _output(segment, "OUTPUT", "classes", "Class raster")
    model.addChildAlgorithm(segment)
    return model


def train_detect_change():
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingParameterMapLayer,
        QgsProcessingParameterNumber,
        QgsProcessingParameterRasterLayer,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Source,
    )

    model = QgsProcessingModelAlgorithm("Train change detection, then detect change", "DualStream")
    model.setHelpContent({"ALG_DESC": "Trains a change model on two dates of one place and the labels of what "
                                      "changed between them, then finds the change between two dates of another "
                                      "place with the model just trained: its change raster and change table."})
    _input(model, QgsProcessingParameterRasterLayer("before", "Training pair: first date"), 0)
    _input(model, QgsProcessingParameterRasterLayer("after", "Training pair: later date"), 200)
    _input(model, QgsProcessingParameterMapLayer("labels", "Change labels (raster or polygons)",
                                                 types=[QgsProcessing.TypeRaster, QgsProcessing.TypeVectorPolygon]),
           400)
    _input(model, QgsProcessingParameterRasterLayer("new_before", "New pair: first date"), 600)
    _input(model, QgsProcessingParameterRasterLayer("new_after", "New pair: later date"), 800)
    _input(model, QgsProcessingParameterNumber("minutes", "Training time (minutes)",
                                               QgsProcessingParameterNumber.Double, 5.0, minValue=0.01), 1000)
    train = _child(model, "dualstream:trainchange", "train", "Train change detection", 200)
    train.addParameterSources("INPUT", [Source.fromModelParameter("before")])
    train.addParameterSources("AFTER", [Source.fromModelParameter("after")])
    train.addParameterSources("LABELS", [Source.fromModelParameter("labels")])
    train.addParameterSources("TIME_BUDGET", [Source.fromModelParameter("minutes")])
    # a model's file lasts: the temporary file Processing offers by default is refused by training, so the output is
    # required and says so before Run
    _output(train, "OUTPUT", "bundle", "Change model (.dsmodel: choose a file; a temporary file is refused)",
            mandatory=True)
    model.addChildAlgorithm(train)
    detect = _child(model, "dualstream:detectchange", "detect", "Detect change", 600)
    detect.addParameterSources("INPUT", [Source.fromModelParameter("new_before")])
    detect.addParameterSources("AFTER", [Source.fromModelParameter("new_after")])
    detect.addParameterSources("MODEL", [Source.fromChildOutput("train", "OUTPUT")])
    _output(detect, "OUTPUT", "change", "Change raster")
    _output(detect, "OUTPUT_TABLE", "table", "Change table")
    model.addChildAlgorithm(detect)
    # the dialog lists the inputs in this order (else by name: each later date above its first date)
    model.setParameterOrder(["before", "after", "labels", "minutes", "new_before", "new_after"])
    return model


def train_segment_season():
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingParameterMapLayer,
        QgsProcessingParameterMultipleLayers,
        QgsProcessingParameterNumber,
        QgsProcessingParameterString,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Source,
    )

    model = QgsProcessingModelAlgorithm("Train season, then segment season", "DualStream")
    model.setHelpContent({"ALG_DESC": "Trains a season model on the dated images of one place (any order) and a "
                                      "label of what is there (crop types, land cover), then maps the classes of "
                                      "another season (another place or year) with the model just trained: its "
                                      "class raster and the area of each class."})
    _input(model, QgsProcessingParameterMultipleLayers("dates", "Training season: its dates (any order)",
                                                       QgsProcessing.TypeRaster), 0)
    _input(model, QgsProcessingParameterMapLayer("labels", "Land cover or crop labels (raster or polygons)",
                                                 types=[QgsProcessing.TypeRaster, QgsProcessing.TypeVectorPolygon]),
           200)
    _input(model, QgsProcessingParameterString("label_field", "Class field of the polygons (empty: a raster of "
                                                              "classes)", optional=True), 400)
    _input(model, QgsProcessingParameterString("label_mapping", "Label mapping (VALUE=CLASS, e.g. maize=0, "
                                                                "wheat=1; empty: the values are classes)",
                                               optional=True), 600)
    _input(model, QgsProcessingParameterString("class_names", "Class names (comma-separated)"), 800)
    _input(model, QgsProcessingParameterNumber("minutes", "Training time (minutes)",
                                               QgsProcessingParameterNumber.Double, 5.0, minValue=0.01), 1000)
    _input(model, QgsProcessingParameterMultipleLayers("new_dates", "Season to map: its dates (any order)",
                                                       QgsProcessing.TypeRaster), 1200)
    train = _child(model, "dualstream:trainseason", "train", "Train season", 300)
    for parameter, source in (("DATES", "dates"), ("LABELS", "labels"), ("LABEL_FIELD", "label_field"),
                              ("LABEL_MAPPING", "label_mapping"), ("CLASS_NAMES", "class_names"),
                              ("TIME_BUDGET", "minutes")):
        train.addParameterSources(parameter, [Source.fromModelParameter(source)])
    _output(train, "OUTPUT", "bundle", "Season model (.dsmodel: choose a file; a temporary file is refused)",
            mandatory=True)
    model.addChildAlgorithm(train)
    segment = _child(model, "dualstream:segmentseason", "segment", "Segment season", 800)
    segment.addParameterSources("DATES", [Source.fromModelParameter("new_dates")])
    segment.addParameterSources("MODEL", [Source.fromChildOutput("train", "OUTPUT")])
    _output(segment, "OUTPUT", "classes", "Classes of the season mapped")
    _output(segment, "OUTPUT_TABLE", "areas", "Area of each class")
    model.addChildAlgorithm(segment)
    model.setParameterOrder(["dates", "labels", "label_field", "label_mapping", "class_names", "minutes", "new_dates"])
    return model


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, build in (("segment_evaluate", segment_evaluate), ("train_segment", train_segment),
                        ("ready_segment", ready_segment), ("train_detect_change", train_detect_change),
                        ("train_segment_season", train_segment_season)):
        model = build()
        model.setName(model.name())
        path = FOLDER / f"{name}.model3"
        if not model.toFile(str(path)):
            print(f"could not write {path}", file=sys.stderr)
            return 1
        print(path)
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
