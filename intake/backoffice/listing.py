"""One page of the report queue: filtered, newest first, keyset-paginated so it stays fast with 100,000 reports."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.backoffice.filters import ReportFilter, apply, without
from intake.config import Config
from intake.models import Attachment, Report, User

PAGE_SIZE = 50
COUNT_TTL_S = 15.0
COUNT_SLOW_S = 0.03
_COUNTS: dict[tuple[str, ReportFilter, str | None], tuple[float, dict[str, int]]] = {}


@dataclass(frozen=True)
class QueueRow:
    """What one line of the queue shows."""

    id: int
    tracking_number: str
    created_at: datetime
    channel: str
    category: str | None
    category_source: str
    confidence: float | None
    service: str | None
    status: str
    subject: str
    address: str | None
    located: bool
    review_reasons: list[str]
    duplicate_of: str | None
    duplicates: int = 0
    photos: int = 0
    assignee: str | None = None


@dataclass
class QueuePage:
    """The rows of one page, the counts per status of the whole selection, and the cursors around it."""

    rows: list[QueueRow]
    counts: dict[str, int]
    total: int
    newer: int | None = None  # pass as `apres` for the previous page
    older: int | None = None  # pass as `avant` for the next page
    errors: list[str] = field(default_factory=list)


_COLUMNS = (
    Report.id,
    Report.tracking_number,
    Report.created_at,
    Report.channel,
    Report.category,
    Report.category_source,
    Report.confidence,
    Report.service,
    Report.status,
    Report.subject,
    Report.address_label,
    Report.address_voie,
    Report.lat,
    Report.review_reasons,
    Report.duplicate_of_id,
    Report.assignee_id,
)


def list_reports(
    session: Session,
    config: Config,
    flt: ReportFilter,
    *,
    service_scope: str | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """The page of reports older than `before` (or newer than `after`), with counts per status."""
    query = apply(select(*_COLUMNS), flt, config, service_scope=service_scope)
    if after is not None:
        rows = list(session.execute(query.where(Report.id > after).order_by(Report.id.asc()).limit(limit + 1)))
        more_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        more_older = True
    else:
        if before is not None:
            query = query.where(Report.id < before)
        rows = list(session.execute(query.order_by(Report.id.desc()).limit(limit + 1)))
        more_older = len(rows) > limit
        rows = rows[:limit]
        more_newer = before is not None
    ids = [r.id for r in rows]
    duplicates, photos, mains, assignees = _extras(session, ids, rows)
    out = [
        QueueRow(
            id=r.id,
            tracking_number=r.tracking_number,
            created_at=r.created_at,
            channel=r.channel,
            category=r.category,
            category_source=r.category_source,
            confidence=(r.confidence or {}).get("category"),
            service=r.service,
            status=r.status,
            subject=(r.subject or "")[:160],
            address=r.address_label or r.address_voie,
            located=r.lat is not None,
            review_reasons=list(r.review_reasons or []),
            duplicate_of=mains.get(r.duplicate_of_id),
            duplicates=duplicates.get(r.id, 0),
            photos=photos.get(r.id, 0),
            assignee=assignees.get(r.assignee_id),
        )
        for r in rows
    ]
    counts = count_by_status(session, config, flt, service_scope=service_scope)
    total = sum(n for status, n in counts.items() if not flt.statuses or status in flt.statuses)
    return QueuePage(
        rows=out,
        counts=counts,
        total=total,
        newer=ids[0] if ids and more_newer else None,
        older=ids[-1] if ids and more_older else None,
        errors=list(flt.errors),
    )


def count_by_status(
    session: Session, config: Config, flt: ReportFilter, *, service_scope: str | None = None
) -> dict[str, int]:
    """Reports of the selection per status (the status filter itself left out, so every tab has its count).

    Counting a town's whole history reads every row (tens of milliseconds at 100,000 reports): when it took
    longer than COUNT_SLOW_S, the counts are reused for COUNT_TTL_S by the same selection. Small queues are
    always counted afresh.
    """
    wide = without(flt, statuses=(), to_review=False)
    key = (str(session.get_bind().engine.url), wide, service_scope)
    hit = _COUNTS.get(key)
    if hit is not None and time.monotonic() - hit[0] < COUNT_TTL_S:
        return dict(hit[1])
    started = time.monotonic()
    query = apply(select(Report.status, func.count()), wide, config, service_scope=service_scope)
    counts = {status: n for status, n in session.execute(query.group_by(Report.status))}
    if time.monotonic() - started > COUNT_SLOW_S:
        if len(_COUNTS) > 256:
            _COUNTS.clear()
        _COUNTS[key] = (time.monotonic(), dict(counts))
    return counts


def _extras(
    session: Session, ids: list[int], rows: list[Any]
) -> tuple[dict[Any, int], dict[Any, int], dict[Any, str], dict[Any, str]]:
    """Per page only: duplicate counts, photo counts, main reports' numbers, assignees' names."""
    if not ids:
        return {}, {}, {}, {}
    duplicates = dict(
        session.execute(
            select(Report.duplicate_of_id, func.count())
            .where(Report.duplicate_of_id.in_(ids))
            .group_by(Report.duplicate_of_id)
        ).all()
    )
    photos = dict(
        session.execute(
            select(Attachment.report_id, func.count())
            .where(Attachment.report_id.in_(ids), Attachment.is_image.is_(True))
            .group_by(Attachment.report_id)
        ).all()
    )
    main_ids = {r.duplicate_of_id for r in rows if r.duplicate_of_id}
    mains = (
        dict(session.execute(select(Report.id, Report.tracking_number).where(Report.id.in_(main_ids))).all())
        if main_ids
        else {}
    )
    user_ids = {r.assignee_id for r in rows if r.assignee_id}
    assignees = (
        dict(session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    )
    return duplicates, photos, mains, assignees
