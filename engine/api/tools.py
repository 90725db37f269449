"""The smaller jobs: describe, export (ONNX, int8, STAC card) and import a model, check the environment, make the
sample data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle.describe import describe_bundle
from ..bundle.imported import ImportedDescription, description_values
from ..bundle.model_files import ImportResult, import_onnx, read_model_metadata
from ..bundle.onnx_metadata import PARITY_TOLERANCE
from ..config.inference import DEFAULT_OVERLAP, ExportConfig
from ..data.synthetic import make_sample, sample_files
from ..errors import ConfigError
from ..io.atomic import temporary_path
from ..io.safety import BUNDLE_GIVE, Files, check_outputs, check_writable
from ..runtime.environment import environment_report, require
from ..runtime.environment import format_report as format_environment
from .protocol import Callback

__all__ = ["DEFAULT_OVERLAP", "PARITY_TOLERANCE", "ExportRun", "ImportResult",
           "ImportedDescription", "check_environment", "describe_model", "description_values", "environment_report",
           "export", "format_environment", "import_model", "make_sample", "read_model_metadata", "require",
           "sample_files"]


def describe_model(path: str) -> list[str]:
    """A model file (a bundle or any ONNX model) described in a few lines a person reads, without its weights."""
    return describe_bundle(path, read_model_metadata(path))


def import_model(onnx: str, output: str, description: ImportedDescription | None = None,
                 changes: dict[str, Any] | None = None, callback: Callback | None = None,
                 output_name: str = "output", names: dict[str, str] | None = None) -> ImportResult:
    """Wrap an ONNX segmentation model made elsewhere in a bundle (``output``, a .dsmodel). Its description comes
    from Deepness's metadata in the file, a sidecar ``MODEL.json``, ``description`` (which replaces both), then
    ``changes`` (keys of :class:`ImportedDescription` over all of them). ``output_name``: how errors name the output;
    ``names``: how they name each key of ``changes``. Every value is checked before anything is written."""
    return import_onnx(onnx, output, description, changes, callback, output_name, names)


def check_environment() -> tuple[dict[str, Any], str]:
    """(what is installed and usable, as data; the same as text): Python packages, versions, GPU."""
    report = environment_report()
    return report, format_environment(report)


@dataclass
class ExportRun:
    """What ``export`` wrote: the ONNX export's result (None for a card alone), the int8 check, the card."""

    onnx: Any = None  # engine.export.onnx_export.ExportResult
    int8: Any = None  # engine.export.onnx_export.quantize_int8's comparison with fp32
    card: str | None = None


def export(model: str, onnx: str | None = None, stac: str | None = None, settings: ExportConfig | None = None,
           callback: Callback | None = None) -> ExportRun:
    """Export a bundle to ONNX as ``settings`` say (``quantize="int8"``: the fp32 export, parity-checked, then its
    int8 version), and/or write its STAC MLM card. Every file is checked before any work: no output onto the
    bundle or onto another."""
    from ..export.onnx_export import export_onnx, quantize_int8

    if not onnx and not stac:
        raise ConfigError("Nothing to export: give an ONNX file, a STAC item file, or both.")
    check_outputs(inputs={"model bundle (MODEL)": Files(model, "bundle", give=BUNDLE_GIVE)},
                  outputs={"STAC item (--stac)": Files(stac, "json"), "ONNX model (--onnx)": Files(onnx, "onnx")})
    settings = settings or ExportConfig()
    onnx_settings = {k: v for k, v in settings.to_dict().items() if k != "quantize"}  # the export's keywords
    run = ExportRun()
    if onnx and settings.quantize == "int8":  # the fp32 export (parity-checked) beside the output, then its int8
        check_writable(onnx, "ONNX model")  # before the fp32 export names its temporary file
        fp32 = temporary_path(onnx, ".onnx")
        try:
            run.onnx = export_onnx(model, fp32, callback=callback, **onnx_settings)
            run.int8 = quantize_int8(fp32, onnx)
        finally:
            Path(fp32).unlink(missing_ok=True)
        run.onnx.output = str(onnx)
    elif onnx:
        run.onnx = export_onnx(model, onnx, callback=callback, **onnx_settings)
    if stac:
        from ..export.stac import write_model_card

        run.card = str(write_model_card(model, stac, onnx=onnx))
    return run

