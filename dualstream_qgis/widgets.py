"""Dialog widgets for parameters whose QGIS 3.22 widgets lose or hide values. Imported by Processing's GUI only
(parameters name these classes by string in their ``widget_wrapper`` metadata), never by ``qgis_process``.

* :class:`LayerListWrapper`: QGIS 3.22's multiple-layer widget ignores values set on the dialog
  (``MultipleLayerWidgetWrapper.setValue`` is a ``pass  # TODO`` for the standard dialog), so aux layers passed
  by ``createAlgorithmDialog``/``setParameters`` or a History re-run came back as "0 inputs selected"; and it
  showed only a count, while the order of the aux layers matters: it now shows "1. name; 2. name".
* :class:`ClassFieldWrapper`: the polygon labels' class field as an editable list of the label layer's fields.
  A ``QgsProcessingParameterField`` on the label layer crashed QGIS 3.22 when that layer is a raster, so the
  parameter is a string; this widget follows the label layer and lists its fields only when it has some, and
  chooses the field named like the classes (left empty, every polygon is class 1). It also makes the label
  layer's own widget (QGIS's feature-source widget, with its "Selected features only" box) list raster layers too
  (:func:`offer_raster_labels`).
* :class:`ClassColorsWrapper`: one colour button per class name (they follow the class names), the text
  ``#rrggbb,...`` kept beside them so colours can still be pasted.
* :class:`ModelerSourceSelector`: in the Graphical Modeler each of these parameters gets QGIS's own modeler widget
  instead, with its source selector (a value, a model input, another algorithm's output), so a model can wire
  Segment's Model to Train's bundle, the aux layers and the class field to inputs or outputs.
* :class:`TrainModeWrapper`: Train's two modes (layers, or a dataset folder) shown as such, and the model bundle
  output without a temporary default (see ``algorithms/train_form.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from processing.gui.wrappers import DIALOG_BATCH, DIALOG_STANDARD, MultipleLayerWidgetWrapper, WidgetWrapper
from qgis.core import (
    QgsMapLayer,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingUtils,
    QgsProject,
    QgsVectorLayer,
)
from qgis.gui import QgsColorButton, QgsGui, QgsMapLayerComboBox
from qgis.PyQt import sip
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from .algorithms.common import likely_class_field, split_list
from .compat import FILTER_POLYGON, FILTER_RASTER
from .engine_bridge import engine_api


class ModelerSourceSelector:
    """Mixed into a dialog wrapper: in the Graphical Modeler's parameter dialog it is not made at all, and QGIS's
    own modeler widget for the parameter is returned in its place (a value, a model input or another algorithm's
    output: the source selector a custom widget lacks). ``WidgetWrapperFactory`` makes a wrapper by calling its
    class; ``__new__`` returning another object skips ``__init__``."""

    def __new__(cls, param: Any = None, dialog: Any = None, *args: Any, **kwargs: Any):
        if dialog is not None and dialog.__class__.__name__ == "ModelerParametersDialog":
            widget = QgsGui.processingGuiRegistry().createModelerParameterWidget(
                dialog.model, dialog.childId, param, dialog.context)
            if widget is not None:
                widget.setDialog(dialog)
                return widget
        return super().__new__(cls)


def _matches(layer: QgsMapLayer, value: Any) -> bool:
    if isinstance(value, QgsMapLayer):
        return value.id() == layer.id()
    text = str(value)
    return text in (layer.id(), layer.source(), layer.source().split("|")[0])


class LayerListWrapper(ModelerSourceSelector, MultipleLayerWidgetWrapper):
    """The standard multiple-raster widget, plus values set from outside (layer ids, sources or file paths) and
    the chosen layers shown in their order."""

    def createWidget(self):  # noqa: N802 - Processing API
        widget = super().createWidget()
        if self.dialogType == DIALOG_STANDARD and hasattr(widget, "selectionChanged"):
            widget.selectionChanged.connect(self.show_order)
        return widget

    def postInitialize(self, wrappers: list[Any]) -> None:  # noqa: N802 - Processing API
        super().postInitialize(wrappers)
        if self.dialogType == DIALOG_STANDARD:  # a form without Train's mode choice (Train season): its numbers too
            show_automatic(wrappers)

    def show_order(self) -> None:
        """Write the chosen layers, numbered in stacking order, into the panel's text (layers read in their own
        order, a season's dates: unnumbered, said to be read in time order)."""
        names = [item.name() if isinstance(item, QgsMapLayer) else Path(str(item)).name
                 for item in (self.value() or [])]
        if not names or not hasattr(self.widget, "leText"):
            return
        if self.parameterDefinition().metadata().get("dualstream_any_order"):
            self.widget.leText.setText(f"{len(names)} chosen, read in time order: " + "; ".join(names))
        else:
            self.widget.leText.setText("; ".join(f"{index}. {name}" for index, name in enumerate(names, 1)))

    def setValue(self, value: Any) -> None:  # noqa: N802 - Processing API
        if self.dialogType == DIALOG_BATCH and isinstance(value, (list, tuple)):
            # the batch cell is a text field of ';'-separated sources; QGIS's own setValue calls setText(list)
            value = ";".join(item.source() if isinstance(item, QgsMapLayer) else str(item) for item in value)
        if self.dialogType != DIALOG_STANDARD or value is None:
            super().setValue(value)
            return
        values = value if isinstance(value, (list, tuple)) else [value]
        layers = QgsProcessingUtils.compatibleRasterLayers(QgsProject.instance(), False)
        selected: list[Any] = []
        for item in values:
            index = next((i for i, layer in enumerate(layers) if _matches(layer, item)), None)
            # A file that is not in the project stays selected as its path (the panel shows paths as they are).
            selected.append(index if index is not None else str(item))
        self.widget.setSelectedItems(selected)
        self.show_order()


def _vector_layer(value: Any) -> QgsVectorLayer | None:
    """The vector layer a map-layer widget's value names (a layer, a layer id or a file path, or a feature source
    of one: "Selected features only"), else None."""
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        value = value.source.staticValue()
    if isinstance(value, QgsMapLayer):
        layer = value
    elif value:
        layer = QgsProject.instance().mapLayer(str(value))
        if layer is None and Path(str(value).split("|")[0]).is_file():
            layer = QgsVectorLayer(str(value), "labels", "ogr")  # only its field names are read
    else:
        layer = None
    return layer if isinstance(layer, QgsVectorLayer) and layer.isValid() else None


def offer_raster_labels(wrapper: Any) -> None:
    """QGIS's feature-source widget of a label layer (its "Selected features only" box) listing raster layers of
    class values beside the polygon layers; the box is cleared and disabled while a raster is chosen.

    The label parameter is a feature source (``sources.LabelLayerParameter``) so that QGIS makes that box; QGIS
    lists only vector layers for one, and a label layer may be a raster."""
    widget = _widget_and_label(wrapper)[0]
    # the list inside QGIS's widget reaches Python as a plain QComboBox (findChild by its own class finds none)
    combos = [child for child in (widget.findChildren(QComboBox) if widget is not None else [])
              if child.metaObject().className() == "QgsMapLayerComboBox"]
    if not combos:
        return
    combo = sip.cast(combos[0], QgsMapLayerComboBox)
    combo.setFilters(FILTER_RASTER | FILTER_POLYGON)
    box = widget.findChild(QCheckBox)

    def layer_chosen(layer: Any) -> None:
        # QGIS's widget updates the box for vector layers only: a raster chosen after ticked polygons kept it
        if box is not None and layer is not None and not isinstance(layer, QgsVectorLayer):
            box.setChecked(False)
            box.setEnabled(False)

    combo.layerChanged.connect(layer_chosen)


class ClassFieldWrapper(ModelerSourceSelector, WidgetWrapper):
    """An editable list of the label layer's fields (empty and disabled while the labels are a raster)."""

    def createWidget(self, parent: str = "LABELS", **kwargs: Any):  # noqa: N802 - Processing API
        self.parent_name = parent
        self.parent_wrapper = None
        self.preselected = ""  # the field chosen for the user (replaced when the label layer changes)
        if self.dialogType != DIALOG_STANDARD:
            return QLineEdit()
        combo = QComboBox()
        combo.setEditable(True)
        combo.lineEdit().setPlaceholderText("(none: every polygon is class 1)")
        combo.currentTextChanged.connect(lambda _text: self.widgetValueHasChanged.emit(self))
        return combo

    def postInitialize(self, wrappers: list[Any]) -> None:  # noqa: N802 - Processing API
        for wrapper in wrappers:
            if wrapper.parameterDefinition().name() == self.parent_name and isinstance(self.widget, QComboBox):
                offer_raster_labels(wrapper)
                self.parent_wrapper = wrapper
                wrapper.widgetValueHasChanged.connect(self.refresh_fields)
                self.refresh_fields()

    def refresh_fields(self, *_args: Any) -> None:
        """List the fields of the label layer now chosen; keep what was typed, else choose the field named like
        the classes (class*, label*, categor*): left empty, every polygon would be class 1."""
        layer = _vector_layer(self.parent_wrapper.parameterValue()) if self.parent_wrapper is not None else None
        current = self.widget.currentText()
        names = [field.name() for field in layer.fields()] if layer is not None else []
        if not current or current == self.preselected:
            current = likely_class_field(names) or ""
            self.preselected = current
        self.widget.blockSignals(True)
        self.widget.clear()
        if layer is not None:
            self.widget.addItems([""] + names)
        self.widget.setEditText(current)
        self.widget.blockSignals(False)
        self.widget.setEnabled(layer is not None or bool(current))
        self.widgetValueHasChanged.emit(self)

    def fields(self) -> list[str]:
        """The field names offered now (for tests)."""
        if not isinstance(self.widget, QComboBox):
            return []
        return [self.widget.itemText(i) for i in range(self.widget.count()) if self.widget.itemText(i)]

    def setValue(self, value: Any) -> None:  # noqa: N802 - Processing API
        text = "" if value is None else str(value)
        if isinstance(self.widget, QComboBox):
            self.widget.setEditText(text)
        else:
            self.widget.setText(text)

    def value(self) -> str:
        return (self.widget.currentText() if isinstance(self.widget, QComboBox) else self.widget.text()).strip()


class ClassColorsWrapper(ModelerSourceSelector, WidgetWrapper):
    """Colour buttons, one per class name of the ``names`` parameter, over the comma-separated text."""

    def createWidget(self, names: str = "CLASS_NAMES", **kwargs: Any):  # noqa: N802 - Processing API
        self.names_name = names
        self.names_wrapper = None
        self.buttons: list[QgsColorButton] = []
        self.picked = False  # colours the user chose are kept; else they follow the names, as headless
        self.text = QLineEdit()
        self.text.textEdited.connect(self.colors_picked)
        if self.dialogType != DIALOG_STANDARD:
            return self.text
        widget = QWidget()
        layout = QHBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        self.row = QHBoxLayout()
        layout.addLayout(self.row)
        layout.addWidget(self.text, 1)
        self.text.editingFinished.connect(self.sync_buttons)
        return widget

    def postInitialize(self, wrappers: list[Any]) -> None:  # noqa: N802 - Processing API
        for wrapper in wrappers:
            if wrapper.parameterDefinition().name() == self.names_name and self.dialogType == DIALOG_STANDARD:
                self.names_wrapper = wrapper
                wrapper.widgetValueHasChanged.connect(self.sync_buttons)
        self.sync_buttons()

    def colors(self) -> list[str]:
        return split_list(self.text.text())

    def class_names(self) -> list[str]:
        if self.names_wrapper is None:
            return []
        return split_list(self.names_wrapper.parameterValue())

    def colors_picked(self, *_args: Any) -> None:
        self.picked = True

    def sync_buttons(self, *_args: Any) -> None:
        """One button per class: pad missing colours, drop extra ones, show them."""
        if self.dialogType != DIALOG_STANDARD:
            return
        colors, names = self.colors(), self.class_names()
        count = len(names) or len(colors)
        # what the algorithm does headless: colours left at their default come from the class names
        colors = engine_api().fill_class_colors(colors if self.picked else [], count, names)
        while len(self.buttons) > len(colors):
            button = self.buttons.pop()
            self.row.removeWidget(button)
            button.deleteLater()
        while len(self.buttons) < len(colors):
            button = QgsColorButton()
            button.setMinimumWidth(36)
            button.setShowMenu(False)
            button.colorChanged.connect(self.buttons_changed)
            self.row.addWidget(button)
            self.buttons.append(button)
        for button, color in zip(self.buttons, colors):
            button.blockSignals(True)
            button.setColor(QColor(color))
            button.blockSignals(False)
        self.text.setText(",".join(colors))

    def buttons_changed(self, *_args: Any) -> None:
        self.picked = True
        self.text.setText(",".join(button.color().name() for button in self.buttons))
        self.widgetValueHasChanged.emit(self)

    def setValue(self, value: Any) -> None:  # noqa: N802 - Processing API
        self.text.setText("" if value is None else str(value))
        # a value other than the default (a model's, the last run's) is the user's choice
        self.picked = self.value() not in ("", self.parameterDefinition().defaultValue() or "")
        self.sync_buttons()

    def value(self) -> str:
        return self.text.text().strip()


def _widget_and_label(wrapper: Any) -> tuple[QWidget | None, QLabel | None]:
    """The input widget and the label of a Processing wrapper (Python wrappers and QGIS's own)."""
    if isinstance(wrapper, WidgetWrapper):
        return wrapper.widget, wrapper.label
    return wrapper.wrappedWidget(), wrapper.wrappedLabel()


class TrainModeWrapper(WidgetWrapper):
    """Train's "Training data" choice: the chosen mode's parameters shown as required (no "[optional]"), the other
    mode's greyed out and marked unused; and the model bundle output asks for a file (no temporary default)."""

    def createWidget(self, **kwargs: Any):  # noqa: N802 - Processing API
        from .algorithms.train_form import MODES

        self.others: dict[str, Any] = {}
        self.labels: dict[str, str] = {}
        combo = QComboBox()
        combo.addItems(list(MODES))
        combo.currentIndexChanged.connect(self.apply_mode)
        combo.currentIndexChanged.connect(lambda _index: self.widgetValueHasChanged.emit(self))
        return combo

    def createLabel(self):  # noqa: N802 - Processing API
        # optional to Processing (scripts may leave it out), but the dialog always has a mode
        return None if self.dialogType == DIALOG_BATCH else QLabel(self.parameterDefinition().description())

    def postInitialize(self, wrappers: list[Any]) -> None:  # noqa: N802 - Processing API
        if self.dialogType != DIALOG_STANDARD:
            return
        self.others = {wrapper.parameterDefinition().name(): wrapper for wrapper in wrappers}
        self.apply_mode()
        self.require_output()
        show_automatic(wrappers)

    def apply_mode(self, *_args: Any) -> None:
        from .algorithms.train_form import MODE_PARAMETERS, REQUIRED

        mode = self.value()
        for parameters_mode, names in MODE_PARAMETERS.items():
            for name in names:
                wrapper = self.others.get(name)
                if wrapper is None:
                    continue
                widget, label = _widget_and_label(wrapper)
                active = parameters_mode == mode
                if widget is not None:
                    widget.setEnabled(active)
                if label is None:
                    continue
                shown = self.labels.setdefault(name, label.text())
                description = wrapper.parameterDefinition().description()
                if not active:
                    shown = f"{description} (not used)"
                elif name in REQUIRED[parameters_mode]:
                    shown = description
                label.setText(shown)

    def require_output(self) -> None:
        """The bundle's file widget: a placeholder asking for a file instead of "[Save to temporary file]", and no
        "Save to a Temporary File" in its menu (the run is refused with a temporary file: it is deleted when QGIS
        closes, and the training's result with it)."""
        wrapper = self.others.get("OUTPUT")
        widget = wrapper.wrappedWidget() if wrapper is not None and not isinstance(wrapper, WidgetWrapper) else None
        if widget is None:
            return
        text = widget.findChild(QLineEdit)
        if text is not None and not text.text():
            text.setPlaceholderText(self.tr("Required: choose where to save the model bundle (.dsmodel)"))
        button = widget.findChild(QToolButton)
        menu = button.menu() if button is not None else None
        if menu is not None:
            # QGIS rebuilds the menu each time it opens; this runs after it
            menu.aboutToShow.connect(lambda: [action.setVisible(False) for action in menu.actions()
                                              if "temporary" in action.text().lower()])

    def setValue(self, value: Any) -> None:  # noqa: N802 - Processing API
        from .algorithms.train_form import LAYERS, mode_index

        index = mode_index(value) if value not in (None, "") else None
        self.widget.setCurrentIndex(LAYERS if index is None else index)

    def value(self) -> int:
        return self.widget.currentIndex()


def show_automatic(wrappers: list[Any]) -> None:
    """Numbers the engine chooses when left unset (``parameters.AUTOMATIC_KEY``) show the engine's word for it where
    QGIS's number box shows "Not set" or its least value when that stands for the choice (the box's special value),
    and in their label where QGIS writes "[optional]": optional to Processing, but chosen by the engine when left
    so."""
    from qgis.PyQt.QtWidgets import QAbstractSpinBox

    from .algorithms.parameters import AUTOMATIC_KEY

    for wrapper in wrappers:
        word = wrapper.parameterDefinition().metadata().get(AUTOMATIC_KEY)
        widget = wrapper.wrappedWidget() if word and not isinstance(wrapper, WidgetWrapper) else None
        if widget is None:
            continue
        label = wrapper.wrappedLabel()
        if label is not None:
            label.setText(f"{wrapper.parameterDefinition().description()} [{word}]")
        boxes = [widget] if isinstance(widget, QAbstractSpinBox) else widget.findChildren(QAbstractSpinBox)
        for box in boxes:
            box.setSpecialValueText(word)
