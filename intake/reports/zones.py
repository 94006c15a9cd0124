"""Zones of the commune (GeoJSON quartiers or sectors): loading, validation and point-in-polygon lookup."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

from intake.config import Config, ConfigError

Ring = tuple[tuple[float, float], ...]  # (lon, lat) positions, GeoJSON order, closed
ZONE_CODE_MAX = 60  # report.zone is a String(60)


@dataclass(frozen=True)
class Polygon:
    """An outer ring and its holes, with the bounding box of the outer ring."""

    outer: Ring
    holes: tuple[Ring, ...]
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max

    def contains(self, lon: float, lat: float) -> bool:
        """True when the point is inside the outer ring and in none of the holes."""
        lon_min, lat_min, lon_max, lat_max = self.bbox
        if not (lon_min <= lon <= lon_max and lat_min <= lat <= lat_max):
            return False
        return _in_ring(self.outer, lon, lat) and not any(_in_ring(h, lon, lat) for h in self.holes)


@dataclass(frozen=True)
class Zone:
    """A named area of the commune made of one or more polygons."""

    code: str
    name: str
    polygons: tuple[Polygon, ...]
    bbox: tuple[float, float, float, float]

    def contains(self, lat: float, lon: float) -> bool:
        """True when (lat, lon) falls in one of the zone's polygons."""
        lon_min, lat_min, lon_max, lat_max = self.bbox
        if not (lon_min <= lon <= lon_max and lat_min <= lat <= lat_max):
            return False
        return any(p.contains(lon, lat) for p in self.polygons)


@dataclass(frozen=True)
class Zones:
    """The zones of a file, in file order: where zones overlap, the first one listed wins."""

    zones: tuple[Zone, ...]

    def zone_at(self, lat: float | None, lon: float | None) -> Zone | None:
        """The zone containing the point, or None (no position, or outside every zone)."""
        if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        return next((z for z in self.zones if z.contains(lat, lon)), None)

    def get(self, code: str | None) -> Zone | None:
        """The zone called `code`, or None."""
        return next((z for z in self.zones if z.code == code), None)

    def name(self, code: str | None) -> str | None:
        """The display name of a zone code (the code itself when the zone is gone), None for no zone."""
        if code is None:
            return None
        zone = self.get(code)
        return zone.name if zone else code

    @property
    def codes(self) -> list[str]:
        """Zone codes in file order."""
        return [z.code for z in self.zones]


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    """Even-odd ray casting towards +x (points exactly on an edge may fall either way)."""
    inside = False
    x1, y1 = ring[-1]
    for x2, y2 in ring:
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
        x1, y1 = x2, y2
    return inside


def _bbox(rings: list[Ring]) -> tuple[float, float, float, float]:
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    return min(xs), min(ys), max(xs), max(ys)


def _ring(raw: Any, where: str) -> Ring:
    if not isinstance(raw, list) or len(raw) < 4:
        raise ValueError(f"{where}: a ring needs at least 4 positions")
    out: list[tuple[float, float]] = []
    for pos in raw:
        if (
            not isinstance(pos, list)
            or len(pos) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
        ):
            raise ValueError(f"{where}: a position must be [longitude, latitude]")
        lon, lat = float(pos[0]), float(pos[1])
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"{where}: position {pos[:2]} is not a WGS84 [longitude, latitude]")
        out.append((lon, lat))
    if out[0] != out[-1]:
        raise ValueError(f"{where}: ring not closed (first and last positions differ)")
    if len(set(out)) < 3:
        raise ValueError(f"{where}: ring has no area")
    return tuple(out)


def _polygon(raw: Any, where: str) -> Polygon:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: a polygon is a list of rings")
    rings = [_ring(r, f"{where}[{i}]") for i, r in enumerate(raw)]
    return Polygon(outer=rings[0], holes=tuple(rings[1:]), bbox=_bbox(rings[:1]))


def _feature(raw: Any, i: int, *, code_property: str, name_property: str) -> Zone:
    where = f"features[{i}]"
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        raise ValueError(f"{where}: not a GeoJSON Feature")
    props = raw.get("properties") or {}
    code = props.get(code_property) if isinstance(props, dict) else None
    if isinstance(code, int | float) and not isinstance(code, bool):
        code = str(code)
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"{where}: property {code_property!r} (the zone's code) is missing")
    code = code.strip()
    if len(code) > ZONE_CODE_MAX:
        raise ValueError(f"{where}: zone code {code[:20]!r}… longer than {ZONE_CODE_MAX} characters")
    name = props.get(name_property)
    geom = raw.get("geometry")
    kind = geom.get("type") if isinstance(geom, dict) else None
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if kind == "Polygon":
        polygons = [_polygon(coords, f"{where}.geometry.coordinates")]
    elif kind == "MultiPolygon" and isinstance(coords, list) and coords:
        polygons = [_polygon(p, f"{where}.geometry.coordinates[{j}]") for j, p in enumerate(coords)]
    else:
        raise ValueError(f"{where}: geometry must be a Polygon or MultiPolygon (got {kind or 'none'})")
    return Zone(
        code=code,
        name=str(name).strip() if name else code,
        polygons=tuple(polygons),
        bbox=_bbox([p.outer for p in polygons]),
    )


def parse_zones(doc: Any, *, code_property: str = "code", name_property: str = "nom") -> Zones:
    """Build zones from a decoded GeoJSON FeatureCollection; ValueError says what is wrong and where."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ValueError("not a GeoJSON FeatureCollection")
    zones = [
        _feature(f, i, code_property=code_property, name_property=name_property) for i, f in enumerate(doc["features"])
    ]
    if not zones:
        raise ValueError("the FeatureCollection has no zone")
    codes = [z.code for z in zones]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise ValueError(f"zone codes must be unique, repeated: {', '.join(repeated)}")
    return Zones(tuple(zones))


def load_zones(path: Path, *, code_property: str = "code", name_property: str = "nom") -> Zones:
    """Read and validate a zones file; every problem is a ConfigError naming routing.zones_file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"routing.zones_file: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"routing.zones_file: {path} is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"routing.zones_file: {path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    try:
        return parse_zones(doc, code_property=code_property, name_property=name_property)
    except ValueError as exc:
        raise ConfigError(f"routing.zones_file: {path}: {exc}") from None


_CACHE: dict[tuple[str, float, int, str, str], Zones] = {}
_LOCK = Lock()


def zones_for(config: Config) -> Zones | None:
    """The configured zones (None without a zones file), read once per file version and checked against the rules."""
    routing = config.routing
    if not routing.zones_file:
        return None
    path = config.resolve_path(routing.zones_file)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"routing.zones_file: cannot read {path}: {exc.strerror or exc}") from None
    key = (str(path), stat.st_mtime, stat.st_size, routing.zone_property, routing.zone_name_property)
    with _LOCK:
        zones = _CACHE.get(key)
    if zones is None:
        zones = load_zones(path, code_property=routing.zone_property, name_property=routing.zone_name_property)
        with _LOCK:
            if len(_CACHE) >= 8:
                _CACHE.clear()
            _CACHE[key] = zones
    known = set(zones.codes)
    for i, rule in enumerate(routing.rules):
        if rule.zone not in known:
            raise ConfigError(
                f"routing.rules[{i}].zone: unknown zone {rule.zone!r} in {path.name} (known: {', '.join(zones.codes)})"
            )
    return zones
