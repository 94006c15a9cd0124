"""Report statuses and their notifications: every reporter is told, on their channel, when it is resolved."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import STATUS_CODES, Config
from intake.models import Contact, Event, Outbox, Report, ReportMessage
from intake.notify import make_message_id

STATUSES = STATUS_CODES
NOTIFIED = ("resolu",)


def _answerable(config: Config, email: str) -> bool:
    local, _, domain = email.lower().partition("@")
    own = [d.lower() for d in [*config.town.own_domains, config.town.mail_domain]]
    return bool(domain) and domain not in own and not any(p in local for p in config.notifications.noreply_patterns)


def reporters(session: Session, config: Config, report: Report) -> list[tuple[str, str]]:
    """(channel, recipient) of everyone who reported this problem, its duplicates included, without repeats."""
    duplicates = session.execute(
        select(Report).where(Report.duplicate_of_id == report.id).order_by(Report.id)).scalars().all()
    out = [r for row in (report, *duplicates) for r in reporters_of(session, config, row)]
    return list(dict.fromkeys(out))


def reporters_of(session: Session, config: Config, report: Report) -> list[tuple[str, str]]:
    """(channel, recipient) of the author and writers of one report row, on that report's channel."""
    out: list[tuple[str, str]] = []
    contacts: list[Contact] = [report.author] if report.author else []
    senders = session.execute(
        select(ReportMessage.sender_email)
        .where(ReportMessage.report_id == report.id, ReportMessage.role != "auto_reply")
    ).scalars().all()
    for email in senders:
        contact = session.execute(select(Contact).where(Contact.email == email)).scalar_one_or_none() if email else None
        if contact is not None and contact not in contacts:
            contacts.append(contact)
        elif contact is None and email and _answerable(config, email):
            out.append(("email", email))  # someone who wrote about it without having opened it
    for contact in contacts:
        if report.channel in {"sms", "whatsapp", "voice"} and contact.phone and not contact.opt_out:
            prefix = "whatsapp:" if report.channel == "whatsapp" else ""
            out.append(("whatsapp" if prefix else "sms", prefix + contact.phone))
        elif contact.email and report.citizen_recovered and _answerable(config, contact.email):
            out.append(("email", contact.email))
    return list(dict.fromkeys(out))


def change_status(session: Session, config: Config, report: Report, status: str, *, actor: str,
                  note: str | None = None, notify: bool = True) -> list[int]:
    """Set the status, record who did it, and queue the notifications it calls for; returns outbox ids."""
    from intake.stages.sms import render_sms

    if status not in STATUSES:
        raise ValueError(f"statut inconnu : {status}")
    old = report.status
    if old == status:
        return []
    report.status = status
    session.add(Event(report_id=report.id, actor=actor, action="status",
                      detail={"from": old, "to": status, "note": note}))
    if not notify or status not in NOTIFIED:
        return []
    ids = []
    for channel, recipient in reporters(session, config, report):
        kind = f"status_{status}"
        exists = session.execute(select(Outbox.id).where(
            Outbox.report_id == report.id, Outbox.kind == kind, Outbox.recipient == recipient)).first()
        if exists:
            continue  # exactly once per (report, status, recipient)
        if channel == "email":
            subject = f"Votre signalement n° {report.tracking_number} est résolu"
            body = (f"Bonjour,\n\nVotre signalement n° {report.tracking_number} est résolu.\n"
                    f"{note + chr(10) if note else ''}\nMerci de votre aide.\n{config.town.name}\n")
        else:
            subject, body = "", render_sms(config, config.templates.status["resolu"].sms, report=report)
        row = Outbox(report_id=report.id, kind=kind, channel=channel, recipient=recipient, subject=subject,
                     body=body, message_id=make_message_id(config.town.mail_domain), status="pending")
        session.add(row)
        session.flush()
        ids.append(row.id)
    return ids
