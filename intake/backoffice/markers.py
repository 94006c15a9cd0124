"""The map's read model: the reports matching the queue's filters that have a position, and how many there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from intake.backoffice.filters import ReportFilter, apply
from intake.config import Config
from intake.geocoding.precision import position_note
from intake.models import Report

BBox = tuple[float, float, float, float]  # west, south, east, north (degrees, GeoJSON order)


@dataclass(frozen=True)
class Marker:
    """One report on the map: nothing personal, only what the marker and its popup show."""

    number: str
    category: str | None
    status: str
    created_at: datetime
    lat: float
    lon: float
    position: str | None = None  # "position estimée, à 30 m près" when the point is not the reference's own


@dataclass(frozen=True)
class MarkerPage:
    """The markers (newest first, at most the cap) and the counts the map's banner states."""

    markers: list[Marker]
    total: int  # reports matching the filters
    with_position: int  # of which have a position
    in_box: int  # of which fall in the requested area (all positioned ones without an area)

    @property
    def truncated(self) -> bool:
        """True when more reports match in the area than the page carries."""
        return self.in_box > len(self.markers)


def map_markers(
    session: Session, flt: ReportFilter, config: Config, *, service_scope: str | None, box: BBox | None, cap: int
) -> MarkerPage:
    """The reports of `flt` (limited to `service_scope` for a service's agent) placed on the map, within `box`."""
    located = and_(Report.lat.is_not(None), Report.lon.is_not(None))
    in_box = (
        located
        if box is None
        else and_(located, Report.lon.between(box[0], box[2]), Report.lat.between(box[1], box[3]))
    )
    aggregates: list[Any] = [func.count(), func.count(case((located, 1))), func.count(case((in_box, 1)))]
    counts = apply(select(*aggregates).select_from(Report), flt, config, service_scope=service_scope)
    fields: list[Any] = [
        Report.tracking_number,
        Report.category,
        Report.status,
        Report.created_at,
        Report.lat,
        Report.lon,
        Report.confidence,
        Report.location_source,
    ]
    query = apply(select(*fields), flt, config, service_scope=service_scope).where(in_box)
    total, with_position, matching = session.execute(counts).one()
    rows = session.execute(query.order_by(Report.id.desc()).limit(cap)).all()
    markers = [
        Marker(number, category, status, created, lat, lon, position_note(confidence, source))
        for number, category, status, created, lat, lon, confidence, source in rows
    ]
    return MarkerPage(markers, int(total), int(with_position), int(matching))
