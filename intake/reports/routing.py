"""Routing: which service a report goes to (category, zone); its referents are told by outbox.referents."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import Event, Report
from intake.outbox.referents import notify_referents
from intake.reports.statuses import change_status
from intake.reports.zones import Zones, zones_for

# Statuses where the report is in a service's hands: a re-routed one is announced to the new service at once.
WITH_SERVICE = ("transmis", "en_cours")
# The note of the "status" event of a report transmitted without any agent's review (the statistics find them by it).
AUTO_TRANSMIT_NOTE = "transmis automatiquement au service"


@dataclass(frozen=True)
class Decision:
    """Where a report goes and why: the rule's index in routing.rules, or None for the category's service."""

    service: str | None
    zone: str | None
    rule: int | None


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
    session.add(
        Event(
            report_id=report.id,
            actor=actor,
            action="routed",
            detail={
                "service": decision.service,
                "zone": zone,
                "rule": decision.rule,
                "by": "rule" if decision.rule is not None else "category",
                **({"from": old} if old and old != decision.service else {}),
            },
        )
    )
    return decision


def dispatch(session: Session, config: Config, report: Report) -> list[int]:
    """Route a report (zone, service) and, when nothing needs a human, transmit it and tell its referents.

    "Nothing needs a human": auto_transmit is on, triage left it "nouveau", it is no duplicate (a duplicate
    reaches the service with its main report) and it has a service. The citizen is not told again (their
    confirmation or answer covers it). The transmission's event records the category, where it came from, its
    confidence and the review threshold in force. Returns the referents' outbox ids to send after commit.
    """
    if not report.category:
        locate_zone(config, report)  # shown to the agents who will classify it
        return []
    route(session, config, report)
    if (
        not config.routing.auto_transmit
        or report.status != "nouveau"
        or report.duplicate_of_id is not None
        or report.service is None
    ):
        return []
    confidence = (report.confidence or {}).get("category")
    change_status(
        session,
        config,
        report,
        "transmis",
        actor="guichet",
        notify=False,
        note=AUTO_TRANSMIT_NOTE,
        detail={
            "category": report.category,
            "source": report.category_source,
            "confidence": confidence,
            "threshold": config.classifier.review_threshold,
        },
    )
    return notify_referents(session, config, report)


def reroute(
    session: Session, config: Config, report: Report, service: str, *, actor: str, note: str | None = None
) -> list[int]:
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
    session.add(
        Event(
            report_id=report.id,
            actor=actor,
            action="rerouted",
            detail={"from": old, "to": target.code, "note": (note or "").strip()[:1000] or None, "notified": len(ids)},
        )
    )
    return ids
