"""Duplicates: same category, close, recent and open → one main report, the others linked to it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.geocoding.spatial import EARTH_RADIUS_M, distance_m
from intake.models import Event, Report, utcnow
from intake.models import as_utc as _aware
from intake.vocab import CLOSED

K = TypeVar("K")


class Rules(Protocol):
    """What matching needs from the `dedupe` configuration section."""

    enabled: bool
    window_days: int

    def radius(self, category: str) -> float: ...


def box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min lat, max lat, min lon, max lon) of a square containing the circle; a cheap SQL prefilter."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01  # 1 % margin: the exact test comes after
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def closest(
    lat: float, lon: float, candidates: Iterable[tuple[K, float, float, datetime]], *, radius_m: float
) -> tuple[K, float] | None:
    """(key, distance) of the candidate within the radius that is closest, ties going to the oldest."""
    best: tuple[float, datetime, K] | None = None
    for key, clat, clon, created in candidates:
        d = distance_m(lat, lon, clat, clon)
        if d > radius_m:
            continue
        rank = (round(d, 3), _aware(created), key)
        if best is None or rank[:2] < best[:2]:
            best = rank
    return None if best is None else (best[2], best[0])


def find_duplicate(session: Session, report: Report, *, rules: Rules) -> Report | None:
    """The open report of the same category, within its radius and the window, that `report` repeats."""
    if not rules.enabled or report.category is None or report.lat is None or report.lon is None:
        return None
    radius = rules.radius(report.category)
    created = _aware(report.created_at or utcnow())
    lat_min, lat_max, lon_min, lon_max = box(report.lat, report.lon, radius)
    rows = session.execute(
        select(Report.id, Report.lat, Report.lon, Report.created_at).where(
            Report.category == report.category,
            Report.status.not_in(CLOSED),
            Report.duplicate_of_id.is_(None),
            Report.id != report.id,
            Report.lat.between(lat_min, lat_max),
            Report.lon.between(lon_min, lon_max),
            Report.created_at >= created - timedelta(days=rules.window_days),
            Report.created_at <= created,
        )
    ).all()
    found = closest(report.lat, report.lon, ((r.id, r.lat, r.lon, r.created_at) for r in rows), radius_m=radius)
    return None if found is None else session.get(Report, found[0])


def link(session: Session, duplicate: Report, main: Report, *, actor: str, how: str) -> None:
    """Mark `duplicate` as repeating `main`, with a "duplicate_of" event on both."""
    if duplicate.id == main.id:
        raise ValueError("un signalement ne peut pas être le doublon de lui-même")
    duplicate.duplicate_of_id = main.id
    distance = None
    if None not in (duplicate.lat, duplicate.lon, main.lat, main.lon):
        distance = round(distance_m(duplicate.lat, duplicate.lon, main.lat, main.lon), 1)  # type: ignore[arg-type]
    detail = {"duplicate": duplicate.tracking_number, "main": main.tracking_number, "how": how, "distance_m": distance}
    for row in (duplicate, main):
        session.add(Event(report_id=row.id, actor=actor, action="duplicate_of", detail=detail))


def check_scope(service: str | None, *reports: Report | None) -> None:
    """For an agent limited to `service` (None: no limit), refuse when one of `reports` belongs to another."""
    if service is None:
        return
    for report in reports:
        if report is not None and report.service != service:
            raise ValueError(f"le signalement n° {report.tracking_number} relève d'un autre service")


def unlink(session: Session, report: Report, actor: str, *, service: str | None = None) -> Report | None:
    """Make a duplicate a report of its own again; returns the report it was linked to.

    With `service` (an agent's), both the duplicate and its main report must be of that service (ValueError).
    """
    if report.duplicate_of_id is None:
        return None
    main = session.get(Report, report.duplicate_of_id)
    check_scope(service, report, main)
    report.duplicate_of_id = None
    detail = {"duplicate": report.tracking_number, "main": main.tracking_number if main else None}
    for row in (report, main):
        if row is not None:
            session.add(Event(report_id=row.id, actor=actor, action="duplicate_unlinked", detail=detail))
    return main


def merge(session: Session, source: Report, target: Report, actor: str, *, service: str | None = None) -> Report:
    """An agent's merge: `source` becomes a duplicate of `target` (messages and files stay where they are).

    A target that is itself a duplicate is followed to its main report, and the duplicates of `source` are
    re-pointed to it, so that links are never chains (resolution notifies one level of duplicates).
    With `service` (an agent's), the source, the target and the main report it leads to must all be of that
    service (ValueError): the main report's status changes would otherwise reach the other service's citizens.
    """
    check_scope(service, source, target)
    while target.duplicate_of_id is not None:
        parent = session.get(Report, target.duplicate_of_id)
        if parent is None:
            break
        target = parent
    check_scope(service, target)
    if target.id == source.id:
        raise ValueError("un signalement ne peut pas être fusionné avec lui-même")
    link(session, source, target, actor=actor, how="merge")
    children = session.execute(select(Report).where(Report.duplicate_of_id == source.id)).scalars().all()
    for child in children:
        link(session, child, target, actor=actor, how="merge")
    return target
