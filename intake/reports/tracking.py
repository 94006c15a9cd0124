"""Tracking numbers AAAA-NNNNN, allocated from a yearly counter without gaps or collisions."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from intake.models import Report, ReportMessage

TRACKING_RE = re.compile(r"\b(20\d{2})-(\d{5,6})\b")


def next_tracking_number(session: Session, *, year: int) -> str:
    """Allocate the next number of `year` inside the caller's transaction (row-locked until commit)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text("INSERT INTO tracking_counter (year, value) VALUES (:y, 0) ON CONFLICT (year) DO NOTHING"),
            {"y": year},
        )
    else:
        session.execute(text("INSERT OR IGNORE INTO tracking_counter (year, value) VALUES (:y, 0)"), {"y": year})
    value = session.execute(
        text("UPDATE tracking_counter SET value = value + 1 WHERE year = :y RETURNING value"), {"y": year}
    ).scalar_one()
    return f"{year}-{value:05d}"


def find_tracking_numbers(text_: str) -> list[str]:
    """Tracking numbers written in a text (a subject, a body), in order of appearance."""
    return [f"{m.group(1)}-{m.group(2)}" for m in TRACKING_RE.finditer(text_ or "")]


def new_public_token() -> str:
    """An unguessable token for a report's public page."""
    return secrets.token_urlsafe(24)


def report_by_number(session: Session, number: str) -> Report | None:
    """The report of a tracking number (AAAA-NNNNN), or None."""
    return session.execute(select(Report).where(Report.tracking_number == number[:16])).scalar_one_or_none()


def report_by_token(session: Session, token: str, *, lock: bool = False) -> Report | None:
    """The report whose public token (of its tracking link) is `token`, or None; `lock` holds its row until the
    transaction ends (SELECT ... FOR UPDATE where the database has it)."""
    query = select(Report).where(Report.public_token == token)
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def tracking_of_raw(session: Session, raw_id: int) -> tuple[str, str] | None:
    """(tracking number, public token) of the report a raw message was filed into, or None (not filed yet)."""
    row = session.execute(
        select(Report.tracking_number, Report.public_token)
        .join(ReportMessage, ReportMessage.report_id == Report.id)
        .where(ReportMessage.raw_message_id == raw_id)
    ).first()
    return (str(row[0]), str(row[1])) if row else None
