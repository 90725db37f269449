"""An input as the model takes it, without copying a pixel: a GDAL VRT that picks the input's bands in the
model's order and brings their values to the model's units (``value * scale + offset``, as float32), and a VRT
stacking single-band files (a STAC item's COGs, read remotely through ``/vsicurl/`` window by window).

The VRTs are written to a temporary folder that :class:`InputFiles` removes when the run is over; the source
files are never written to.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from ..errors import DataError
from ..io.atomic import write_text_atomic
from ..io.network import apply_defaults
from ..runtime.environment import require
from .raster import band_count
from .units import Scaling

SCALED_NODATA = -9999.0  # nodata of a rescaled band: the source's nodata value may be a valid scaled value


@dataclass
class InputFiles:
    """The temporary folder of one run's input VRTs (created on first use, removed by :meth:`close`)."""

    folder: Path | None = None
    written: list[Path] = field(default_factory=list)

    def path(self, name: str) -> Path:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="dualstream-input-"))
        self.folder.mkdir(parents=True, exist_ok=True)  # a folder given (kept beside an output): made when used
        path = self.folder / name
        self.written.append(path)
        return path

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _source_xml(source: str, band: int, width: int, height: int, nodata: float | None = None,
                scaling: tuple[float, float] | None = None) -> str:
    """A band's source: as it is, or (``scaling``: scale, offset) its values scaled, ``nodata`` left out."""
    rect = "".join(f'<{r} xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>' for r in ("SrcRect", "DstRect"))
    head = f'<SourceFilename relativeToVRT="0">{escape(source)}</SourceFilename><SourceBand>{band}</SourceBand>{rect}'
    if scaling is None:
        return f"<SimpleSource>{head}</SimpleSource>"
    extra = f"<NODATA>{nodata!r}</NODATA>" if nodata is not None else ""
    return (f"<ComplexSource>{head}{extra}<ScaleOffset>{scaling[1]!r}</ScaleOffset>"
            f"<ScaleRatio>{scaling[0]!r}</ScaleRatio></ComplexSource>")


def pick_vrt(source: str, bands: Sequence[int], names: Sequence[str], destination: Path,
             scaling: Scaling | None = None, nodata: float | None = None,
             metadata: dict[str, str] | None = None) -> str:
    """A VRT at ``destination`` of ``source``'s 1-based ``bands`` in that order, described by ``names``, and
    (``scaling`` given) their values times scale plus offset as float32, nodata kept as nodata.
    ``nodata``: the value the product says is nodata, for the bands that declare none (Sentinel-2's 0). The
    source's alpha band becomes the VRT's mask; ``metadata``: the dataset's items (a date's acquisition tag). Written
    whole or not at all: processes of one torchrun making the same VRT never read a part of another's."""
    write_text_atomic(destination, with_metadata(pick_vrt_text(source, bands, names, scaling, nodata), metadata))
    return str(destination)


def with_metadata(text: str, metadata: dict[str, str] | None) -> str:
    """A VRT's XML ``text`` with the dataset ``metadata`` items written in: opening the VRT to set them would
    rewrite the file in place, which another torchrun process may be reading."""
    if not metadata:
        return text
    head, _, rest = text.partition(">")
    items = "".join(f'<MDI key="{escape(k)}">{escape(str(v))}</MDI>' for k, v in metadata.items())
    return f"{head}>\n<Metadata>{items}</Metadata>{rest}"


def pick_vrt_text(source: str, bands: Sequence[int], names: Sequence[str], scaling: Scaling | None = None,
                  nodata: float | None = None) -> str:
    """The XML of :func:`pick_vrt`."""
    rasterio = require("rasterio")
    try:
        with rasterio.open(source) as ds:
            width, height, crs, transform = ds.width, ds.height, ds.crs, ds.transform
            dtypes, nodatas, alpha = ds.dtypes, ds.nodatavals, list(range(band_count(ds) + 1, ds.count + 1))
    except rasterio.errors.RasterioIOError as exc:
        raise DataError(f"'{source}' cannot be read as a raster ({exc}).") from exc
    parts = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if crs is not None:
        parts.append(f"<SRS>{escape(crs.to_wkt())}</SRS>")
    parts.append("<GeoTransform>" + ", ".join(repr(float(v)) for v in transform.to_gdal()) + "</GeoTransform>")
    gdal_types = {"uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
                  "int32": "Int32", "float32": "Float32", "float64": "Float64"}
    for i, band in enumerate(bands):
        declared = nodatas[band - 1] if nodatas[band - 1] is not None else nodata
        kind = "Float32" if scaling is not None else gdal_types.get(dtypes[band - 1], "Float32")
        out_nodata = (SCALED_NODATA if scaling is not None else declared) if declared is not None else None
        pair = (float(scaling.scale[i]), float(scaling.offset[i])) if scaling is not None else None
        parts.append(f'<VRTRasterBand dataType="{kind}" band="{i + 1}">'
                     f"<Description>{escape(str(names[i]))}</Description>"
                     + (f"<NoDataValue>{out_nodata!r}</NoDataValue>" if out_nodata is not None else "")
                     + _source_xml(source, band, width, height, declared, pair) + "</VRTRasterBand>")
    if alpha:  # the source's alpha band stays the picked bands' mask (where the image is valid)
        parts.append(f'<MaskBand><VRTRasterBand dataType="Byte">{_source_xml(source, alpha[0], width, height)}'
                     "</VRTRasterBand></MaskBand>")
    parts.append("</VRTDataset>")
    return "\n".join(parts)


def stack_vrt(sources: Sequence[str], names: Sequence[str], destination: Path) -> str:
    """A VRT at ``destination`` stacking the first band of each of ``sources`` in that order, on the finest grid
    among them (coarser bands repeated, nearest neighbour); DataError when they do not share a CRS or overlap."""
    gdal = require("osgeo.gdal")
    gdal.UseExceptions()
    apply_defaults()
    try:
        dataset = gdal.BuildVRT(str(destination), list(sources), separate=True, resolution="highest")
    except RuntimeError as exc:
        raise DataError(f"The bands {', '.join(names)} ({', '.join(sources)}) cannot be stacked: {exc}. Check that "
                        f"each is a readable raster (a URL must be reachable).") from exc
    if dataset is None or dataset.RasterCount != len(sources):
        got = 0 if dataset is None else dataset.RasterCount
        dataset = None  # closed now: written later, it would fail once the run's temporary folder is gone
        raise DataError(f"The bands {', '.join(names)} could not be stacked into one raster (they must share a CRS; "
                        f"got {got} of {len(sources)}).")
    for i, name in enumerate(names):
        dataset.GetRasterBand(i + 1).SetDescription(str(name))
    dataset.FlushCache()
    dataset = None
    return str(destination)


def cloud_masked_vrt(source: str, bands: Sequence[int], cloud: str, cloud_band: int, destination: Path,
                     metadata: dict[str, str] | None = None) -> str:
    """A VRT at ``destination`` of ``source``'s ``bands`` whose mask is clear where band ``cloud_band`` of ``cloud``
    (``source`` itself, or a raster on its grid) is 0 and masked where it is not (a cloud, its shadow): a date's
    clouds become its invalid pixels for every reader, with no pixel copied. Its own nodata stays nodata and its bands
    keep their descriptions; ``metadata`` as :func:`pick_vrt`'s."""
    rasterio = require("rasterio")
    with rasterio.open(source) as ds, rasterio.open(cloud) as mask:
        if (mask.width, mask.height) != (ds.width, ds.height):
            raise DataError(f"The cloud mask '{cloud}' ({mask.width}x{mask.height} px) is not on the grid of its date "
                            f"'{source}' ({ds.width}x{ds.height} px): give the mask on its date's grid (gdalwarp "
                            f"-te/-ts of the date), or the clouds as nodata in the date itself.")
        width, height = ds.width, ds.height
        names = [ds.descriptions[b - 1] or "" for b in bands]  # its bands keep their names (read by name)
    rect = "".join(f'<{r} xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>' for r in ("SrcRect", "DstRect"))
    # the LUT maps 0 (clear) to 255 (valid) and anything from 0.5 up (cloud classes) to 0 (masked)
    mask_xml = (f'<MaskBand><VRTRasterBand dataType="Byte"><ComplexSource><SourceFilename relativeToVRT="0">'
                f"{escape(str(cloud))}</SourceFilename><SourceBand>{cloud_band}</SourceBand>{rect}"
                "<LUT>0:255,0.5:0</LUT></ComplexSource></VRTRasterBand></MaskBand>")
    head, _, _ = pick_vrt_text(source, bands, names).partition("<MaskBand>")  # an alpha mask gives way
    # one whole write: a reader (another torchrun process) never meets the VRT without its clouds
    write_text_atomic(destination, with_metadata(head.replace("</VRTDataset>", "") + mask_xml + "\n</VRTDataset>",
                                                 metadata))
    return str(destination)
