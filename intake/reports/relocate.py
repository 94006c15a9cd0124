"""Placing a report from the citizen's answer to the location question: a reply's text, a pin, a shared position."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.geocoding.precision import UNSURE, mark, review_reason
from intake.models import Attachment, Event, Outbox, Report
from intake.vocab import CLOSED

CITIZEN = "citoyen"
# Review reasons (set by triage) that say nobody could place the report, or not surely; an answer removes them.
LOCATION_REASONS = (
    "aucune localisation",
    "adresse non trouvée",
    "adresse ambiguë",
    "localisation incertaine",
    "localisation ambiguë",
)
# Positions a citizen's answer never replaces: an agent's choice, a photo's GPS, a pin already dropped.
FIRM_SOURCES = frozenset({"agent", "exif", "pin"})


def _is_location_reason(reason: str) -> bool:
    return reason.lower().startswith(LOCATION_REASONS)


def _is_placing_reason(reason: str) -> bool:
    """A reason a new position removes: a missing or doubtful one, or an estimate too loose (precision.UNSURE)."""
    return _is_location_reason(reason) or reason.startswith(UNSURE)


def needs_location(report: Report) -> bool:
    """Whether nobody could place the report (no position, or triage found the position doubtful)."""
    if report.location_source in {"agent", "exif", "pin"}:
        return False
    return report.lat is None or any(_is_location_reason(r) for r in report.review_reasons or [])


def question_pending(report: Report) -> bool:
    """A location question was asked and no firm position has been given since."""
    return report.location_requested_at is not None and report.location_source not in FIRM_SOURCES


def accepts_citizen_location(session: Session, report: Report) -> str | None:
    """Why the citizen may not place this report now (French), or None when a position is welcome."""
    if report.status in CLOSED:
        return "Ce signalement est clos : il n'est plus possible de modifier sa localisation."
    if report.location_source in {"agent", "exif"}:
        return "Ce signalement a déjà été localisé par nos services. Merci !"
    if answered(session, report):
        return "Vous avez déjà indiqué où se trouve le problème. Merci !"
    if report.lat is not None and not question_pending(report) and not needs_location(report):
        return "Ce signalement est déjà localisé. Merci !"
    return None


def answered(session: Session, report: Report) -> bool:
    """Whether the citizen already placed the report themselves (pin page, reply, shared position)."""
    return (
        session.execute(
            select(Event.id).where(Event.report_id == report.id, Event.action == "located", Event.actor == CITIZEN)
        ).first()
        is not None
        or report.location_source == "pin"
    )


def clear_location_reasons(session: Session, config: Config, report: Report) -> None:
    """Drop the "no location" review reasons; if none is left, triage's rule puts the report back to "nouveau"."""
    before = list(report.review_reasons or [])
    after = [r for r in before if not _is_placing_reason(r)]
    if after == before:
        return
    report.review_reasons = after
    if not after and report.status == "a_qualifier":
        from intake.reports.statuses import change_status

        change_status(
            session, config, report, "nouveau", actor="guichet", notify=False, note="localisé : plus rien à vérifier"
        )
        from intake.reports.routing import dispatch

        dispatch(session, config, report)  # its zone may change its service; pending mail leaves with the sweep


def place(
    session: Session,
    config: Config,
    report: Report,
    *,
    lat: float,
    lon: float,
    source: str,
    score: float,
    geo: Any = None,
    mention: Any = None,
    label: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str = CITIZEN,
) -> None:
    """Set the report's position and address fields, record who placed it, and drop the stale review reasons."""
    report.lat, report.lon, report.location_source = float(lat), float(lon), source
    report.confidence = {**(report.confidence or {}), "location": round(float(score), 4)}
    mark(report, geo if source in ("text", "agent") else None)  # a photo's GPS or a pin is no estimate
    if geo is not None:
        report.address_label = (label or geo.label)[:300]
        report.address_voie = geo.street
        report.address_numero = getattr(mention, "numero", None) or geo.housenumber or None
        report.address_rep = getattr(mention, "rep", None)
        report.address_postcode = geo.postcode
        report.address_citycode = geo.citycode
    elif label:
        report.address_label = label[:300]
    session.add(
        Event(
            report_id=report.id,
            actor=actor,
            action="located",
            detail={"source": source, "label": report.address_label, "score": round(float(score), 4), **(detail or {})},
        )
    )
    loose = review_reason(report, config.addresses.max_estimate_m)
    if loose is not None:  # an answer placed it, but too loosely to transmit: the agent still checks
        report.review_reasons = [*(r for r in report.review_reasons or [] if not _is_placing_reason(r)), loose]
        return
    clear_location_reasons(session, config, report)


def locate_answer(
    session: Session, config: Config, understanding: Any, report: Report, *, text: str, detail: dict[str, Any]
) -> bool:
    """Read an address (or a photo's GPS) in the citizen's answer and place the report; True when placed."""
    mention, result = understanding.locate_text("", text)
    photos = session.execute(
        select(Attachment.gps_lat, Attachment.gps_lon).where(
            Attachment.report_id == report.id, Attachment.gps_lat.is_not(None)
        )
    ).all()
    where = understanding.choose_location(exif=[(a, b) for a, b in photos], text_result=result, mention=mention)
    if where is None:
        if mention is not None and not report.address_voie:
            report.address_voie, report.address_numero = mention.voie, mention.numero
        return False
    place(
        session,
        config,
        report,
        lat=where.lat,
        lon=where.lon,
        source=where.source,
        score=where.score,
        geo=where.result,
        mention=mention,
        label=where.label,
        detail=detail,
    )
    return True


def asked_report(session: Session, config: Config, phone: str, *, at: datetime) -> Report | None:
    """The open, still unplaced report whose location question went to `phone` within the answer window."""
    window = timedelta(hours=config.ask_location.answer_window_hours)
    rows = (
        session.execute(
            select(Report)
            .join(Outbox, Outbox.report_id == Report.id)
            .where(
                Outbox.kind == "ask_location",
                Outbox.recipient.in_((phone, "whatsapp:" + phone)),
                Outbox.status.not_in(("failed", "suppressed")),
                Outbox.created_at >= at - window,
                Outbox.created_at <= at,
                Report.status.not_in(CLOSED),
            )
            .order_by(Outbox.created_at.desc(), Outbox.id.desc())
        )
        .scalars()
        .all()
    )
    return next((r for r in rows if needs_location(r)), None)
