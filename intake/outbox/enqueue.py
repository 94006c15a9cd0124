"""Queue a notification in the outbox exactly once per (report, kind, recipient)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import Outbox
from intake.outbox.notify import make_message_id


def enqueue(
    session: Session,
    config: Config,
    *,
    report_id: int | None,
    kind: str,
    channel: str,
    recipient: str,
    body: str,
    subject: str = "",
    in_reply_to: str | None = None,
) -> int | None:
    """Add a pending outbox row and return its id, or None when this (report, kind, recipient) already has one.

    Rows without a report (referent digests) are unique on (kind, recipient), so their kind must name what
    makes them unique (service and day). The caller sends the returned ids after its transaction commits.
    """
    where = [Outbox.kind == kind, Outbox.recipient == recipient]
    where.append(Outbox.report_id == report_id if report_id is not None else Outbox.report_id.is_(None))
    if session.execute(select(Outbox.id).where(*where)).first() is not None:
        return None
    row = Outbox(
        report_id=report_id,
        kind=kind,
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
        message_id=make_message_id(config.town.mail_domain),
        in_reply_to=in_reply_to,
        status="pending",
    )
    session.add(row)
    session.flush()
    return row.id
