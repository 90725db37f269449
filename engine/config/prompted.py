"""Settings of ``label`` (PromptedConfig): polygons from Segment Anything prompts over one window of an image.

Each field declares how the command line and the Processing algorithm *Label with Segment Anything* offer it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..declarations import setting
from ..errors import mention
from ..settings import Settings, check
from .values import DEVICES

TREATMENT_CHOICES = ("auto", "regularise", "smooth", "as_is")


def parse_extent(text: str | None) -> tuple[list[float] | None, str]:
    """``xmin,ymin,xmax,ymax`` with an optional ``[CRS]`` after it (QGIS's extent text) -> (numbers, CRS)."""
    if text is None or not str(text).strip():
        return None, ""
    body, _, crs = str(text).strip().partition("[")
    parts = [p for p in body.replace(" ", ",").split(",") if p.strip()]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    check(len(numbers) == 4, f"{mention('label.extent')} '{text}' is not xmin,ymin,xmax,ymax (with an optional "
                             f"[EPSG:XXXX] after it).")
    return numbers, crs.rstrip("]").strip()


@dataclass
class PromptedConfig(Settings):
    """Polygons where Segment Anything answers points, boxes or a text over a window of an image."""

    image: str = setting("", metavar="RASTER", group="input and output", param="INPUT", custom_qgis=True,
                         label="Image", help="The image (a raster file, a URL, a STAC item or a web layer).")
    extent: str | None = setting(
        None, metavar="XMIN,YMIN,XMAX,YMAX[CRS]", group="input and output", param="EXTENT", custom_qgis=True,
        label="Window", help="The window the model looks at, in the image's CRS unless a CRS follows in brackets "
                             "(e.g. 500000,4100000,500512,4100512 [EPSG:32633]); empty: the whole image. It is read "
                             "at the image's pixel size and fitted to the model's 1024-pixel input.")
    prompts: str | None = setting(
        None, flag="--prompts", metavar="LAYER", group="input and output", param="PROMPTS", custom_qgis=True,
        label="Prompts (points or polygons)",
        help="A vector layer: each point is a click (a field 'label' of 0 marks a point that is not the object; "
             "points sharing a value of a field 'prompt' are one prompt), each polygon or line's bounding box is a "
             "box prompt. Any CRS.")
    text: str = setting("", metavar="WORDS", group="input and output", param="TEXT", label="Text (SAM 3)",
                        help="Every object this text names, e.g. building (SAM 3 only).")
    model: str = setting("sam2.1-tiny", metavar="NAME", group="label", param="MODEL", open_choices=True,
                         choices=("sam2.1-tiny", "sam2.1-small", "sam-vit-base", "slimsam", "sam3", "edgetam"),
                         label="Segment Anything model",
                         help="A model by name, any Hugging Face id of a transformers SAM / SAM 2 / SAM 3 checkpoint, "
                              "or a local save_pretrained folder. Downloaded once into the Hugging Face cache.")
    output: str = setting("", flag="--out", metavar="LABELS.gpkg", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Labels",
                          help="GeoPackage of the polygons to write (class, score, prompt).")
    class_value: int = setting(1, metavar="N", group="label", label="Class value", minimum=0,
                               help="The class number every polygon gets (the labels' class_id).")
    class_name: str = setting("", metavar="NAME", group="label", label="Class name",
                              help="The class's name (default: the text, else 'object'); buildings get squared "
                                   "outlines unless the outline is chosen.")
    treatment: str = setting("auto", choices=TREATMENT_CHOICES, group="label", label="Outline",
                             help="regularise (squared: buildings), smooth, as_is (pixel edges); auto: by the "
                                  "class name.")
    min_pixels: float = setting(16.0, metavar="PX", group="label", label="Drop specks under (pixels)", minimum=0.0,
                                advanced=True, help="Polygons and holes smaller than this many pixels are dropped "
                                                    "or filled.")
    device: str = setting("auto", choices=DEVICES, open_choices=True, group="label", label="Device", advanced=True,
                          help="auto: the GPU when CUDA is available, else the CPU.")

    def __post_init__(self) -> None:
        check(self.treatment in TREATMENT_CHOICES,
              f"{mention('label.treatment')} '{self.treatment}' is unknown; use one of {TREATMENT_CHOICES}.")
        check(self.min_pixels >= 0, f"{mention('label.min_pixels')} must be >= 0 (got {self.min_pixels}).")
        check(self.class_value >= 0, f"{mention('label.class_value')} must be >= 0 (got {self.class_value}).")
        parse_extent(self.extent)
