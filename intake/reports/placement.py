"""An agent places a report: a point on the map or a typed address, geocoded, recorded as a correction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import Correction, Report
from intake.reports.relocate import place
from intake.reports.routing import locate_zone

NEAR_ADDRESS_M = 60.0  # a point this close to a known address takes its label


def _where(report: Report) -> str | None:
    if report.lat is None or report.lon is None:
        return report.address_label
    return f"{report.address_label or ''} ({report.lat:.6f}, {report.lon:.6f})".strip()


def place_by_agent(
    session: Session,
    config: Config,
    understanding: Any,
    report: Report,
    *,
    lat: float | None = None,
    lon: float | None = None,
    address: str | None = None,
    actor: str,
) -> str:
    """Move the report to a point, or to a typed address; returns the label kept. ValueError (French) if unusable."""
    address = (address or "").strip()[:300] or None
    before = _where(report)
    if lat is not None and lon is not None:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not understanding.in_commune(lat, lon):
            raise ValueError("ce point est en dehors de la commune")
        near = understanding.local.reverse(lat, lon, max_distance_m=NEAR_ADDRESS_M)
        label = address or (f"près du {near.label}" if near is not None else None)
        place(
            session,
            config,
            report,
            lat=lat,
            lon=lon,
            source="agent",
            score=1.0,
            label=label,
            actor=actor,
            detail={"how": "point"},
        )
    elif address:
        found = understanding.geocoder.geocode(address)
        if found is None or found.score < config.addresses.min_score:
            raise ValueError(f"adresse introuvable dans la commune : {address}")
        place(
            session,
            config,
            report,
            lat=found.lat,
            lon=found.lon,
            source="agent",
            score=found.score,
            geo=found,
            label=found.label,
            actor=actor,
            detail={"how": "adresse", "typed": address},
        )
    else:
        raise ValueError("placez le point sur la carte ou tapez une adresse")
    locate_zone(config, report)
    session.add(
        Correction(
            report_id=report.id,
            field="address",
            old_value=before,
            new_value=_where(report),
            subject=report.subject or "",
            text=report.description or "",
            channel=report.channel,
            actor=actor,
        )
    )
    return report.address_label or ""
