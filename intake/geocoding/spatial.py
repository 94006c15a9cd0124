"""Small planar geometry for a commune-sized area: distances, a grid index of points, convex hulls."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class Projection:
    """Equirectangular metres around a reference latitude: exact enough within a few kilometres."""

    def __init__(self, lat0: float) -> None:
        self.kx = _M_PER_DEG * math.cos(math.radians(lat0))
        self.ky = _M_PER_DEG

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        """(x, y) in metres."""
        return lon * self.kx, lat * self.ky


class GridIndex:
    """Points bucketed in square cells for nearest-neighbour search."""

    def __init__(self, items: Iterable[tuple[float, float, int]], *, cell_m: float = 150.0) -> None:
        """`items` are (lat, lon, payload) triples; the payload is returned by `nearest`."""
        rows = list(items)
        lat0 = sum(r[0] for r in rows) / len(rows) if rows else 0.0
        self.proj = Projection(lat0)
        self.cell = cell_m
        self.cells: dict[tuple[int, int], list[tuple[float, float, int]]] = defaultdict(list)
        for lat, lon, payload in rows:
            x, y = self.proj.xy(lat, lon)
            self.cells[(int(x // cell_m), int(y // cell_m))].append((x, y, payload))

    def nearest(self, lat: float, lon: float, *, max_m: float) -> tuple[int, float] | None:
        """(payload, distance in metres) of the nearest point within `max_m`, or None."""
        x, y = self.proj.xy(lat, lon)
        cx, cy = int(x // self.cell), int(y // self.cell)
        best: tuple[int, float] | None = None
        rings = int(max_m // self.cell) + 1
        for ring in range(rings + 1):
            if best is not None and (ring - 1) * self.cell > best[1]:
                break
            for i in range(cx - ring, cx + ring + 1):
                for j in range(cy - ring, cy + ring + 1):
                    if ring and abs(i - cx) != ring and abs(j - cy) != ring:
                        continue  # inner cells were searched by the previous rings
                    for px, py, payload in self.cells.get((i, j), ()):
                        d = math.hypot(px - x, py - y)
                        if d <= max_m and (best is None or d < best[1]):
                            best = (payload, d)
        return best


def closest_pair(
    first: Sequence[tuple[float, float]], second: Sequence[tuple[float, float]]
) -> tuple[tuple[float, float], float]:
    """Midpoint (lat, lon) of the closest pair of positions taken one from each list, and their distance (m)."""
    proj = Projection(first[0][0])
    xs = [proj.xy(lat, lon) for lat, lon in second]
    best, pair = math.inf, (first[0], second[0])
    for a in first:
        ax, ay = proj.xy(*a)
        for (bx, by), b in zip(xs, second, strict=True):
            d = (ax - bx) ** 2 + (ay - by) ** 2
            if d < best:
                best, pair = d, (a, b)
    (lat1, lon1), (lat2, lon2) = pair
    return ((lat1 + lat2) / 2, (lon1 + lon2) / 2), distance_m(lat1, lon1, lat2, lon2)


def convex_hull(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Counter-clockwise convex hull (Andrew's monotone chain) of planar points."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy))


class Area:
    """A commune's footprint: the convex hull of its address points, in projected metres."""

    def __init__(self, latlons: Sequence[tuple[float, float]]) -> None:
        lat0 = sum(p[0] for p in latlons) / len(latlons)
        self.proj = Projection(lat0)
        self.hull = convex_hull(self.proj.xy(lat, lon) for lat, lon in latlons)

    def distance_m(self, lat: float, lon: float) -> float:
        """0 inside the hull, else the distance in metres to its boundary."""
        p = self.proj.xy(lat, lon)
        hull = self.hull
        if len(hull) == 1:
            return math.hypot(p[0] - hull[0][0], p[1] - hull[0][1])
        edges = list(zip(hull, hull[1:] + hull[:1], strict=True))
        if len(hull) >= 3 and all((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0 for a, b in edges):
            return 0.0
        return min(_segment_distance(p, a, b) for a, b in edges)
