"""What the services' referents are sent about a report: one email each, or the report in their daily digest."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.geocoding.precision import describe
from intake.masking import mask_contacts
from intake.models import Event, Report
from intake.outbox.enqueue import enqueue
from intake.outbox.notify import _summary, template
from intake.outbox.workorder import field_url

KIND_MAX = 40  # outbox.kind is a String(40)
DIGEST_EVENT = "referents_digest"  # the report waits for its service's daily digest


def outbox_kind(prefix: str, service: str, suffix: str = "") -> str:
    """An outbox kind naming the service, shortened with a stable hash when the column would overflow."""
    kind = f"{prefix}:{service}{suffix}"
    if len(kind) <= KIND_MAX:
        return kind
    digest = hashlib.sha1(service.encode()).hexdigest()[:8]
    keep = KIND_MAX - len(prefix) - len(suffix) - len(digest) - 2
    return f"{prefix}:{service[:keep]}~{digest}{suffix}"


def report_url(config: Config, report: Report) -> str:
    """The agents' page of the report."""
    return f"{config.town.public_url.rstrip('/')}/signalements/{report.tracking_number}"


def report_values(config: Config, report: Report) -> dict[str, Any]:
    """What a referent reads about a report: no contact detail of the citizen."""
    labels = {c.code: c.label for c in config.categories}
    return {
        "tracking_number": report.tracking_number,
        "category": labels.get(report.category or "", report.category or "non classé"),
        "address": describe(report),  # "vers le 12 Rue des Lilas … (position estimée, à 30 m près)"
        "summary": _summary(mask_contacts(report.description or report.subject, region=config.town.phone_region)),
        "report_url": report_url(config, report),
        "field_url": field_url(config, report),
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
        marked = (
            session.execute(select(Event.detail).where(Event.report_id == report.id, Event.action == DIGEST_EVENT))
            .scalars()
            .all()
        )
        if not any((d or {}).get("service") == service.code for d in marked):
            session.add(Event(report_id=report.id, action=DIGEST_EVENT, detail={"service": service.code}))
        return []
    values = {**report_values(config, report), "service": service.name}
    subject = " ".join(template(config.templates.referent_subject).render(values).split())[:500]
    body = template(config.templates.referent_body).render(values)
    kind = outbox_kind("referent", service.code)
    ids = []
    for recipient in dict.fromkeys(e.strip() for e in service.emails if e.strip()):
        row_id = enqueue(
            session,
            config,
            report_id=report.id,
            kind=kind,
            channel="email",
            recipient=recipient,
            subject=subject,
            body=body,
        )
        if row_id is not None:
            ids.append(row_id)
    return ids
