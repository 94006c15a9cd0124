"""Report statuses: each change is an event, and every reporter is told once, on their channel, in French."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import STATUS_CODES, Config
from intake.message import PHONE_CHANNELS
from intake.models import Contact, Event, Outbox, Report, ReportMessage
from intake.outbox.enqueue import enqueue
from intake.outbox.notify import template
from intake.outbox.referents import notify_referents
from intake.vocab import ReportStatus

STATUSES = STATUS_CODES
NEEDS_REVIEW = ReportStatus.A_QUALIFIER


def _answerable(config: Config, email: str) -> bool:
    local, _, domain = email.lower().partition("@")
    own = [d.lower() for d in [*config.town.own_domains, config.town.mail_domain]]
    return bool(domain) and domain not in own and not any(p in local for p in config.notifications.noreply_patterns)


def duplicates(session: Session, report: Report) -> list[Report]:
    """The reports linked to `report` as its duplicates, oldest first."""
    return list(
        session.execute(select(Report).where(Report.duplicate_of_id == report.id).order_by(Report.id)).scalars().all()
    )


def _recipients(session: Session, config: Config, report: Report) -> list[tuple[Report, str, str]]:
    """(report row they reported, channel, recipient) of everyone, the main report's reporters first."""
    seen: set[str] = set()
    out: list[tuple[Report, str, str]] = []
    for row in (report, *duplicates(session, report)):
        for channel, recipient in reporters_of(session, config, row):
            if recipient not in seen:
                seen.add(recipient)
                out.append((row, channel, recipient))
    return out


def reporters(session: Session, config: Config, report: Report) -> list[tuple[str, str]]:
    """(channel, recipient) of everyone who reported this problem, its duplicates included, without repeats."""
    return [(channel, recipient) for _, channel, recipient in _recipients(session, config, report)]


def reporters_of(session: Session, config: Config, report: Report) -> list[tuple[str, str]]:
    """(channel, recipient) of the author and writers of one report row, on that report's channel.

    Never an automated or no-reply sender (a message that arrived as automatic), never the town itself,
    never a number that sent STOP.
    """
    out: list[tuple[str, str]] = []
    contacts: list[Contact] = [report.author] if report.author else []
    rows = session.execute(
        select(ReportMessage.sender_email, ReportMessage.details)
        .where(ReportMessage.report_id == report.id, ReportMessage.role != "auto_reply")
        .order_by(ReportMessage.id)
    ).all()
    automated = {email.lower() for email, details in rows if email and (details or {}).get("auto_reply_reason")}
    for email, _ in rows:
        if not email or email.lower() in automated:
            continue
        contact = session.execute(select(Contact).where(Contact.email == email)).scalar_one_or_none()
        if contact is not None and contact not in contacts:
            contacts.append(contact)
        elif contact is None and _answerable(config, email):
            out.append(("email", email))  # someone who wrote about it without having opened it
    for contact in contacts:
        email_ok = bool(
            contact.email
            and report.citizen_recovered
            and contact.email.lower() not in automated
            and _answerable(config, contact.email)
        )
        phone_ok = bool(contact.phone and not contact.opt_out)
        if report.channel in PHONE_CHANNELS and phone_ok:
            whatsapp = report.channel == "whatsapp"
            out.append(("whatsapp" if whatsapp else "sms", ("whatsapp:" if whatsapp else "") + str(contact.phone)))
        elif email_ok:
            out.append(("email", str(contact.email)))
        elif report.channel not in {"email", *PHONE_CHANNELS} and phone_ok and config.twilio.enabled:
            out.append(("sms", str(contact.phone)))  # an app, phone-call or counter report left only a mobile
    return list(dict.fromkeys(out))


def check_reason(config: Config, status: str, reason: str | None) -> str | None:
    """The reason code to store: required and known for "rejete", dropped for the other statuses."""
    if status != "rejete":
        return None
    codes = [r.code for r in config.statuses.reject_reasons]
    if not reason:
        raise ValueError("Un motif est obligatoire pour rejeter un signalement.")
    if reason not in codes:
        raise ValueError(f"Motif de rejet inconnu : {reason}.")
    return reason


def _record(
    session: Session, report: Report, status: str, reason: str | None, *, actor: str, detail: dict[str, Any]
) -> None:
    old = report.status
    report.status, report.status_reason = status, reason
    session.add(
        Event(
            report_id=report.id,
            actor=actor,
            action="status",
            detail={"from": old, "to": status, "reason": reason, **detail},
        )
    )


def change_status(
    session: Session,
    config: Config,
    report: Report,
    status: str,
    *,
    actor: str,
    note: str | None = None,
    notify: bool = True,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> list[int]:
    """Set the status (with a reason code for "rejete"), record who did it, and queue what it calls for.

    `detail` adds facts to the report's own "status" event (the automatic transmission records the confidence
    and the review threshold it was decided with).

    The report's duplicates follow its status (an event on each, no notice of their own: the main report's
    notice goes to every reporter). With `notify`, each reporter of a status listed in `statuses.notify` gets
    one message on their channel, exactly once per (report, status, recipient) whatever the back-and-forth,
    and "transmis" tells the service's referents. Returns the outbox ids to send after commit.
    Raises ValueError (French message) for an unknown status or a missing or unknown rejection reason.
    """
    if status not in STATUSES:
        raise ValueError(f"Statut inconnu : {status}.")
    reason = check_reason(config, status, reason)
    old = report.status
    if old == status and report.status_reason == reason:
        return []
    _record(session, report, status, reason, actor=actor, detail={"note": note, **(detail or {})})
    for dup in duplicates(session, report):
        if (dup.status, dup.status_reason) != (status, reason):
            _record(session, dup, status, reason, actor=actor, detail={"main": report.tracking_number})
    if not notify or old == status:
        return []
    ids: list[int] = []
    if status in config.statuses.notify:
        ids += _notify_reporters(session, config, report, status, note=note, reason=reason)
    if status == "transmis" and report.duplicate_of_id is None:  # a duplicate reaches the service with its main
        ids += notify_referents(session, config, report)
    return ids


def message_values(
    config: Config, report: Report, row: Report, *, note: str | None, reason: str | None
) -> dict[str, Any]:
    """Template variables of a status notice to someone who reported `row` (the report or one of its duplicates)."""
    categories = {c.code: c.label for c in config.categories}
    service = config.service(report.service) or config.service(
        next((c.service for c in config.categories if c.code == report.category), None)
    )
    return {
        "tracking_number": row.tracking_number,
        "town": config.town.name,
        "category": categories.get(report.category or "", "signalement"),
        "service": service.name if service else "compétent",
        "note": note or "",
        "reason": config.statuses.reason_label(reason) if reason else "",
        "status": config.statuses.label(report.status),
        "status_url": config.status_url(row.public_token),
    }


def thread_on(session: Session, row: Report, recipient: str) -> str | None:
    """The Message-ID a notice to `recipient` answers: their own first message, else our confirmation to them."""
    own = (
        session.execute(
            select(ReportMessage.message_id)
            .where(
                ReportMessage.report_id == row.id,
                ReportMessage.sender_email == recipient,
                ReportMessage.message_id.is_not(None),
            )
            .order_by(ReportMessage.id)
        )
        .scalars()
        .first()
    )
    if own:
        return own
    return (
        session.execute(
            select(Outbox.message_id).where(
                Outbox.report_id == row.id, Outbox.kind == "confirmation", Outbox.recipient == recipient
            )
        )
        .scalars()
        .first()
    )


@dataclass(frozen=True)
class Notice:
    """One status message as it will leave: to whom, on which channel, what it says."""

    row: Report
    channel: str
    recipient: str
    subject: str
    body: str
    in_reply_to: str | None


def render_notices(
    session: Session, config: Config, report: Report, status: str, *, note: str | None, reason: str | None
) -> list[Notice]:
    """The messages a change to `status` sends to every reporter (nothing is queued: also the agent's preview)."""
    if status not in config.statuses.notify:
        return []
    message = config.templates.status[status]  # present: checked when the configuration is loaded
    out: list[Notice] = []
    for row, channel, recipient in _recipients(session, config, report):
        values = {
            **message_values(config, report, row, note=note, reason=reason),
            "status": config.statuses.label(status),
        }
        if channel == "email":
            subject = " ".join(template(message.subject).render(values).split())[:500]
            out.append(
                Notice(
                    row,
                    channel,
                    recipient,
                    subject,
                    template(message.body).render(values),
                    thread_on(session, row, recipient),
                )
            )
        else:
            # One line; GSM-7 folding and the segment limit are applied when the text is sent.
            out.append(
                Notice(row, channel, recipient, "", " ".join(template(message.sms).render(values).split()), None)
            )
    return out


def _notify_reporters(
    session: Session, config: Config, report: Report, status: str, *, note: str | None, reason: str | None
) -> list[int]:
    ids: list[int] = []
    for notice in render_notices(session, config, report, status, note=note, reason=reason):
        new = enqueue(
            session,
            config,
            report_id=notice.row.id,
            kind=f"status_{status}",
            channel=notice.channel,
            recipient=notice.recipient,
            subject=notice.subject,
            body=notice.body,
            in_reply_to=notice.in_reply_to,
        )
        if new is not None:
            ids.append(new)
    return ids
