"""A model's dates in a segmentation plan: the dates given checked against the model's, each taken through
the image door (:mod:`.door`) and judged with that date's own statistics, and the bands the scene reader
reads from each date and stacks in time order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..bundle.expects import dates_problem, image_problem
from ..callbacks import Callback
from ..config import SegmentConfig
from ..data.ground import map_units_per_metre
from ..data.normalize import BandStatistics
from ..data.raster import band_count, mistagged_note, open_raster
from ..errors import BundleError, DataError, mention
from ..io.locations import is_web_description
from ..models.configuration_utils import takes_a_season
from ..time_axis import date_channels
from .door import open_image, web_source
from .request import ImageRequest
from .resolve import ResolvedImage


@dataclass
class ResolvedDates:
    """Every date as the reader opens it (``path``: the first date's; ``later``: the others', in time order)."""

    first: ResolvedImage
    later: list[ResolvedImage]
    files: Any = None  # a season's VRTs (clouds as masks, a stack's dates): ``InputFiles``, removed on close

    @property
    def path(self) -> str:  # path, source, window, named: the first date's, as a plan of one date has them
        return self.first.path

    @property
    def source(self) -> str:
        return self.first.source

    @property
    def window(self) -> Any:
        return self.first.window

    @property
    def named(self) -> str | None:
        return self.first.named

    @property
    def out_of_range(self) -> str | None:
        return self.first.out_of_range or next((d.out_of_range for d in self.later if d.out_of_range), None)

    @property
    def dates(self) -> tuple[ResolvedImage, ...]:
        return (self.first, *self.later)

    def close(self) -> None:
        for resolved in self.dates:
            resolved.close()
        if self.files is not None:
            self.files.close()


def check_dates(cfg: SegmentConfig, members: list[Any]) -> int:
    """The dates the members take, checked against the dates given; errors say what to give or use instead."""
    dates = members[0].data.dates
    for other in members[1:]:
        if other.data.dates != dates:
            raise BundleError(f"The ensemble members '{members[0].path}' and '{other.path}' take {dates} and "
                              f"{other.data.dates} date(s) of a place; an ensemble's members take the same inputs.")
    problem = dates_problem(dates, 1 + len(cfg.after), members[0].metadata.model.name)
    if takes_a_season(members[0].metadata.model.name):  # any number of dates: padded and masked
        return 1 + len(cfg.after)
    if problem:
        given = f"with the later date '{cfg.after[0]}' ({mention('segment.after')})" if cfg.after else "alone"
        raise DataError(f"'{cfg.image}' {given} does not fit the model '{members[0].path}': {problem}.")
    return dates


def date_view(member: Any, date: int) -> Any:
    """``member`` as a model of one date, the ``date``-th (0 = first): that date's band statistics only, so the
    image door and the value checks judge each date against what the model saw of it."""
    data = member.data
    bands, stats = data.vision_bands, data.vision_stats
    if data.dates > 1 and stats.bands == bands * data.dates:  # a change model's (a season's: one set for all)
        own = date_channels(bands, date)
        stats = BandStatistics(stats.method, list(stats.low[own]), list(stats.high[own]))
    return dataclasses.replace(member, metadata=member.metadata.replace(
        data=dataclasses.replace(data, vision_stats=stats, dates=1)))


def plan_dates(cfg: SegmentConfig, members: list[Any], callback: Callback, warnings: list[str],
               files: Any = None) -> tuple[
        ResolvedDates, list[Any], list[int], list[list[int]]]:
    """(every date resolved, the members as they read the stacked tiles, the first date's bands, each later date's
    bands), each date's band count and values checked."""
    from ..data.checks import check_image_domain

    opened: list[ResolvedImage] = []
    picked: list[list[int]] = []
    first: Any = None  # the first date's footprint: (bounds, CRS, pixel size in metres), None without georeferencing
    try:
        for date, source in enumerate([cfg.image, *cfg.after]):
            views = [date_view(m, date) for m in members]
            request = ImageRequest.of_segment(cfg.replace(image=source, stac_item=None) if date else cfg)
            if date and first is not None:
                request = _over_first_date(request, first, callback)
            got = open_image(request, callback, members=views, warnings=warnings)
            named = got.named  # a web layer as given, not by its temporary window
            fixed = got.members or views
            opened.append(got)
            # the door's dataset where it left the file as it is (the reader takes it over), else the file it made
            dataset = got.dataset or open_raster(got.path, "image" if not date else "later date")
            try:
                if not date and dataset.crs is not None:
                    bounds = tuple(dataset.bounds)
                    first = (bounds, dataset.crs.to_wkt(), dataset.res[0] / map_units_per_metre(dataset.crs, bounds))
                count = band_count(dataset)  # an alpha band is the date's mask, not one of its bands
                if problem := image_problem(fixed[0].data, count, source, named):
                    alpha = mistagged_note(dataset, count)
                    raise DataError(f"{problem[0].upper()}{problem[1:]} (model '{members[0].path}'); "
                                    f"{alpha + '. Give' if alpha else 'give'} every date "
                                    f"with the model's bands ({mention('segment.bands')} picks them by number or name "
                                    f"in each date).")
                bands = fixed[0].selection.vision_bands(count)
                if not got.changed:  # the door left it as it is: its values judged here, with this date's statistics
                    check_image_domain(dataset, source, bands, views[0].data.vision_stats, members[0].path,
                                       callback, warnings, cfg.strict_inputs, mention("segment.strict_inputs"),
                                       got.seen, named)  # the door's sample, not a second read
            finally:
                if dataset is not got.dataset:
                    dataset.close()
            picked.append(bands)
    except BaseException:
        for got in opened:
            got.close()
        raise
    # the reader picks each date's bands itself: the members read every band of the stacked tile, in order
    stacked = [dataclasses.replace(m, metadata=m.metadata.replace(data=dataclasses.replace(
        m.data, bands=None, x_bands=None, image_bands=m.data.vision_bands))) for m in members]
    return ResolvedDates(opened[0], opened[1:], files), stacked, picked[0], picked[1:]


def _over_first_date(request: ImageRequest, first: Any, callback: Callback) -> ImageRequest:
    """A later date that is a web layer, given no extent of its own, read over the first date's footprint and, given
    no pixel size, at the first date's: it is brought onto the first date's grid anyway, so that is all it needs."""
    given, _, name = web_source(request.source)
    if request.extent is not None or not is_web_description(given):
        return request
    bounds, crs, metres = first
    size = request.pixel_size or metres
    whose = "as given" if request.pixel_size else "the first date's"
    callback.info(f"The later date, the {name}, is read over the first date's footprint at "
                  f"{size:.4g} m per pixel ({whose}).")
    return dataclasses.replace(request, extent=bounds, extent_crs=crs, pixel_size=size)

