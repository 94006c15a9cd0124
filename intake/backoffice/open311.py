"""Read models of the Open311 API (`web/open311/`): requests by the spec's filters, by public id or by the token
given to an app, what their public records add (the last status change, the first photo posted with the app), the
public copy of such a photo, and an app's repeated request. What a record shows is decided in
`web/open311/public.py` and `intake/reports/public.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from intake.models import Attachment, Event, RawMessage, Report, ReportMessage
from intake.vocab import CLOSED

CHANNEL = "open311"
# The only report columns a public record reads: loading just these skips the JSON columns' decoding.
COLUMNS = (
    Report.id,
    Report.public_id,
    Report.channel,
    Report.status,
    Report.status_reason,
    Report.category,
    Report.service,
    Report.description,
    Report.address_voie,
    Report.address_postcode,
    Report.lat,
    Report.lon,
    Report.created_at,
    Report.updated_at,
)


def db_time(session: Session, moment: datetime) -> datetime:
    """`moment` (aware) as the database compares it: SQLite stores naive UTC, PostgreSQL aware values."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    return moment.astimezone(UTC).replace(tzinfo=None) if sqlite else moment


@dataclass(frozen=True)
class RequestSearch:
    """The spec's filters of `GET requests`, checked by the API: public ids (which override every other filter),
    else service codes (any when empty), the creation window, and "open", "closed" or None for both."""

    ids: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    state: str | None = None


def find_requests(session: Session, search: RequestSearch, *, limit: int) -> list[Report]:
    """The reports `search` selects, newest first, at most `limit`, with the public record's columns loaded."""
    query = (
        select(Report).options(load_only(*COLUMNS)).order_by(Report.created_at.desc(), Report.id.desc()).limit(limit)
    )
    if search.ids:
        return list(session.execute(query.where(Report.public_id.in_(search.ids))).scalars())
    if search.codes:
        query = query.where(Report.category.in_(search.codes))
    if search.start is not None:
        query = query.where(Report.created_at >= db_time(session, search.start))
    if search.end is not None:
        query = query.where(Report.created_at <= db_time(session, search.end))
    if search.state == "open":
        query = query.where(Report.status.not_in(CLOSED))
    elif search.state == "closed":
        query = query.where(Report.status.in_(CLOSED))
    return list(session.execute(query).scalars())


def request_by_public_id(session: Session, public_id: str) -> list[Report]:
    """The report of an unguessable public id (none or one), with the public record's columns loaded."""
    query = select(Report).options(load_only(*COLUMNS)).where(Report.public_id == public_id)
    return list(session.execute(query).scalars())


def token_public_id(session: Session, token: str) -> tuple[bool, str | None]:
    """(known, public id) of the request an app posted under `token`: (False, None) for a token never given,
    (True, None) while the request is not filed yet."""
    row = session.execute(
        select(RawMessage.id, Report.public_id)
        .outerjoin(ReportMessage, ReportMessage.raw_message_id == RawMessage.id)
        .outerjoin(Report, Report.id == ReportMessage.report_id)
        .where(RawMessage.channel == CHANNEL, RawMessage.external_key == token)
    ).first()
    return (False, None) if row is None else (True, row[1])


def last_status_details(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The detail of each report's last status change (its reason, "doublon"), by report id."""
    last: dict[int, dict[str, Any]] = {}
    if ids:
        rows = session.execute(
            select(Event.report_id, Event.detail)
            .where(Event.report_id.in_(ids), Event.action == "status")
            .order_by(Event.id)
        )
        for report_id, detail in rows:
            last[report_id] = detail if isinstance(detail, dict) else {}
    return last


def first_api_photos(session: Session, ids: list[int]) -> dict[int, Attachment]:
    """The first photo posted through the API with a stripped copy, per report id."""
    first: dict[int, Attachment] = {}
    if ids:
        rows = session.execute(
            select(Attachment)
            .join(ReportMessage, ReportMessage.id == Attachment.report_message_id)
            .join(RawMessage, RawMessage.id == ReportMessage.raw_message_id)
            .where(
                Attachment.report_id.in_(ids),
                RawMessage.channel == CHANNEL,
                Attachment.served_sha256.is_not(None),
                Attachment.error.is_(None),
            )
            .order_by(Attachment.id)
        ).scalars()
        for att in rows:
            first.setdefault(att.report_id, att)
    return first


@dataclass(frozen=True)
class PostedPhoto:
    """A file of a report as the public media URL needs it: its stripped copy, the report's status, the door."""

    served_sha256: str | None
    status: str
    channel: str


def posted_photo(session: Session, attachment_id: int) -> PostedPhoto | None:
    """The file `attachment_id` (if it was read without error) with its report's status and the channel it came
    through, or None."""
    row = session.execute(
        select(Attachment.served_sha256, Report.status, RawMessage.channel)
        .join(Report, Report.id == Attachment.report_id)
        .join(ReportMessage, ReportMessage.id == Attachment.report_message_id)
        .join(RawMessage, RawMessage.id == ReportMessage.raw_message_id)
        .where(Attachment.id == attachment_id, Attachment.error.is_(None))
    ).first()
    return PostedPhoto(*row) if row else None


def repeated_request(session: Session, source: str, payload_sha256: str, since: datetime) -> str | None:
    """The token given to the same request (same body digest) from the same app `source` since `since`, or None."""
    token: str | None = session.execute(
        select(RawMessage.external_key)
        .where(
            RawMessage.channel == CHANNEL,
            RawMessage.source == source,
            RawMessage.payload_sha256 == payload_sha256,
            RawMessage.received_at >= db_time(session, since),
        )
        .order_by(RawMessage.id)
        .limit(1)
    ).scalar_one_or_none()
    return token
