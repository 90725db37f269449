"""The polygon labels' class field: the one named like the classes is recognised, and the log says which field
is used or that every polygon becomes class 1 although a likely field exists."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.qgis


def test_likely_class_field_prefers_class_then_label_then_category():
    from dualstream_qgis.algorithms.common import likely_class_field

    assert likely_class_field(["fid", "kind", "Class_ID"]) == "Class_ID"
    assert likely_class_field(["fid", "category", "label"]) == "label"
    assert likely_class_field(["fid", "Categorie"]) == "Categorie"
    assert likely_class_field(["fid", "kind", "area"]) is None


def test_the_log_names_the_field_used_or_the_one_left_unused(qgis_app, tmp_path):
    from qgis.core import QgsProcessingFeedback, QgsVectorLayer

    from dualstream_qgis.algorithms.common import label_field
    from engine.data.synthetic import make_scene

    polygons = make_scene(tmp_path, "p", size=(64, 64), aux_channels=0, seed=3)["label_vector"]
    layer = QgsVectorLayer(polygons, "labels", "ogr")

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines: list[str] = []

        def pushInfo(self, info):  # noqa: N802 - QGIS API
            self.lines.append(info)

        def pushWarning(self, warning):  # noqa: N802 - QGIS API
            self.lines.append(f"WARNING {warning}")

    feedback = Feedback()
    assert label_field(layer, "CLASS", "LABEL_FIELD", feedback) == "class"  # the layer's own spelling
    assert feedback.lines == ["Class field: 'class' of 'labels' (its values are the polygons' classes)."]
    feedback.lines.clear()
    assert label_field(layer, "", "LABEL_FIELD", feedback) is None
    assert feedback.lines[0].startswith("WARNING LABEL_FIELD is empty: every polygon of 'labels' is class 1")
    assert "field 'class' looks like the classes" in feedback.lines[0]
