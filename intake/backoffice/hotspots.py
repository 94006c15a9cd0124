"""Hotspots: places where reports of one category pile up over a period, the sign a deeper intervention is needed.

A hotspot of a category is a disc of the category's radius holding at least its number of reports
(`config.hotspots`, "12 dépôts sauvages en 30 jours autour de la rue de la Roquette"). They are found per
category by a greedy densest-disc cover: every report counts its neighbours within the radius (points bucketed
in a grid of radius-sized cells, so only the 3×3 cells around a point are compared: no O(n²)); the report with
the most neighbours not yet taken seeds a hotspot made of those neighbours, which are then taken, and so on
while a seed still gathers enough. Hotspots therefore never share a report and never exceed twice the radius,
unlike density chains (DBSCAN) that can swallow a whole district where reports are frequent everywhere.

Thresholds are given for a number of days; over a period of another length the number of reports scales with
it (a hotspot is a rate), never below 3. Rejected reports are left out unless a status filter asks for them;
duplicates are left out as the queue does (a dump reported five times is one dump) and counted apart.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.backoffice.filters import OPEN_STATUSES, ReportFilter, apply
from intake.backoffice.stats import Period, utc
from intake.config import Config, HotspotRule
from intake.geocoding.spatial import EARTH_RADIUS_M
from intake.models import Report

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180  # metres per degree of latitude on the mean Earth sphere
M_PER_DEG_LAT = M_PER_DEG
M_PER_DEG_LON_EQUATOR = M_PER_DEG
MIN_FLOOR = 3  # a scaled threshold never goes below this (two reports are a coincidence)
# Street types and their gender, to write "autour de la rue …", "autour du boulevard …", "autour de l'avenue …".
FEMININE = frozenset(
    {
        "rue",
        "avenue",
        "place",
        "impasse",
        "allée",
        "allee",
        "route",
        "villa",
        "cité",
        "cite",
        "voie",
        "ruelle",
        "porte",
        "galerie",
        "esplanade",
        "promenade",
        "chaussée",
        "sente",
        "cour",
        "traverse",
        "rampe",
        "montée",
        "descente",
        "résidence",
        "residence",
        "grande",
        "petite",
        "halle",
        "gare",
    }
)
MASCULINE = frozenset(
    {
        "boulevard",
        "quai",
        "square",
        "passage",
        "cours",
        "chemin",
        "pont",
        "port",
        "parvis",
        "carrefour",
        "jardin",
        "parc",
        "hameau",
        "sentier",
        "rond-point",
        "quartier",
        "mail",
        "faubourg",
        "clos",
        "lotissement",
        "domaine",
        "tunnel",
        "viaduc",
        "pavillon",
        "lieu-dit",
        "lieudit",
        "périphérique",
        "cimetière",
        "marché",
    }
)
ELIDED_H = frozenset({"hameau", "halle"})  # h aspiré: "du hameau", "de la halle"


@dataclass(frozen=True)
class Threshold:
    """What makes a hotspot of one category over the chosen period."""

    category: str
    min_reports: int
    radius_m: float
    noun: str


@dataclass(frozen=True)
class Member:
    """One report of a hotspot."""

    id: int
    number: str
    created_at: datetime
    status: str
    address: str | None
    lat: float
    lon: float
    linked: int  # duplicates linked to it


@dataclass
class Hotspot:
    """A place where one category piles up."""

    category: str
    category_label: str
    lat: float
    lon: float
    radius_m: int
    street: str | None
    label: str
    threshold: Threshold
    reports: list[Member] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Reports in the hotspot (duplicates not counted)."""
        return len(self.reports)

    @property
    def duplicates(self) -> int:
        """Further reports linked to them as duplicates."""
        return sum(m.linked for m in self.reports)

    @property
    def open_count(self) -> int:
        """Reports still open."""
        return sum(m.status in OPEN_STATUSES for m in self.reports)


@dataclass
class HotspotResult:
    """The hotspots of a period, and the thresholds used for each category."""

    period: Period
    hotspots: list[Hotspot]
    thresholds: list[Threshold]
    located: int  # reports with a position that were looked at


def threshold(
    config: Config, category: str, period: Period, *, min_reports: int | None = None, radius_m: float | None = None
) -> Threshold:
    """The category's rule scaled to the period (or the numbers forced by the agent)."""
    rule: HotspotRule = config.hotspots.rule(category)
    label = next((c.label for c in config.categories if c.code == category), category)
    scaled = max(min(MIN_FLOOR, rule.min_reports), math.ceil(rule.min_reports * period.days / rule.days))
    return Threshold(
        category=category,
        min_reports=min_reports or scaled,
        radius_m=float(radius_m or rule.radius_m),
        noun=rule.noun or f"signalements « {label} »",
    )


PAIRS_PER_CHUNK = 2_000_000  # candidate pairs compared at once (bounds memory on very dense data)
NEIGHBOUR_CELLS = tuple((dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))


def cluster(points: Sequence[tuple[float, float]], *, radius_m: float, min_points: int) -> list[list[int]]:
    """Groups of at least `min_points` indexes of (lat, lon) points, each within `radius_m` of its seed point.

    Densest seed first (ties: lowest index); a point belongs to one group at most. Points are projected to
    metres (equirectangular around their mean latitude: exact enough at a commune's scale) and bucketed in
    cells of `radius_m`; neighbours are looked for in the 3×3 cells around a point only. Neighbour counts are
    computed with numpy over all points at once, then each seed's remaining neighbours on demand.
    """
    n = len(points)
    if n == 0 or n < min_points:
        return []
    lat_lon = np.asarray(points, dtype=np.float64).reshape(n, 2)
    kx = M_PER_DEG_LON_EQUATOR * math.cos(math.radians(float(lat_lon[:, 0].mean())))
    x, y = lat_lon[:, 1] * kx, lat_lon[:, 0] * M_PER_DEG_LAT
    cx = np.floor((x - x.min()) / radius_m).astype(np.int64) + 1  # ≥ 1: the cell to the left exists as a key
    cy = np.floor((y - y.min()) / radius_m).astype(np.int64) + 1
    width = int(cy.max()) + 2
    key = cx * width + cy
    order = np.argsort(key, kind="stable")  # points sorted by cell; "sorted index" below means a rank here
    skey, sx, sy = key[order], x[order], y[order]
    cells, starts = np.unique(skey, return_index=True)
    ends = np.append(starts[1:], n)
    r2 = radius_m * radius_m

    counts = np.zeros(n, dtype=np.int64)
    for dx, dy in NEIGHBOUR_CELLS:
        wanted = skey + dx * width + dy
        pos = np.minimum(np.searchsorted(cells, wanted), len(cells) - 1)
        found = cells[pos] == wanted
        first = np.where(found, starts[pos], 0)
        sizes = np.where(found, ends[pos] - starts[pos], 0)
        total = np.cumsum(sizes)
        bounds = np.searchsorted(total, np.arange(PAIRS_PER_CHUNK, int(total[-1]), PAIRS_PER_CHUNK), side="right")
        for a, b in zip([0, *bounds.tolist()], [*bounds.tolist(), n], strict=True):
            if b <= a:
                continue
            lens = sizes[a:b]
            ii = np.repeat(np.arange(a, b), lens)
            jj = np.repeat(first[a:b] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
            near = (sx[jj] - sx[ii]) ** 2 + (sy[jj] - sy[ii]) ** 2 <= r2
            counts += np.bincount(ii[near], minlength=n)

    ranges = {int(c): (int(s), int(e)) for c, s, e in zip(cells, starts, ends, strict=True)}
    taken = np.zeros(n, dtype=bool)

    def neighbours(i: int) -> np.ndarray:
        """Sorted indexes of the points not taken yet within the radius of point i."""
        spans = [ranges[k] for dx, dy in NEIGHBOUR_CELLS if (k := int(skey[i]) + dx * width + dy) in ranges]
        cand = np.concatenate([np.arange(s, e) for s, e in spans])
        cand = cand[~taken[cand]]
        near: np.ndarray = cand[(sx[cand] - sx[i]) ** 2 + (sy[cand] - sy[i]) ** 2 <= r2]
        return near

    heap = [(-int(counts[i]), int(order[i]), int(i)) for i in np.flatnonzero(counts >= min_points)]
    heapq.heapify(heap)
    groups: list[list[int]] = []
    while heap:
        stale, original, i = heapq.heappop(heap)
        if taken[i]:
            continue
        members = neighbours(i)  # counts only shrink as points are taken: re-check before using a seed
        if len(members) < min_points:
            continue
        if len(members) < -stale:
            heapq.heappush(heap, (-len(members), original, i))
            continue
        taken[members] = True
        groups.append(sorted(int(j) for j in order[members]))
    return groups


def around(street: str) -> str:
    """ "de la rue de la Roquette", "du boulevard Voltaire", "de l'avenue Parmentier"; "de X" for unknown types."""
    words = street.split(maxsplit=1)
    kind = words[0].lower() if words else ""
    rest = (" " + words[1]) if len(words) > 1 else ""
    if kind in FEMININE or kind in MASCULINE:
        if kind[0] in "aeiouyéèêâîôû" or (kind[0] == "h" and kind not in ELIDED_H):
            return f"de l'{kind}{rest}"
        return f"de la {kind}{rest}" if kind in FEMININE else f"du {kind}{rest}"
    return f"de {street}"


def describe(count: int, noun: str, days: int, street: str | None, radius_m: int) -> str:
    """The French label of a hotspot."""
    span = f"en {days} jour{'s' if days > 1 else ''}"
    if street:
        return f"{count} {noun} {span} autour {around(street)}"
    return f"{count} {noun} {span} dans un rayon de {radius_m} m"


def _centre(rows: Sequence[Any]) -> tuple[float, float, int]:
    lat = sum(r.lat for r in rows) / len(rows)
    lon = sum(r.lon for r in rows) / len(rows)
    kx = M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
    far = max(math.hypot((r.lon - lon) * kx, (r.lat - lat) * M_PER_DEG_LAT) for r in rows)
    return lat, lon, max(10, int(math.ceil(far / 5) * 5))


def _street(rows: Sequence[Any], lat: float, lon: float) -> str | None:
    """The street most reports of the group name (case aside; on a tie, the one reported nearest the centre),
    in its most used spelling."""
    named = [(" ".join(r.address_voie.split()), r) for r in rows if r.address_voie and r.address_voie.strip()]
    if not named:
        return None
    spellings = Counter(spelling for spelling, _ in named)
    streets: Counter[str] = Counter(spelling.casefold() for spelling, _ in named)
    nearest: dict[str, float] = {}
    for spelling, r in named:
        d = (r.lat - lat) ** 2 + ((r.lon - lon) * math.cos(math.radians(lat))) ** 2
        nearest[spelling.casefold()] = min(d, nearest.get(spelling.casefold(), math.inf))
    best = min(streets, key=lambda s: (-streets[s], nearest[s], s))
    return min((s for s in spellings if s.casefold() == best), key=lambda s: (-spellings[s], s))


def find_hotspots(
    session: Session,
    config: Config,
    flt: ReportFilter,
    period: Period,
    *,
    service_scope: str | None = None,
    min_reports: int | None = None,
    radius_m: float | None = None,
) -> HotspotResult:
    """Hotspots of the reports matching `flt` over `period` (an agent's `service_scope` applies).

    `min_reports` / `radius_m` replace every category's thresholds when given.
    """
    wanted = replace(flt, since=period.since, until=period.until, duplicates="inclus")
    columns: list[Any] = [
        Report.id,
        Report.tracking_number,
        Report.category,
        Report.lat,
        Report.lon,
        Report.address_voie,
        Report.address_label,
        Report.created_at,
        Report.status,
        Report.duplicate_of_id,
    ]
    query = apply(select(*columns), wanted, config, service_scope=service_scope)
    query = query.where(Report.lat.is_not(None), Report.lon.is_not(None), Report.category.is_not(None))
    if not flt.statuses:
        query = query.where(Report.status != "rejete")
    rows = session.execute(query.order_by(Report.created_at, Report.id)).all()
    linked: Counter[int] = Counter(r.duplicate_of_id for r in rows if r.duplicate_of_id is not None)
    keep: Callable[[Any], bool] = {
        "masques": lambda r: r.duplicate_of_id is None,
        "seuls": lambda r: r.duplicate_of_id is not None,
        "inclus": lambda r: True,
    }[flt.duplicates]
    per_category: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if keep(row):
            per_category[row.category].append(row)
    excluded = set(config.hotspots.exclude) - set(flt.categories)
    labels = {c.code: c.label for c in config.categories}
    hotspots: list[Hotspot] = []
    thresholds: list[Threshold] = []
    for cat in config.categories:
        if cat.code in excluded or (flt.categories and cat.code not in flt.categories):
            continue
        limit = threshold(config, cat.code, period, min_reports=min_reports, radius_m=radius_m)
        thresholds.append(limit)
        points = per_category.get(cat.code, [])
        for group in cluster([(r.lat, r.lon) for r in points], radius_m=limit.radius_m, min_points=limit.min_reports):
            members = [points[i] for i in group]
            lat, lon, radius = _centre(members)
            street = _street(members, lat, lon)
            hotspots.append(
                Hotspot(
                    category=cat.code,
                    category_label=labels[cat.code],
                    lat=lat,
                    lon=lon,
                    radius_m=radius,
                    street=street,
                    label=describe(len(members), limit.noun, period.days, street, radius),
                    threshold=limit,
                    reports=sorted(
                        (
                            Member(
                                r.id,
                                r.tracking_number,
                                r.created_at,
                                r.status,
                                r.address_label or r.address_voie,
                                r.lat,
                                r.lon,
                                linked.get(r.id, 0),
                            )
                            for r in members
                        ),
                        key=lambda m: (utc(m.created_at), m.id),
                        reverse=True,
                    ),
                )
            )
    hotspots.sort(key=lambda h: (-h.count / h.threshold.min_reports, -h.count, h.category, h.lat))
    return HotspotResult(
        period=period, hotspots=hotspots, thresholds=thresholds, located=sum(len(v) for v in per_category.values())
    )


def geojson(result: HotspotResult, *, report_url: Any, max_reports: int = 200) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the hotspots (Point at the centre; radius and label in the properties).

    `report_url(number)` gives each report's back-office link.
    """
    period = result.period
    return {
        "type": "FeatureCollection",
        "period": {"since": period.since.isoformat(), "until": period.until.isoformat(), "days": period.days},
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(h.lon, 6), round(h.lat, 6)]},
                "properties": {
                    "category": h.category,
                    "category_label": h.category_label,
                    "count": h.count,
                    "duplicates": h.duplicates,
                    "open": h.open_count,
                    "radius_m": h.radius_m,
                    "street": h.street,
                    "label": h.label,
                    "min_reports": h.threshold.min_reports,
                    "threshold_radius_m": h.threshold.radius_m,
                    "reports": [
                        {
                            "number": m.number,
                            "url": report_url(m.number),
                            "created_at": utc(m.created_at).isoformat(),
                            "status": m.status,
                            "address": m.address,
                        }
                        for m in h.reports[:max_reports]
                    ],
                },
            }
            for h in result.hotspots
        ],
    }
