"""Outlines of a class raster's regions reshaped, in pixel coordinates: squared (buildings), smoothed (natural
classes) or kept as they are; and each region's pixels found from its outline, for its statistics.

Plain numpy on the rings GDAL's Polygonize draws along pixel edges, one polygon at a time, so memory follows
the polygon, not the scene. Pixel coordinates make every tolerance a number of pixels, whatever the CRS.

- :func:`regularise`: the outline simplified (Douglas-Peucker, 1 px), its dominant orientation found from its edges
  (length-weighted, modulo 90 degrees), the edges within ``snap_degrees`` of it or of its perpendicular turned onto
  those two directions, runs of parallel edges merged, steps shorter than ``notch`` pixels between parallel edges
  removed, and the corners recomputed as the intersections of neighbouring edges: right angles where the outline
  has them, its other angles kept.
- :func:`smooth`: each stretch of boundary between two points where three classes meet (:func:`junctions`) is
  averaged along itself with those points fixed, the same from either side: smoothed neighbours share their
  boundaries exactly, with neither overlaps nor gaps (tests/engine/test_polygon_outlines.py). :func:`chaikin`
  (corner cutting) is the fallback where that leaves an invalid ring.
"""

from __future__ import annotations

import math

import numpy as np

Ring = np.ndarray  # (n, 2) float64 vertices, not closed (the last vertex is not the first repeated)


def _next(ring: Ring) -> Ring:
    """Each vertex's successor (cheaper than np.roll on small rings)."""
    return np.concatenate([ring[1:], ring[:1]])


def _previous(ring: Ring) -> Ring:
    return np.concatenate([ring[-1:], ring[:-1]])


def ring_area(ring: Ring) -> float:
    """Signed area (shoelace): positive counter-clockwise in x-right/y-up axes."""
    following = _next(ring)
    return 0.5 * float((ring[:, 0] * following[:, 1] - following[:, 0] * ring[:, 1]).sum())


def drop_repeats(ring: Ring) -> Ring:
    """The ring without repeated consecutive vertices (its closing vertex included) and without collinear ones."""
    if len(ring) > 1 and (np.abs(ring[0] - ring[-1]) <= 1e-9).all():
        ring = ring[:-1]
    keep = (np.abs(ring - _previous(ring)) > 1e-9).any(axis=1)
    if not keep.all():
        ring = ring[keep]
    if len(ring) < 3:
        return ring
    before, after = ring - _previous(ring), _next(ring) - ring
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    dot = before[:, 0] * after[:, 0] + before[:, 1] * after[:, 1]
    straight = (np.abs(cross) < 1e-9) & (dot > 0)
    return ring[~straight] if straight.any() and np.count_nonzero(~straight) >= 3 else ring


def densify(ring: Ring) -> Ring:
    """A pixel-edge ring with a vertex at every pixel corner along it, so that two regions sharing a boundary
    have the same vertices along it, whichever of them has a corner where a third region meets it."""
    following = _next(ring)
    steps = np.maximum(np.abs(following - ring).max(axis=1).astype(np.int64), 1)
    fraction = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)
    start = np.repeat(ring, steps, axis=0)
    step = np.repeat((following - ring) / steps[:, None], steps, axis=0)
    return start + fraction[:, None] * step


def chaikin(ring: Ring, iterations: int = 2) -> Ring:
    """Chaikin's corner cutting, ``iterations`` times (each moves a corner by at most a quarter of its edges), on
    the :func:`densify`'d ring; the straight runs' inner vertices are dropped after."""
    ring = densify(ring)
    for _ in range(iterations):
        following = _next(ring)
        out = np.empty((2 * len(ring), 2))
        out[0::2] = 0.75 * ring + 0.25 * following
        out[1::2] = 0.25 * ring + 0.75 * following
        ring = out
    return drop_repeats(ring)


def junctions(dense: Ring, window: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """Which vertices of a :func:`densify`'d ring (integer pixel corners) must stay: where three or more classes
    meet, where two classes touch only diagonally (four regions meet there), or the raster's edge. ``window``: the
    class raster's pixels from column ``x0 - 1`` and row ``y0 - 1``, one pixel of margin around the ring's box, -1
    outside the raster."""
    x = dense[:, 0].astype(np.int64) - x0
    y = dense[:, 1].astype(np.int64) - y0
    a, b = window[y, x], window[y, x + 1]
    c, d = window[y + 1, x], window[y + 1, x + 1]
    distinct = 1 + (b != a) + ((c != a) & (c != b)) + ((d != a) & (d != b) & (d != c))
    outside = (a < 0) | (b < 0) | (c < 0) | (d < 0)
    diagonal = (a == d) & (b == c) & (a != b)  # two regions of each class touching at a corner (4-connected)
    return (distinct >= 3) | outside | diagonal


def smooth(ring: Ring, fixed: np.ndarray, *, reach: int = 2, passes: int = 2, tolerance: float = 0.1) -> Ring:
    """A :func:`densify`'d ring smoothed between its ``fixed`` vertices (see the module's docstring): each stretch
    averaged over ``2 * reach + 1`` vertices ``passes`` times, then simplified (``tolerance`` px). A ring with no
    fixed vertex starts at its lowest vertex (the same for the region inside and the one around it)."""
    n = len(ring)
    anchors = np.flatnonzero(fixed) if fixed.any() else np.array([int(np.lexsort((ring[:, 1], ring[:, 0]))[0])])
    out = []
    for index, first in enumerate(anchors):
        last = anchors[index + 1] if index + 1 < len(anchors) else anchors[0] + n
        stretch = ring[np.arange(first, last + 1) % n]
        for _ in range(passes):
            stretch = _averaged(stretch, reach)
        kept = _douglas_peucker(stretch, tolerance) if len(stretch) > 2 else np.arange(len(stretch))
        out.append(stretch[kept[:-1]])
    return np.concatenate(out)


def _averaged(line: np.ndarray, reach: int) -> np.ndarray:
    """Moving average of an open polyline, its ends fixed, the window narrowed near them."""
    m = len(line)
    if m < 3:
        return line
    index = np.arange(m)
    half = np.minimum(np.minimum(index, m - 1 - index), reach)
    total = np.vstack([np.zeros((1, 2)), np.cumsum(line, axis=0)])
    return (total[index + half + 1] - total[index - half]) / (2 * half + 1)[:, None]


def simplified(ring: Ring, tolerance: float) -> np.ndarray:
    """The indices of the vertices Douglas-Peucker keeps of a closed ring, in order (the ring split at its vertex
    farthest from the first)."""
    if len(ring) < 5 or tolerance <= 0:
        return np.arange(len(ring))
    far = int(np.argmax(np.hypot(*(ring - ring[0]).T)))
    first = _douglas_peucker(ring[:far + 1], tolerance)
    second = _douglas_peucker(np.vstack([ring[far:], ring[:1]]), tolerance)
    return np.concatenate([first[:-1], far + second[:-1]])


def _douglas_peucker(line: np.ndarray, tolerance: float) -> np.ndarray:
    keep = np.zeros(len(line), bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(line) - 1)]
    while stack:
        start, end = stack.pop()
        if end - start < 2:
            continue
        a, b = line[start], line[end]
        span = b - a
        inner = line[start + 1:end] - a
        norm = math.hypot(*span)
        distance = (np.abs(span[0] * inner[:, 1] - span[1] * inner[:, 0]) / norm if norm > 0
                    else np.hypot(*inner.T))
        worst = int(np.argmax(distance))
        ties = np.flatnonzero(distance >= distance[worst] - 1e-12)
        if len(ties) > 1:  # the same point whichever way the line runs (a shared boundary from both sides)
            candidates = inner[ties] + a
            worst = int(ties[np.lexsort((candidates[:, 1], candidates[:, 0]))[0]])
        if distance[worst] > tolerance:
            middle = start + 1 + worst
            keep[middle] = True
            stack += [(start, middle), (middle, end)]
    return np.flatnonzero(keep)


def dominant_angle(rings: list[Ring]) -> float:
    """The outline's main orientation in radians, modulo 90 degrees: the length-weighted mean of its edges'
    directions, taken four times round so that an edge and its perpendicular agree."""
    sin = cos = 0.0
    for ring in rings:
        edges = _next(ring) - ring
        length = np.hypot(*edges.T)
        angle = 4 * np.arctan2(edges[:, 1], edges[:, 0])
        sin += float(np.dot(length, np.sin(angle)))
        cos += float(np.dot(length, np.cos(angle)))
    return math.atan2(sin, cos) / 4


def regularise(ring: Ring, angle: float | None = None, *, snap_degrees: float = 15.0, notch: float = 2.0,
               tolerance: float = 1.0) -> Ring:
    """The ring squared to ``angle`` (default: its own :func:`dominant_angle`); see the module's docstring. Each
    edge is placed where the stretch of the outline it stands for lies on average, not through the simplified
    outline's corners (on a pixel staircase those are all outer or all inner corners).

    Returns the simplified ring where squaring would not leave a simple ring of at least 4 corners or would change
    the area by more than a third (no straight edges to keep), or the ring has over ``MAX_SQUARED`` corners."""
    ring = drop_repeats(ring)
    if len(ring) == 4:  # a rectangle of pixels: square already
        return ring
    keep = simplified(ring, tolerance)
    simple = ring[keep]
    if len(simple) < 4 or len(simple) > MAX_SQUARED:
        return simple
    theta = dominant_angle([simple]) if angle is None else angle
    lines = _snapped_lines(ring, keep, theta, math.radians(snap_degrees))
    while len(lines) > 3 and _merged_once(lines, notch):
        pass
    if len(lines) < 3:
        return simple
    squared = _corners(lines)
    if len(squared) < 4 or not _simple(squared):
        return simple
    area, before = abs(ring_area(squared)), abs(ring_area(ring))
    return simple if before == 0 or not 2 / 3 < area / before < 3 / 2 else squared


MAX_SQUARED = 2000


def _snapped_lines(ring: Ring, keep: np.ndarray, theta: float, snap: float) -> list[list]:
    """Per simplified edge: [direction index 0-3 or -1 (kept as drawn), unit direction, a point on it, weight (the
    length of outline it stands for), start, end, straight length]. The point is the length-weighted mean of the
    midpoints of the outline's segments between the edge's ends."""
    lines = []
    n = len(ring)
    segments = _next(ring) - ring
    lengths = np.hypot(*segments.T)
    middles = ring + segments / 2
    for first, last in zip(keep, _next(keep)):
        start, end = ring[first], ring[last]
        span = np.arange(first, last if last > first else last + n) % n
        vector = end - start
        length = math.hypot(*vector)
        if length == 0:
            continue
        weight = float(lengths[span].sum())
        point = (lengths[span, None] * middles[span]).sum(axis=0) / weight
        turns = (math.atan2(vector[1], vector[0]) - theta) / (math.pi / 2)
        index = round(turns)
        off = abs(turns - index) * math.pi / 2
        snapped, direction = off <= snap or length < 3.0, theta + index * math.pi / 2
        unit = np.array([math.cos(direction), math.sin(direction)]) if snapped else vector / length
        lines.append([index % 4 if snapped else -1, unit, point, weight, start, end, length])
    return lines


def _merged_once(lines: list[list], notch: float) -> bool:
    """The first merge or notch removal, done in place; False when there is none. Neighbouring edges of one
    direction are merged (their offsets averaged by weight); a notch is up to three short edges (together under
    ``6 * notch``) between two edges of one direction whose lines lie within ``notch`` of each other."""
    n = len(lines)
    for i in range(n):
        a, b = lines[i], lines[(i + 1) % n]
        if a[0] >= 0 and a[0] == b[0]:
            lines[i] = _joined(a, b)
            del lines[(i + 1) % n]
            return True
        if a[0] < 0 or n < 5:
            continue
        for skip in range(1, min(3, n - 4) + 1):
            c = lines[(i + skip + 1) % n]
            between = [lines[(i + k) % n] for k in range(1, skip + 1)]
            if c[0] != a[0] or sum(line[6] for line in between) >= 6 * notch:
                continue
            normal = np.array([-a[1][1], a[1][0]])
            if abs(float(normal @ (a[2] - c[2]))) >= notch:
                continue
            joined = _joined(a, c)
            for index in sorted({(i + k) % n for k in range(1, skip + 2)}, reverse=True):
                del lines[index]
            lines[next(k for k, line in enumerate(lines) if line is a)] = joined
            return True
    return False


def _joined(a: list, b: list) -> list:
    """One line for two parallel edges: the weighted mean of their points."""
    point = (a[3] * a[2] + b[3] * b[2]) / (a[3] + b[3])
    return [a[0], a[1], point, a[3] + b[3], a[4], b[5], a[6] + b[6]]


def _corners(lines: list[list]) -> Ring:
    """Each corner: where an edge's line meets the next one's; two nearly parallel lines are joined by a step
    through the point where their edges met."""
    points = []
    for a, b in zip(lines, lines[1:] + lines[:1]):
        cross = a[1][0] * b[1][1] - a[1][1] * b[1][0]
        meet = b[4]  # where the original edges met
        if abs(cross) > math.sin(math.radians(10)):
            t = ((b[2][0] - a[2][0]) * b[1][1] - (b[2][1] - a[2][1]) * b[1][0]) / cross
            point = a[2] + t * a[1]
            if math.hypot(*(point - meet)) < 3.0 + 0.5 * min(a[6], b[6]):
                points.append(point)
                continue
        points.append(a[2] + float(a[1] @ (meet - a[2])) * a[1])
        points.append(b[2] + float(b[1] @ (meet - b[2])) * b[1])
    return drop_repeats(np.array(points))


def _simple(ring: Ring) -> bool:
    """No two non-neighbouring edges cross."""
    n = len(ring)
    a, b = ring, _next(ring)
    for i in range(n):
        p, r = a[i], b[i] - a[i]
        q, s = a, b - a
        denominator = r[0] * s[:, 1] - r[1] * s[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((q[:, 0] - p[0]) * s[:, 1] - (q[:, 1] - p[1]) * s[:, 0]) / denominator
            u = ((q[:, 0] - p[0]) * r[1] - (q[:, 1] - p[1]) * r[0]) / denominator
        hits = (np.abs(denominator) > 1e-12) & (t > 1e-9) & (t < 1 - 1e-9) & (u > 1e-9) & (u < 1 - 1e-9)
        hits[[i, (i - 1) % n, (i + 1) % n]] = False
        if hits.any():
            return False
    return True


def region_mask(rings: list[Ring], shape: tuple[int, int], top: int = 0) -> np.ndarray:
    """The pixels inside ``rings`` (pixel-edge outlines of integer vertices in the window's pixel coordinates, x
    right and y down; holes included) in rows ``top`` to ``top + shape[0]``: even-odd over the vertical edges."""
    rows, cols = shape
    crossings = np.zeros((rows + 1, cols + 1), np.int32)
    for ring in rings:
        start, end = ring, _next(ring)
        vertical = start[:, 0] == end[:, 0]
        x = start[vertical, 0].astype(np.int64)
        y0 = np.minimum(start[vertical, 1], end[vertical, 1]).astype(np.int64) - top
        y1 = np.maximum(start[vertical, 1], end[vertical, 1]).astype(np.int64) - top
        here = (y1 > 0) & (y0 < rows)
        np.add.at(crossings, (np.clip(y0[here], 0, rows), x[here]), 1)
        np.add.at(crossings, (np.clip(y1[here], 0, rows), x[here]), -1)
    edges = np.cumsum(crossings, axis=0)[:rows]  # vertical edges crossing each row, at each x
    return (np.cumsum(edges, axis=1)[:, :cols] & 1).astype(bool)
