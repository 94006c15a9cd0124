"""Routing: which service a report goes to (category, zone) and telling that service's referents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.masking import mask_contacts
from intake.models import Event, Report
from intake.outbox.enqueue import enqueue
from intake.outbox.notify import _summary, template
from intake.reports.zones import Zones, zones_for

KIND_MAX = 40  # outbox.kind is a String(40)
DIGEST_EVENT = "referents_digest"  # the report waits for its service's daily digest
# Statuses where the report is in a service's hands: a re-routed one is announced to the new service at once.
WITH_SERVICE = ("transmis", "en_cours")


@dataclass(frozen=True)
class Decision:
    """Where a report goes and why: the rule's index in routing.rules, or None for the category's service."""

    service: str | None
    zone: str | None
    rule: int | None


def outbox_kind(prefix: str, service: str, suffix: str = "") -> str:
    """An outbox kind naming the service, shortened with a stable hash when the column would overflow."""
    kind = f"{prefix}:{service}{suffix}"
    if len(kind) <= KIND_MAX:
        return kind
    digest = hashlib.sha1(service.encode()).hexdigest()[:8]
    keep = KIND_MAX - len(prefix) - len(suffix) - len(digest) - 2
    return f"{prefix}:{service[:keep]}~{digest}{suffix}"


def decide(config: Config, category: str | None, zone: str | None) -> Decision:
    """First rule for (category, zone), then ("*", zone), else the category's own service."""
    if zone is not None and category:
        for wanted in (category, "*"):
            for i, rule in enumerate(config.routing.rules):
                if rule.zone == zone and rule.category == wanted:
                    return Decision(rule.service, zone, i)
    default = next((c.service for c in config.categories if c.code == category), None)
    return Decision(default, zone, None)


def locate_zone(config: Config, report: Report, zones: Zones | None = None) -> str | None:
    """Set and return the report's zone from its position (None without zones or outside them)."""
    zones = zones if zones is not None else zones_for(config)
    found = zones.zone_at(report.lat, report.lon) if zones is not None else None
    report.zone = found.code if found is not None else None
    return report.zone


def route(session: Session, config: Config, report: Report, *, actor: str = "guichet") -> Decision:
    """Give the report its zone and service, and record the decision ("routed" event)."""
    zone = locate_zone(config, report)
    decision = decide(config, report.category, zone)
    old = report.service
    report.service = decision.service
    session.add(Event(report_id=report.id, actor=actor, action="routed",
                      detail={"service": decision.service, "zone": zone, "rule": decision.rule,
                              "by": "rule" if decision.rule is not None else "category",
                              **({"from": old} if old and old != decision.service else {})}))
    return decision


def dispatch(session: Session, config: Config, report: Report) -> list[int]:
    """Route a report (zone, service) and, when nothing needs a human, transmit it and tell its referents.

    "Nothing needs a human": auto_transmit is on, triage left it "nouveau", it is no duplicate (a duplicate
    reaches the service with its main report) and it has a service. The citizen is not told again (their
    confirmation or answer covers it). Returns the referents' outbox ids to send after commit.
    """
    from intake.reports.statuses import change_status

    if not report.category:
        locate_zone(config, report)  # shown to the agents who will classify it
        return []
    route(session, config, report)
    if (not config.routing.auto_transmit or report.status != "nouveau" or report.duplicate_of_id is not None
            or report.service is None):
        return []
    change_status(session, config, report, "transmis", actor="guichet", notify=False,
                  note="transmis automatiquement au service")
    return notify_referents(session, config, report)


def report_url(config: Config, report: Report) -> str:
    """The agents' page of the report."""
    return f"{config.town.public_url.rstrip('/')}/signalements/{report.tracking_number}"


def report_values(config: Config, report: Report) -> dict[str, Any]:
    """What a referent reads about a report: no contact detail of the citizen."""
    labels = {c.code: c.label for c in config.categories}
    return {
        "tracking_number": report.tracking_number,
        "category": labels.get(report.category or "", report.category or "non classé"),
        "address": report.address_label or report.address_voie or None,
        "summary": _summary(mask_contacts(report.description or report.subject, region=config.town.phone_region)),
        "report_url": report_url(config, report),
    }


def notify_referents(session: Session, config: Config, report: Report) -> list[int]:
    """Tell the referents of the report's service, once per (report, service, referent); returns outbox ids.

    "immediate" services get one email per referent now; "digest" services get the report in the next
    daily digest (a `referents_digest` event marks it); "none" services are not told.
    """
    service = config.service(report.service)
    if service is None or service.notify == "none" or not service.emails:
        return []
    if service.notify == "digest":
        marked = session.execute(select(Event.detail).where(
            Event.report_id == report.id, Event.action == DIGEST_EVENT)).scalars().all()
        if not any((d or {}).get("service") == service.code for d in marked):
            session.add(Event(report_id=report.id, action=DIGEST_EVENT, detail={"service": service.code}))
        return []
    values = {**report_values(config, report), "service": service.name}
    subject = " ".join(template(config.templates.referent_subject).render(values).split())[:500]
    body = template(config.templates.referent_body).render(values)
    kind = outbox_kind("referent", service.code)
    ids = []
    for recipient in dict.fromkeys(e.strip() for e in service.emails if e.strip()):
        row_id = enqueue(session, config, report_id=report.id, kind=kind, channel="email", recipient=recipient,
                         subject=subject, body=body)
        if row_id is not None:
            ids.append(row_id)
    return ids


def reroute(session: Session, config: Config, report: Report, service: str, *, actor: str,
            note: str | None = None) -> list[int]:
    """An agent sends the report to another service: recorded, and the new referents told; returns outbox ids.

    The new service's referents are told at once when the report is already with a service (transmis,
    en cours); a report still being qualified is announced when it is transmitted. A duplicate travels
    with its main report. Raises ValueError (French message) for an unknown service.
    """
    target = config.service(service)
    if target is None:
        raise ValueError(f"Service inconnu : {service or '(aucun)'}.")
    old = report.service
    if old == target.code:
        return []
    report.service = target.code
    notify = report.status in WITH_SERVICE and report.duplicate_of_id is None
    ids = notify_referents(session, config, report) if notify else []
    session.add(Event(report_id=report.id, actor=actor, action="rerouted",
                      detail={"from": old, "to": target.code, "note": (note or "").strip()[:1000] or None,
                              "notified": len(ids)}))
    return ids
