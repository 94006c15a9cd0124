"""Read models of the report page and of every URL that names a report: the report with what its page shows, and
whose service a report (or one of its files) belongs to, which the route x role check compares with an agent's."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from intake.models import Attachment, Report, ReportMessage


def report_owner(session: Session, number: str) -> tuple[int, str | None] | None:
    """(id, service) of the report with tracking number `number`, or None when there is none."""
    row = session.execute(select(Report.id, Report.service).where(Report.tracking_number == number)).first()
    return (int(row[0]), row[1]) if row else None


def attachment_owner(session: Session, attachment_id: int) -> tuple[int, str | None] | None:
    """(id, service) of the report a file belongs to, or None when there is no such file."""
    row = session.execute(
        select(Report.id, Report.service)
        .join(Attachment, Attachment.report_id == Report.id)
        .where(Attachment.id == attachment_id)
    ).first()
    return (int(row[0]), row[1]) if row else None


def report_for_page(session: Session, number: str) -> Report | None:
    """The report of `number` with everything its page shows loaded at once (its messages as received, files,
    history and author), or None."""
    return session.execute(
        select(Report)
        .where(Report.tracking_number == number)
        .options(
            selectinload(Report.messages).selectinload(ReportMessage.raw),
            selectinload(Report.attachments),
            selectinload(Report.events),
            selectinload(Report.author),
        )
    ).scalar_one_or_none()


def report_for_field(session: Session, number: str) -> Report | None:
    """The report of `number` with its files and history loaded (the technician's work order page), or None."""
    return session.execute(
        select(Report)
        .where(Report.tracking_number == number)
        .options(selectinload(Report.attachments), selectinload(Report.events))
    ).scalar_one_or_none()


def open_work_orders(session: Session, statuses: tuple[str, ...], *, service: str | None, limit: int) -> list[Report]:
    """Original reports (not duplicates) in one of `statuses`, of `service` when given, newest first."""
    query = select(Report).where(Report.status.in_(statuses), Report.duplicate_of_id.is_(None))
    if service is not None:
        query = query.where(Report.service == service)
    return list(session.execute(query.order_by(Report.id.desc()).limit(limit)).scalars())
