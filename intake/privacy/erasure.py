"""Anonymising what Guichet holds: the primitives that a citizen's erasure and the retention purge share.

What goes: names, emails, phone numbers, the words of the messages (text, quotes, signatures, HTML), the
messages as received (raw payloads) and the attachments. What stays: the report, its tracking number,
category, service, zone, status and history, its place (the reference street, the position) and its dates,
so that statistics and hotspots still count it. Every function is idempotent: anonymising twice is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from intake.media.storage import FileStore
from intake.models import Attachment, AuditLog, Contact, Correction, Event, Outbox, RawMessage, Report, ReportMessage
from intake.pipeline.content_keys import content_key

ERASED = "[effacé]"
ERASED_REASON = "effacé (protection des données)"
# Event details that may name or reach a person (a linked contact, a notice's recipient, an address as typed).
# The agents' notes to the citizens too: they are written to a person ("Bonjour M. Dupont").
_PERSONAL_DETAIL_KEYS = ("email", "phone", "recipient", "typed", "label", "name", "note", "forwarded_by")


def purge_raw(raw: RawMessage, *, now: datetime) -> bool:
    """Delete the bytes of a message as received; its keys stay, so the same message is never filed again."""
    if raw.purged_at is not None:
        return False
    if raw.content_key is None:  # stored before revision 0007: the key is computed while the bytes are here
        raw.content_key = content_key(raw.channel, bytes(raw.payload))
    raw.payload = b""
    raw.purged_at = now
    return True


def delete_attachments(session: Session, store: FileStore, rows: list[Attachment]) -> int:
    """Delete these attachment rows and their files (originals, stripped copies, thumbnails) unless another
    attachment still uses the same bytes. Returns the number of rows deleted."""
    if not rows:
        return 0
    ids = {a.id for a in rows}
    digests = {d for a in rows for d in (a.sha256, a.served_sha256, a.thumb_sha256) if d}
    session.execute(delete(Attachment).where(Attachment.id.in_(ids)).execution_options(synchronize_session=False))
    still_used: set[str] = set()
    for column in (Attachment.sha256, Attachment.served_sha256, Attachment.thumb_sha256):
        still_used |= {d for d in session.execute(select(column).where(column.in_(digests))).scalars() if d}
    for digest in digests - still_used:
        store.delete(digest)
    return len(ids)


def anonymise_message(session: Session, store: FileStore, message: ReportMessage, *, now: datetime) -> None:
    """Erase a filed message's sender and words, its attachments and the message as received."""
    message.sender_name = message.sender_email = None
    message.subject, message.text, message.quoted, message.signature, message.html = "", ERASED, "", "", None
    message.details = {"anonymised": True}
    delete_attachments(
        session,
        store,
        list(session.execute(select(Attachment).where(Attachment.report_message_id == message.id)).scalars()),
    )
    raw = session.get(RawMessage, message.raw_message_id)
    if raw is not None:
        purge_raw(raw, now=now)


def _scrub(detail: Any) -> Any:
    if not isinstance(detail, dict):
        return detail
    return {k: v for k, v in detail.items() if k not in _PERSONAL_DETAIL_KEYS}


def anonymise_outbox(session: Session, rows: list[Outbox]) -> None:
    """What we sent to a person: recipient, subject and body erased; unsent rows never leave."""
    for row in rows:
        if row.recipient.startswith("effacé-"):
            continue
        row.recipient, row.subject, row.body, row.in_reply_to = f"effacé-{row.id}", "", "", None
        if row.status in ("pending", "sending", "failed"):
            row.status, row.reason = "suppressed", ERASED_REASON


def anonymise_report(session: Session, store: FileStore, report: Report, *, now: datetime) -> bool:
    """Erase everything personal on a report and all its messages; category, place, status and dates stay.

    The address as typed (`address_label`) goes: it may hold names or door codes; the reference street and the
    position stay. Returns False when the report was already anonymised.
    """
    if report.anonymised_at is not None:
        return False
    report.subject, report.description = "", ERASED
    report.address_label = None
    report.forwarded_by_name = report.forwarded_by_email = None
    report.notes = []
    for message in session.execute(select(ReportMessage).where(ReportMessage.report_id == report.id)).scalars():
        anonymise_message(session, store, message, now=now)
    delete_attachments(
        session, store, list(session.execute(select(Attachment).where(Attachment.report_id == report.id)).scalars())
    )
    anonymise_outbox(session, list(session.execute(select(Outbox).where(Outbox.report_id == report.id)).scalars()))
    for event in session.execute(select(Event).where(Event.report_id == report.id)).scalars():
        event.detail = _scrub(event.detail)
    for correction in session.execute(select(Correction).where(Correction.report_id == report.id)).scalars():
        correction.subject, correction.text = "", ""
        if correction.field == "address":  # the address as typed, before and after: the count is what stays
            correction.old_value = correction.new_value = None
    report.anonymised_at = now
    session.add(Event(report_id=report.id, action="anonymised", detail={}))
    return True


def anonymise_contact(contact: Contact, *, now: datetime) -> bool:
    """Erase a contact's name, email and phone (the row stays for the reports that point to it)."""
    if contact.anonymised_at is not None:
        return False
    contact.name = contact.email = contact.phone = None
    contact.anonymised_at = now
    return True


def contact_is_done(session: Session, contact_id: int) -> bool:
    """Whether every report of this contact is anonymised (its identity is no longer needed)."""
    left = session.execute(
        select(func.count()).select_from(Report).where(Report.author_id == contact_id, Report.anonymised_at.is_(None))
    ).scalar_one()
    return int(left) == 0


@dataclass(frozen=True)
class Actor:
    """Who did an operation on personal data, as the audit log records it.

    A command or a job has a name only; a web request adds the account, the client's address, the method and path.
    """

    name: str
    user_id: int | None = None
    ip: str | None = None
    method: str = "CLI"
    path: str = ""


SYSTEM = Actor("guichet")  # Guichet's own jobs (the retention purge run by the scheduler)


def audit(session: Session, *, actor: Actor, action: str, detail: dict[str, Any]) -> None:
    """One audit-log row for an operation on personal data (never the person's email or phone: a pseudonym)."""
    session.add(
        AuditLog(
            user_id=actor.user_id,
            username=actor.name[:80],
            action=action[:80],
            method=actor.method[:8],
            path=actor.path[:500],
            status=200,
            detail=detail,
            ip=actor.ip,
        )
    )
