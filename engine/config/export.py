"""Settings of exporting a model bundle to ONNX (ExportConfig): a command-line job only (no Processing algorithm),
so each field says why QGIS does not offer it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..declarations import Settings, check, check_choices, setting
from ..errors import mention
from .inference import DEFAULT_OVERLAP

DEFAULT_OPSET = 17  # export: onnxruntime >= 1.13 (and so Deepness's usual installs) run it

NO_QGIS = "export is a command-line job (dualstream export); QGIS has no export algorithm"


@dataclass
class ExportConfig(Settings):
    """How a bundle becomes an ONNX model (the files it writes are the command's ``--onnx`` and ``--stac``)."""

    tile_size: int | None = setting(
        None, metavar="N", no_qgis=NO_QGIS, default_note="the bundle's",
        help="Tile edge in pixels, a multiple of the model's size multiple.")
    opset: int = setting(DEFAULT_OPSET, no_qgis=NO_QGIS, help="ONNX opset version.")
    dynamic_batch: bool = setting(False, no_qgis=NO_QGIS,
                                  help="Any batch size (default: a fixed batch of --batch-size).")
    batch_size: int = setting(1, no_qgis=NO_QGIS, help="The fixed batch size.")
    single_input: bool = setting(
        False, no_qgis=NO_QGIS,
        help="One input tensor: the vision bands, then the X / aux channels (Deepness feeds one tensor); for models "
             "whose second stream is on the image grid (CMX with --x-bands, early fusion).")
    overlap: float = setting(DEFAULT_OVERLAP, no_qgis=NO_QGIS, help="Tile overlap (share of the tile) recorded for "
                                                                    "Deepness.")
    quantize: str = setting(
        "none", choices=("none", "int8"), no_qgis=NO_QGIS,
        help="int8: onnxruntime static quantization (QDQ, per-channel int8 weights). Optional: on a 2-core VM "
             "2.4-2.7x faster than fp32 for UNet light (IoU 0.003 lower on the sample), not faster for UNet tiny or "
             "DualStream b0 (docs/benchmarks.md, int8); measure speed and IoU on your own machine and scenes.")

    #: The largest fixed batch exported: the export traces the graph with a batch this size (and checks it).
    MAX_BATCH = 1024

    def __post_init__(self) -> None:
        check_choices(self, "export")
        check(1 <= self.batch_size <= self.MAX_BATCH,
              f"{mention('export.batch_size')} must be from 1 to {self.MAX_BATCH} tiles (got {self.batch_size}); "
              f"the export runs the model on a batch that size. For any batch, give {mention('export.dynamic_batch')}.")
        check(math.isfinite(self.overlap) and 0.0 <= self.overlap < 0.9,
              f"{mention('export.overlap')} must be a share of the tile in [0, 0.9) (got {self.overlap}).")
