"""Segment's Bands: a text field that takes band numbers and names as typed (``4,3,2`` or ``red,green,blue``), with
a picker listing the bands of the image layer, or of the STAC item (by asset key), chosen above it.

QGIS's band parameter lists only the bands of a raster layer parameter: it was empty for a STAC item and turned
typed names into band 0. Imported by Processing's GUI only (the BANDS parameter names :class:`BandsWrapper` in its
``widget_wrapper`` metadata), never by ``qgis_process``; there BANDS is text.
"""

from __future__ import annotations

from typing import Any

from processing.gui.wrappers import DIALOG_STANDARD, WidgetWrapper
from qgis.PyQt.QtWidgets import QHBoxLayout, QLineEdit, QMenu, QToolButton, QWidget

from .band_menu import fill_band_menu, stac_choices, toggled
from .model_summary import band_descriptions
from .widgets import ModelerSourceSelector

__all__ = ["BandsWrapper", "toggled"]


class BandsWrapper(ModelerSourceSelector, WidgetWrapper):
    """The bands as text, with a "..." menu of the bands the chosen image layer or STAC item has: a click adds
    a band at the end (numbers for an image layer, names for a STAC item), a second click removes it."""

    def createWidget(self, image: str = "INPUT", stac: str = "STAC_ITEM", **kwargs: Any):  # noqa: N802
        self.watched = {"image": image, "stac": stac}
        self.inputs: dict[str, Any] = {}
        self.text = QLineEdit()
        self.text.setPlaceholderText(self.tr("numbers or names, in the model's order: 4,3,2 or red,green,blue"))
        self.text.textChanged.connect(lambda _text: self.widgetValueHasChanged.emit(self))
        self.button = None
        if self.dialogType != DIALOG_STANDARD:
            return self.text
        widget = QWidget()
        layout = QHBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text, 1)
        self.button = QToolButton()
        self.button.setText("\u2026")
        self.button.setToolTip(self.tr("Pick the bands of the image layer or STAC item, in the model's order"))
        self.menu = QMenu(self.button)
        self.menu.aboutToShow.connect(self.fill_menu)
        self.button.setMenu(self.menu)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        layout.addWidget(self.button)
        return widget

    def postInitialize(self, wrappers: list[Any]) -> None:  # noqa: N802 - Processing API
        roles = {name: role for role, name in self.watched.items() if name}
        for wrapper in wrappers:
            role = roles.get(wrapper.parameterDefinition().name())
            if role:
                self.inputs[role] = wrapper
                wrapper.widgetValueHasChanged.connect(self.refresh)
        self.refresh()

    def choices(self) -> list[tuple[str, str]]:
        """(what a click writes, what the menu shows) for each band offered now: the image layer's bands by
        number (with their descriptions), else the STAC item's by asset key; empty when neither is known."""
        image = self.inputs.get("image")
        names = band_descriptions(image.parameterValue()) if image is not None else None
        if names:
            return [(str(number), f"{number}: {name}" if name else f"Band {number}")
                    for number, name in enumerate(names, start=1)]
        stac = self.inputs.get("stac")
        return stac_choices(stac.parameterValue()) if stac is not None else []

    def refresh(self, *_args: Any) -> None:
        """The picker is usable while there are bands to offer."""
        if self.button is not None:
            self.button.setEnabled(bool(self.choices()))

    def fill_menu(self) -> None:
        fill_band_menu(self.menu, self.text, self.choices(), "segment.bands")  # "2,,3" said, as Run says it

    def setValue(self, value: Any) -> None:  # noqa: N802 - Processing API
        if isinstance(value, (list, tuple)):  # a script's or an older dialog's list of band numbers
            value = ",".join(str(item) for item in value)
        self.text.setText("" if value is None else str(value))

    def value(self) -> str:
        return self.text.text().strip()
