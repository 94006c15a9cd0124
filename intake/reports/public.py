"""What a report shows outside the back office: the anonymous Open311 record and the citizen's tracking page.

The rule (issue 12, P2 and P3):

- The place is the street of the commune's address reference (`address_voie`, the gazetteer's or the BAN's
  canonical name), never `address_label`, which may be text typed by a person (a staff entry's address, a
  WhatsApp location label, an app's `address_string`) and has carried names, phone numbers and door codes.
  No house number either: the street is enough to find a pothole and says nothing of who lives there.
- The agent's note written with a status change goes to the citizens who reported the problem in the message
  they receive, and nowhere else: not on their tracking page (a link that gets forwarded, bookmarked, kept in
  browser histories: agents have written "Rappeler Mme X au 06…" there), never in the anonymous API.
- Anonymous lookups go by `public_id` (unguessable); the sequential tracking number opens nothing public.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import Event, Report


def public_place(voie: str | None) -> str | None:
    """The place a public output may show: the reference street only (None when the report has none)."""
    street = " ".join((voie or "").split())
    return street or None


# Paragraphs the app door (intake/channels/open311.py) appends to the citizen's description for the agents: the
# `address_string` and the app's photo link, both outside what the citizen wrote as the public description.
_APPENDED = ("\n\nAdresse : ", "\n\nPhoto : ")


def public_description(text: str | None) -> str | None:
    """An app request's description as its author wrote it, without the address and links appended for agents."""
    text = text or ""
    for marker in _APPENDED:
        text = text.split(marker, 1)[0]
    return text.strip() or None


def public_status_text(config: Config, status: str, reason: str | None, detail: dict[str, Any] | None) -> str:
    """The anonymous status text: the town's label, the rejection reason, "doublon" — never the agent's note."""
    text = config.statuses.label(status)
    if status == "rejete" and reason:
        text += f" ({config.statuses.reason_label(reason)})"
    if detail is not None and detail.get("to") == status and detail.get("main"):
        text += ", doublon d'un autre signalement"
    return text


@dataclass(frozen=True)
class TrackingPage:
    """What the citizen's tracking page (/suivi/<token>) shows: nothing personal, no agent's note."""

    tracking_number: str
    received_at: datetime
    category: str | None
    status: str
    reason: str | None
    address: str | None
    service: str | None
    history: list[tuple[datetime, str]]  # (when, status label)


def tracking_page(session: Session, config: Config, token: str) -> TrackingPage | None:
    """The tracking page of the report whose public token is `token`, or None."""
    rep = session.execute(select(Report).where(Report.public_token == token)).scalar_one_or_none()
    if rep is None:
        return None
    changes = session.execute(
        select(Event.at, Event.detail).where(Event.report_id == rep.id, Event.action == "status").order_by(Event.id)
    ).all()
    service = config.service(rep.service)
    history = [(at, config.statuses.label(str((detail or {}).get("to")))) for at, detail in changes]
    return TrackingPage(
        tracking_number=rep.tracking_number,
        received_at=rep.created_at,
        category=next((c.label for c in config.categories if c.code == rep.category), None),
        status=config.statuses.label(rep.status),
        reason=config.statuses.reason_label(rep.status_reason) if rep.status == "rejete" else None,
        address=public_place(rep.address_voie),
        service=service.name if service else None,
        history=history,
    )


def after_photo_events(session: Session, token: str) -> list[int]:
    """Ids of the `field_photo` events (technicians' photos after the work) of the report whose public token is
    `token`, oldest first; the tracking page shows them only when the town chose to (`web.public_after_photo`)."""
    return list(
        session.execute(
            select(Event.id)
            .join(Report, Report.id == Event.report_id)
            .where(Report.public_token == token, Event.action == "field_photo")
            .order_by(Event.id)
        ).scalars()
    )
