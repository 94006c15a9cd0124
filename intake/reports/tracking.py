"""Tracking numbers AAAA-NNNNN, allocated from a yearly counter without gaps or collisions.

The counter's row is locked from its UPDATE until the transaction ends. On SQLite, where a write transaction
holds the database's one write lock anyway, the number is allocated where the report is created. On
PostgreSQL, where two workers file side by side, that lock would serialise their whole filing transactions:
the report gets a *provisional* number (a unique token, `nq` and 14 hex digits), the stages render it like any
number, and just before COMMIT (`before_commit`) the surviving reports of the transaction get their real numbers
in one UPDATE of the counter, written into the report and into what the transaction wrote about it (outbox
subjects and bodies, events' details). The counter's lock is then held for the last milliseconds of the
transaction only; a report rolled back with its savepoint never took a number (no gaps), and numbers follow the
reports' creation order within a transaction. Templates receive the number as an opaque string: a filter that
reshapes it (`replace`, slicing) would see the token, not the number.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from itertools import chain
from typing import Any

from sqlalchemy import JSON, Text, cast, event, func, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from intake.models import Event, Outbox, Report, ReportMessage

TRACKING_RE = re.compile(r"\b(20\d{2})-(\d{5,6})\b")
# session.info keys: the provisional numbers handed out in the transaction [(token, year)], the reports it wrote
# about (ids), and once committed the real number of each token.
PROVISIONAL = "guichet_provisional_numbers"
TOUCHED = "guichet_reports_written"
EVENTS_NAMING = "guichet_events_naming_a_token"  # report ids of events whose detail may hold a provisional number
NUMBERED = "guichet_numbered"
PROVISIONAL_PREFIX = "nq"
PROVISIONAL_RE = re.compile(PROVISIONAL_PREFIX + r"[0-9a-f]{14}")


def next_tracking_number(session: Session, *, year: int) -> str:
    """The next number of `year` for a report created in the caller's transaction: allocated now on SQLite, a
    provisional token replaced by the real number at commit on PostgreSQL (see the module's docstring)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        token = PROVISIONAL_PREFIX + secrets.token_hex(7)
        session.info.setdefault(PROVISIONAL, []).append((token, year))
        return token
    return _allocate(session, year, 1)[0]


def _allocate(session: Session, year: int, count: int) -> list[str]:
    """`count` consecutive numbers of `year`, in order (the counter's row locked until the transaction ends).

    One UPDATE when the year's row exists (every allocation but the year's first); else the row is created
    (without failing when a concurrent transaction creates it first) and the UPDATE runs again.
    """
    bump = text("UPDATE tracking_counter SET value = value + :n WHERE year = :y RETURNING value")
    last = session.execute(bump, {"y": year, "n": count}).scalar()
    if last is None:
        if session.get_bind().dialect.name == "postgresql":
            create = "INSERT INTO tracking_counter (year, value) VALUES (:y, 0) ON CONFLICT (year) DO NOTHING"
        else:
            create = "INSERT OR IGNORE INTO tracking_counter (year, value) VALUES (:y, 0)"
        session.execute(text(create), {"y": year})
        last = session.execute(bump, {"y": year, "n": count}).scalar_one()
    return [f"{year}-{value:05d}" for value in range(int(last) - count + 1, int(last) + 1)]


# One statement numbers the transaction's surviving reports of a year, in the order their tokens were handed out:
# it counts them, moves the counter by that much (its row locked until COMMIT) and writes each report's number.
# Nothing is updated when the year's counter row does not exist yet (the caller creates it and runs it again).
_NUMBER_ALIVE = text(
    """
    WITH alive AS (
        SELECT id, tracking_number AS token,
               row_number() OVER (ORDER BY array_position(CAST(:tokens AS text[]), tracking_number)) AS n
        FROM report WHERE tracking_number = ANY(CAST(:tokens AS text[]))
    ), bumped AS (
        UPDATE tracking_counter SET value = value + (SELECT count(*) FROM alive)
        WHERE year = :y AND EXISTS (SELECT 1 FROM alive)
        RETURNING value - (SELECT count(*) FROM alive) AS base
    ), numbered AS (
        SELECT alive.id, alive.token, CAST(bumped.base + alive.n AS text) AS value FROM alive, bumped
    )
    UPDATE report SET tracking_number = CAST(:y AS text) || '-' || lpad(value, greatest(5, length(value)), '0')
    FROM numbered WHERE report.id = numbered.id
    RETURNING numbered.token, report.id, report.tracking_number
    """
)


def _number_alive(session: Session, year: int, tokens: list[str]) -> list[tuple[str, int, str]]:
    """Number the reports still holding `tokens` (PostgreSQL): (token, report id, number) each, in token order."""
    rows = session.execute(_NUMBER_ALIVE, {"y": year, "tokens": tokens}).all()
    order = {token: i for i, token in enumerate(tokens)}
    return sorted(((str(t), int(i), str(n)) for t, i, n in rows), key=lambda row: order[row[0]])


def _create_counter(session: Session, year: int) -> None:
    """Create the counter row of `year` (PostgreSQL), unless a concurrent transaction did."""
    session.execute(
        text("INSERT INTO tracking_counter (year, value) VALUES (:y, 0) ON CONFLICT (year) DO NOTHING"), {"y": year}
    )


def note_events_written(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Record events the transaction wrote outside the unit of work (a bulk INSERT) that name a report by its
    provisional number, so that it is replaced at commit."""
    if PROVISIONAL in session.info:
        for row in rows:
            if row.get("report_id") is not None and PROVISIONAL_RE.search(repr(row.get("detail"))):
                session.info.setdefault(EVENTS_NAMING, set()).add(row["report_id"])


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    if PROVISIONAL not in session.info:
        return
    written = session.info.setdefault(TOUCHED, set())
    for obj in chain(session.new, session.dirty):
        report_id = obj.id if isinstance(obj, Report) else getattr(obj, "report_id", None)
        if isinstance(report_id, int):
            written.add(report_id)
            if isinstance(obj, Event) and PROVISIONAL_RE.search(repr(obj.detail)):
                session.info.setdefault(EVENTS_NAMING, set()).add(report_id)


@event.listens_for(Session, "before_commit")
def _number_at_commit(session: Session) -> None:
    if session.info.get(PROVISIONAL):
        assign_numbers(session)


def _swap(value: str, numbers: dict[str, str]) -> str:
    for token, number in numbers.items():
        value = value.replace(token, number)
    return value


def _swap_in(value: Any, numbers: dict[str, str]) -> Any:
    """`value` (an event's detail: dicts, lists, strings) with the provisional numbers replaced."""
    if isinstance(value, str):
        return _swap(value, numbers)
    if isinstance(value, dict):
        return {key: _swap_in(item, numbers) for key, item in value.items()}
    if isinstance(value, list):
        return [_swap_in(item, numbers) for item in value]
    return value


def _swapped_sql(column: Any, numbers: dict[str, str]) -> Any:
    for token, number in numbers.items():
        column = func.replace(column, token, number)
    return column


def assign_numbers(session: Session) -> dict[str, str]:
    """Give the reports of the transaction that still hold a provisional number their real numbers, and write them
    wherever the transaction wrote the token; the mapping token -> number (also left in session.info[NUMBERED])."""
    pending: list[tuple[str, int]] = session.info.pop(PROVISIONAL, [])
    session.flush()
    written: set[int] = session.info.pop(TOUCHED, set())
    naming: set[int] = session.info.pop(EVENTS_NAMING, set())
    numbers: dict[str, str] = {}
    alive: dict[str, int] = {}
    for year in dict.fromkeys(y for _, y in pending):
        tokens = [t for t, y in pending if y == year]
        found = _number_alive(session, year, tokens)
        if not found and session.execute(select(Report.id).where(Report.tracking_number.in_(tokens))).first():
            _create_counter(session, year)  # the year's first report: its counter row did not exist
            found = _number_alive(session, year, tokens)
        for token, report_id, number in found:
            numbers[token], alive[token] = number, report_id
    session.info[NUMBERED] = {**session.info.get(NUMBERED, {}), **numbers}
    if not numbers:
        return numbers
    reports = sorted(written | {alive[t] for t in numbers})
    session.execute(
        update(Outbox)
        .where(
            Outbox.report_id.in_(reports),
            or_(*chain.from_iterable((Outbox.subject.contains(t), Outbox.body.contains(t)) for t in numbers)),
        )
        .values(subject=_swapped_sql(Outbox.subject, numbers), body=_swapped_sql(Outbox.body, numbers))
        .execution_options(synchronize_session=False)
    )
    if naming:  # most filings write no event naming a report by number (links and duplicates do)
        detail_text = cast(Event.detail, Text)
        session.execute(
            update(Event)
            .where(Event.report_id.in_(sorted(naming)), or_(*(detail_text.contains(t) for t in numbers)))
            .values(detail=cast(_swapped_sql(detail_text, numbers), JSON))
            .execution_options(synchronize_session=False)
        )
    for obj in list(session.identity_map.values()):  # what this process still holds reads the real numbers too
        if isinstance(obj, Report) and obj.tracking_number in numbers:
            set_committed_value(obj, "tracking_number", numbers[obj.tracking_number])
        elif isinstance(obj, Outbox):
            set_committed_value(obj, "subject", _swap(obj.subject or "", numbers))
            set_committed_value(obj, "body", _swap(obj.body or "", numbers))
        elif isinstance(obj, Event) and obj.detail and PROVISIONAL_RE.search(repr(obj.detail)):
            set_committed_value(obj, "detail", _swap_in(obj.detail, numbers))
    return numbers


def final_number(session: Session, number: str | None) -> str | None:
    """The real number of a report filed in `session`'s committed transaction (`number` may be provisional)."""
    if number is None or not number.startswith(PROVISIONAL_PREFIX):
        return number
    found: str | None = session.info.get(NUMBERED, {}).get(number)
    return found or number


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
