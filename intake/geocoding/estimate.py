"""Positions the reference does not list: a house number between its neighbours, the crossing of two streets.

A number missing from the reference is never replaced by another one: its point is interpolated between the
nearest numbers on the same side of the street (odd or even), extrapolated past the last one, and given an
uncertainty in metres that grows with the gap it had to bridge. Two streets cross where the lines through
their points meet, when they meet near their closest points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from intake.geocoding.spatial import Projection, closest_pair, distance_m

PointKey = tuple[int, str]

MIN_UNCERTAINTY_M = 8.0  # even between two close neighbours a façade is a few metres wide
SIDE_OFFSET_M = 15.0  # taken from the other side of the street: its width
DEFAULT_M_PER_NUMBER = 3.0  # metres between consecutive numbers of one side when a street cannot tell
# Stated uncertainties are scaled so that about 90% of held-out BAN numbers fall within them (measured by
# bench/geocode_bench.py on the Paris extract: removing a number, estimating it, comparing with its point).
CALIBRATION = {"interpolation": 1.0, "extrapolation": 1.2, "voisin": 4.0, "autre côté": 2.5, "rep": 1.0}
_CROSSING_REACH_M = 150.0  # points around the closest pair that draw each street's line
_CROSSING_SLACK_M = 20.0  # a crossing further than the gap plus this from the closest points is not believed
_TOUCHING_M = 20.0  # streets whose points come this close meet there: the middle of the closest pair


def _calibrated(lon: float, lat: float, spread: float, method: str, between: tuple[str, ...]) -> Estimate:
    return Estimate(lon, lat, round(spread * CALIBRATION[method], 1), method, between)


@dataclass(frozen=True)
class Estimate:
    """An estimated position (lon, lat), its uncertainty in metres, and the numbers it was drawn from."""

    lon: float
    lat: float
    uncertainty_m: float
    method: str  # "interpolation" | "extrapolation" | "voisin" | "autre côté" | "rep"
    between: tuple[str, ...]


def _base_points(points: Mapping[PointKey, tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """One position per number: the plain one, else its first repetition index."""
    out: dict[int, tuple[float, float]] = {}
    for (numero, rep), pos in sorted(points.items()):
        if rep == "" or numero not in out:
            out[numero] = pos
    return out


def _metres_per_number(side: Sequence[tuple[int, tuple[float, float]]]) -> float:
    """The median distance per number step between consecutive points of one side."""
    steps = sorted(
        distance_m(a[1], a[0], b[1], b[0]) / (m - n) for (n, a), (m, b) in zip(side, side[1:], strict=False) if m > n
    )
    return steps[len(steps) // 2] if steps else DEFAULT_M_PER_NUMBER


def _towards(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t


def estimate_number(points: Mapping[PointKey, tuple[float, float]], numero: int) -> Estimate | None:
    """Where `numero` most likely is on a street whose numbered points are `points` ((numero, rep) -> (lon, lat)).

    None when the street has no numbered point at all.
    """
    base = _base_points(points)
    if not base:
        return None
    if numero in base:  # the number exists with another repetition index: "10 ter" at the 10
        lon, lat = base[numero]
        return Estimate(lon, lat, MIN_UNCERTAINTY_M, "rep", (str(numero),))
    same = sorted((n, p) for n, p in base.items() if n % 2 == numero % 2)
    offset = 0.0
    if not same:  # only the other side is known: the estimate is across the street
        same, offset = sorted(base.items()), SIDE_OFFSET_M
    lower = [(n, p) for n, p in same if n < numero]
    upper = [(n, p) for n, p in same if n > numero]
    if lower and upper:
        (n1, p1), (n2, p2) = lower[-1], upper[0]
        t = (numero - n1) / (n2 - n1)
        lon, lat = _towards(p1, p2, t)
        gap = distance_m(p1[1], p1[0], p2[1], p2[0])
        # Half the gap at the middle, less near a neighbour; never less than a façade.
        spread = gap * min(t, 1 - t) + MIN_UNCERTAINTY_M
        return _calibrated(lon, lat, spread + offset, "autre côté" if offset else "interpolation", (str(n1), str(n2)))
    side = lower if lower else upper
    if len(side) < 2 and not offset and len(base) > len(same):  # one neighbour only: the other side may frame it
        across = estimate_number({(n, ""): p for n, p in base.items() if n % 2 != numero % 2}, numero + 1)
        if across is not None and across.method == "interpolation":
            return _calibrated(
                across.lon, across.lat, across.uncertainty_m + SIDE_OFFSET_M, "autre côté", across.between
            )
    near = side[-1] if lower else side[0]
    step = _metres_per_number(same)
    reach = abs(numero - near[0]) * step
    if len(side) >= 2:  # carry on along the line of the last two numbers
        far = side[-2] if lower else side[1]
        length = distance_m(far[1][1], far[1][0], near[1][1], near[1][0])
        t = reach / length if length > 0 else 0.0
        lon, lat = _towards(near[1], far[1], -min(t, 3.0))
        method = "extrapolation"
    else:
        lon, lat = near[1]
        method = "voisin"
    spread = MIN_UNCERTAINTY_M + reach
    return _calibrated(lon, lat, spread + offset, method if not offset else "autre côté", (str(near[0]),))


def _axis(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Centre and unit direction of the principal axis of planar points; None when they are fewer than two."""
    if len(points) < 2:
        return None
    cx = sum(x for x, _ in points) / len(points)
    cy = sum(y for _, y in points) / len(points)
    sxx = sum((x - cx) ** 2 for x, _ in points)
    syy = sum((y - cy) ** 2 for _, y in points)
    sxy = sum((x - cx) * (y - cy) for x, y in points)
    if sxx + syy == 0:
        return None
    angle = 0.5 * math.atan2(2 * sxy, sxx - syy)
    return (cx, cy), (math.cos(angle), math.sin(angle))


def crossing(
    first: Sequence[tuple[float, float]], second: Sequence[tuple[float, float]]
) -> tuple[tuple[float, float], float, float]:
    """Where two streets given by their (lat, lon) positions cross: ((lat, lon), uncertainty m, gap m).

    Streets whose numbered points come close meet between their closest points. When the points stop short
    of the corner, the lines through each street's points near there meet at the crossing; when they do not
    meet near there (parallel streets, a dead end), the middle of the closest pair is kept. `gap` is the
    distance between the closest points of the two streets; the uncertainty grows with it.
    """
    (mid_lat, mid_lon), gap = closest_pair(first, second)
    uncertainty = round(MIN_UNCERTAINTY_M + gap / 2, 1)
    if gap <= _TOUCHING_M:
        return (mid_lat, mid_lon), uncertainty, gap
    proj = Projection(mid_lat)
    mx, my = proj.xy(mid_lat, mid_lon)
    lines = []
    for street in (first, second):
        local = [
            (x, y)
            for x, y in (proj.xy(lat, lon) for lat, lon in street)
            if math.hypot(x - mx, y - my) <= _CROSSING_REACH_M + gap
        ]
        lines.append(_axis(local))
    a, b = lines
    if a is None or b is None:
        return (mid_lat, mid_lon), uncertainty, gap
    (ax, ay), (adx, ady) = a
    (bx, by), (bdx, bdy) = b
    det = adx * bdy - ady * bdx
    if abs(det) < 0.2:  # nearly parallel (under ~12°): no crossing to speak of
        return (mid_lat, mid_lon), uncertainty, gap
    s = ((bx - ax) * bdy - (by - ay) * bdx) / det
    x, y = ax + s * adx, ay + s * ady
    if math.hypot(x - mx, y - my) > _CROSSING_SLACK_M + gap:
        return (mid_lat, mid_lon), uncertainty, gap
    return (y / proj.ky, x / proj.kx), uncertainty, gap
