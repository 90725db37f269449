"""The band groups of the Presto and Galileo releases (nasaharvest, MIT), and an image's bands placed in them by name.

Torch-free. Both releases embed each *group* of bands with its own projection: Sentinel-1 (VV, VH), Sentinel-2 in
five groups (RGB; red edge 1-3; NIR 10 m; NIR 20 m; SWIR 1.6/2.2) and NDVI computed from B8 and B4; Presto also
ERA5 and SRTM, Galileo many more static and weather groups. What our rasters carry is Sentinel-1/2, so those are
mapped by name; every other group is masked (left out of attention, as the releases do for a missing group). A
group is used only when all its bands are there (a partial group would be a silent wrong input).

Values go in the sensors' own units (Sentinel-2 L2A reflectance x 10000, Sentinel-1 backscatter in dB) and are
brought to each release's scale here: Presto ``(x + shift) / div``; Galileo ``(x - (mean - 2 std)) / (4 std)`` of
its pre-training statistics (``config/normalization.json`` of the release), NDVI as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .catalog import SENTINEL2

#: The Sentinel-1/2 inputs both releases take, as common names (STAC eo) and polarisations, in their order.
S1 = ("vv", "vh")
S2 = SENTINEL2
#: Each group of the shared Sentinel-1/2 part: its name in the releases and its inputs (``ndvi``: from nir, red)
S1_S2_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("S1", S1), ("S2_RGB", S2[0:3]), ("S2_Red_Edge", S2[3:6]), ("S2_NIR_10m", S2[6:7]), ("S2_NIR_20m", S2[7:8]),
    ("S2_SWIR", S2[8:10]), ("NDVI", ("ndvi",)))
INPUTS = S1 + S2 + ("ndvi",)  # the 13 space-time values in the releases' order


@dataclass(frozen=True)
class Scaling:
    """``(x - low) / span`` per input of :data:`INPUTS` (a release's normalisation written one way)."""

    low: tuple[float, ...]
    span: tuple[float, ...]


# Presto: S1 (dB + 25) / 25, S2 / 10000, NDVI as is (presto/dataops/pipelines/s1_s2_era5_srtm.py)
PRESTO_SCALING = Scaling(low=(-25.0, -25.0) + (0.0,) * 10 + (0.0,), span=(25.0, 25.0) + (1e4,) * 10 + (1.0,))

# Galileo's pre-training means and standard deviations of the 13 space-time inputs (config/normalization.json)
_GALILEO_MEAN = (-11.728724389184965, -18.85558188024017, 1395.3408730676722, 1338.4026921784578, 1343.09883810357,
                 1543.8607982512297, 2186.2022069512263, 2525.0932853316694, 2410.3377187373408, 2750.2854646886753,
                 2234.911100061487, 1474.5311266077113)
_GALILEO_STD = (4.887145774840316, 5.730270320384293, 917.7041440370853, 913.2988423581528, 1092.678723527555,
                1047.2206083460424, 1048.0101611156767, 1143.6903026819996, 1098.979177731649, 1204.472755085893,
                1145.9774063078878, 980.2429840007796)
GALILEO_SCALING = Scaling(low=tuple(m - 2 * s for m, s in zip(_GALILEO_MEAN, _GALILEO_STD)) + (0.0,),
                          span=tuple(4 * s for s in _GALILEO_STD) + (1.0,))


@dataclass(frozen=True)
class Placement:
    """Where an image's bands go: ``index[i]`` the image band of input :data:`INPUTS`\\ [i] (-1: absent; an NDVI
    band given is used as it is, else NDVI is computed from nir and red when ``ndvi``), the groups used, and the
    image bands no group takes."""

    index: tuple[int, ...]
    groups: tuple[str, ...]
    ndvi: bool
    unused: tuple[str, ...]

    def said(self) -> str:
        """The groups in words, for the log."""
        unused = f"; not used: {', '.join(self.unused)}" if self.unused else ""
        return f"band groups {', '.join(self.groups)}{unused}"


def place_bands(bands: Sequence[str | None]) -> Placement:
    """Each of ``bands`` (common names as STAC's eo extension, ``vv`` / ``vh``: what
    ``engine.data.band_names.eo_names`` reads from a raster's names) placed in the releases' inputs; ValueError
    naming the bands when no whole group is there."""
    where: dict[str, int] = {}
    for position, name in enumerate(bands):
        meaning = (name or "").strip().lower()
        if meaning in INPUTS and meaning not in where:
            where[meaning] = position
    index = [where.get(name, -1) for name in INPUTS]
    ndvi = "ndvi" not in where and "nir" in where and "red" in where
    groups = tuple(group for group, names in S1_S2_GROUPS
                   if (ndvi or "ndvi" in where if names == ("ndvi",) else all(n in where for n in names)))
    used = {where[n] for group, names in S1_S2_GROUPS if group in groups for n in names if n in where}
    if not groups:
        raise ValueError(f"None of the bands {list(bands)} completes a Sentinel-1/2 band group of Presto or Galileo "
                         f"(vv+vh; blue+green+red; rededge1..3; nir; nir08; swir16+swir22, the common names of "
                         f"Sentinel-1 VV/VH and Sentinel-2 B02..B12; ndvi): name the image's bands.")
    unused = tuple(str(b) for i, b in enumerate(bands) if i not in used)
    return Placement(tuple(index), groups, ndvi, unused)


#: the top (98 %) of a Sentinel-2 band's values given as reflectance 0-1 stays under this (bright cloud and snow
#: included); in the releases' units, reflectance x 10000, any land or water lies far above it
REFLECTANCE_ONE = 2.0


def dark_reflectance(bands: Sequence[str | None], tops: Sequence[float]) -> list[int]:
    """The positions of the Sentinel-2 reflectance bands :func:`place_bands` would feed whose values' top (``tops``,
    per band) stays under :data:`REFLECTANCE_ONE`: reflectance 0-1, which the releases (dividing by 10000) would
    read as black. NDVI is left out: it has one scale."""
    try:
        placement = place_bands(bands)
    except ValueError:
        return []
    fed = {placement.index[INPUTS.index(name)] for name in S2} - {-1}
    return sorted(i for i in fed if str(bands[i]) not in placement.unused and tops[i] <= REFLECTANCE_ONE)


def month_index(months: Sequence[int]) -> list[int]:
    """Months 1..12 (calendar) -> 0..11 (the releases' encoding, January = 0); ValueError outside."""
    out = []
    for month in months:
        if not 1 <= int(month) <= 12:
            raise ValueError(f"A month must be 1..12 (January = 1), not {month}.")
        out.append(int(month) - 1)
    return out
