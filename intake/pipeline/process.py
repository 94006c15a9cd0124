"""Process one raw message: understand it within its budget, then file it in one short write transaction.

Understanding (parse, screen, media files, category, address) touches no database and, when
`limits.isolate` is on, runs in a child process that its CPU, wall-clock and memory budget can stop. Only
then is the write transaction opened, so no parser ever holds SQLite's write lock while the doors wait.
Failures are parked (`failed`, with a French reason) where agents see them and can retry.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, inspect, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, defer

from intake.message import MessageRefused, RawInput
from intake.models import Event, RawMessage, utcnow
from intake.pipeline import rawstore
from intake.pipeline.budget import Budget, BudgetExceeded, ChildFailed, run_each
from intake.pipeline.registry import Context, Discard, HoldForReview, ReadContext, Reading, file_all, read_all
from intake.runtime.db import read_only

log = logging.getLogger(__name__)
# Filing commits in small batches: one transaction (one commit, one fsync) for up to FILE_BATCH messages, closed
# once FILE_BATCH_SECONDS have passed so that SQLite's write lock is never held long while the doors wait.
FILE_BATCH = 10
FILE_BATCH_SECONDS = 0.05
# The filing transaction of the batch being filed, if any: each message is filed in a savepoint of it.
_FILING: ContextVar[Session | None] = ContextVar("guichet_filing_session", default=None)


@dataclass
class Outcome:
    """What happened to a raw message."""

    raw_id: int
    status: str  # processed | discarded | failed | skipped | held
    report_id: int | None = None
    tracking_number: str | None = None
    created: bool = False
    error: str | None = None
    outbox_ids: list[int] = field(default_factory=list)


def process_raw(res: Any, raw_id: int, *, worker: str = "local") -> Outcome:
    """Claim and process `raw_id`; idempotent: a processed or claimed message is skipped.

    `res` is the process's Resources (config, session factory, stages, channels, understanding).
    """
    return process_batch(res, [raw_id], worker=worker)[0]


def process_batch(res: Any, raw_ids: list[int], *, worker: str = "local") -> list[Outcome]:
    """Claim, understand (one budgeted child for the batch) and file each message; one Outcome per id, in order."""
    cfg = res.config
    if {"classify", "locate"} & set(res.stages_names):
        res.understanding()  # loaded once per process, before any fork, from the database's reference
    claimed = rawstore.claim_many(res.factory, raw_ids, worker=worker, stale_after=cfg.worker.stale_claim_seconds)
    snapshots = _snapshots(res, claimed)
    readings = understand_each(res, [snapshots[rid] for rid in claimed if rid in snapshots])
    outcomes: dict[int, Outcome] = {rid: Outcome(rid, "skipped") for rid in raw_ids}
    for rid in claimed:
        if rid not in snapshots:
            outcomes[rid] = Outcome(rid, "skipped", error="message introuvable")
    read = list(zip([rid for rid in claimed if rid in snapshots], readings, strict=True))
    outcomes.update(_file_in_batches(res, read, worker=worker))
    return [outcomes[rid] for rid in raw_ids]


def _file_in_batches(res: Any, read: list[tuple[int, Reading | BaseException]], *, worker: str) -> dict[int, Outcome]:
    """Settle every message, a few per write transaction, each in its own savepoint (one failure parks only it)."""
    outcomes: dict[int, Outcome] = {}
    if len(read) == 1:  # alone: its own transaction, as the doors' inline processing always did
        rid, reading = read[0]
        return {rid: _settle(res, rid, reading)}
    position = 0
    while position < len(read):
        started = time.monotonic()
        done: dict[int, Outcome] = {}
        try:
            with res.factory() as session, session.begin():
                token = _FILING.set(session)
                # The raw rows of this transaction's messages in one SELECT (each _apply finds its own in the
                # session instead of one SELECT per message); the list keeps them in the identity map.
                preloaded = _load_raw(session, [rid for rid, _ in read[position : position + FILE_BATCH]])
                try:
                    while position + len(done) < len(read) and len(done) < FILE_BATCH:
                        rid, reading = read[position + len(done)]
                        done[rid] = _settle(res, rid, reading)
                        if time.monotonic() - started > FILE_BATCH_SECONDS:
                            break
                finally:
                    _FILING.reset(token)
        except OperationalError as exc:
            # The database failed: nothing of this transaction was kept. What is not filed goes back to pending
            # for rq's retry or the sweeper (best effort: the database may still be away).
            rest = [rid for rid, _ in read[position:]]
            try:
                rawstore.release_many(res.factory, rest, worker=worker, error=f"erreur temporaire : {exc.orig}")
            except OperationalError:
                log.warning("raw messages %s left claimed: the database is away (the sweeper takes them)", rest)
            raise
        outcomes.update(done)
        position += len(done)
        del preloaded
    return outcomes


def _settle(res: Any, raw_id: int, reading: Reading | BaseException) -> Outcome:
    """File what was read, or park the message with the reason it could not be read or filed."""
    try:
        if isinstance(reading, BaseException):
            raise reading
        return _file(res, raw_id, reading)
    except Discard as exc:
        _finish(res, raw_id, status="discarded", error=str(exc))
        return Outcome(raw_id, "discarded", error=str(exc))
    except HoldForReview as exc:
        _finish(res, raw_id, status="held", error=str(exc))
        return Outcome(raw_id, "held", error=str(exc))
    except (MessageRefused, BudgetExceeded) as exc:  # over the town's limits: parked, the next message goes on
        log.warning("raw message %s parked: %s", raw_id, exc)
        _finish(res, raw_id, status="failed", error=str(exc)[:2000])
        return Outcome(raw_id, "failed", error=str(exc)[:2000])
    except OperationalError as exc:
        if _FILING.get() is not None:
            raise  # the batch's transaction is lost: the batch gives back what it did not file
        # The database hiccuped: leave the message pending so the sweeper or rq retries it.
        rawstore.finish(res.factory, raw_id, status="pending", error=f"erreur temporaire : {exc.orig}")
        raise
    except Exception as exc:  # any bug or bad input parks the message where an agent sees it
        log.error("raw message %s failed: %s", raw_id, exc, exc_info=not isinstance(exc, ChildFailed))
        reason = str(exc) if isinstance(exc, ChildFailed) else f"{type(exc).__name__}: {exc}"
        _finish(res, raw_id, status="failed", error=reason[:2000])
        return Outcome(raw_id, "failed", error=reason[:2000])


def _finish(res: Any, raw_id: int, *, status: str, error: str | None) -> None:
    """Record a message's outcome, in the batch's filing transaction when there is one (SQLite has one writer)."""
    session = _FILING.get()
    if session is None:
        rawstore.finish(res.factory, raw_id, status=status, error=error)
    else:
        rawstore.finish_in(session, raw_id, status=status, error=error)


def _load_raw(session: Session, raw_ids: list[int]) -> list[RawMessage]:
    """The raw rows of `raw_ids` (without their payloads, which phase 1 already read) loaded into `session`."""
    return list(
        session.execute(select(RawMessage).options(defer(RawMessage.payload)).where(RawMessage.id.in_(raw_ids)))
        .scalars()
        .all()
    )


def _snapshots(res: Any, raw_ids: list[int]) -> dict[int, RawInput]:
    """The stored messages as plain values, read in one short read-only session."""
    if not raw_ids:
        return {}
    with read_only(res.factory) as session:
        rows = session.execute(select(RawMessage).where(RawMessage.id.in_(raw_ids))).scalars()
        return {
            raw.id: RawInput(
                id=raw.id,
                channel=raw.channel,
                source=raw.source,
                external_key=raw.external_key,
                payload=bytes(raw.payload),
                received_at=raw.received_at,
            )
            for raw in rows
        }


def understand_each(res: Any, raws: list[RawInput]) -> list[Reading | BaseException]:
    """Phase 1 over each message: every stage's reading half, each message within its budget.

    Returns the Reading, or the exception that stopped it (a stop, a refusal, a budget, a failure).
    """
    cfg = res.config

    def work(raw: RawInput) -> Reading:
        return read_all(res.stages, ReadContext(reading=Reading(raw=raw), config=cfg, resources=res))

    if not raws:
        return []
    if not cfg.limits.isolate:
        out: list[Reading | BaseException] = []
        for raw in raws:
            try:
                out.append(work(raw))
            except Exception as exc:
                out.append(exc)
        return out
    limits = cfg.limits
    budget = Budget(
        cpu_seconds=limits.message_cpu_seconds,
        wall_seconds=limits.message_wall_seconds,
        memory_mb=limits.message_memory_mb,
    )
    results: list[Reading | BaseException] = []
    for result in run_each(work, raws, budget):
        error: BaseException | None = result.error
        if isinstance(error, ChildFailed) and isinstance(error.original, Discard | HoldForReview | MessageRefused):
            error = error.original  # stop exceptions and refusals keep their meaning across the process boundary
        if error is not None:
            results.append(error)
        elif result.value is not None:
            results.append(result.value)
    return results


def _file(res: Any, raw_id: int, reading: Reading) -> Outcome:
    """Phase 2: one write transaction applies what was read; the raw row is marked processed in it.

    Within a batch the transaction is the batch's, and the message has a savepoint of its own: a failure rolls
    back this message only.
    """
    batch = _FILING.get()
    if batch is not None:
        with batch.begin_nested():
            return _apply(res, batch, raw_id, reading)
    with res.factory() as session, session.begin():
        return _apply(res, session, raw_id, reading)


def _apply(res: Any, session: Session, raw_id: int, reading: Reading) -> Outcome:
    """The filing stages over one message in `session`; the raw row is marked processed with the report."""
    cfg = res.config
    raw = session.get(RawMessage, raw_id, options=[defer(RawMessage.payload)])
    if raw is None:
        return Outcome(raw_id, "skipped", error="message introuvable")
    # No autoflush while the stages run: every query would first flush what the stages before it changed (the
    # report updated once per stage, the events a few at a time); the stages flush where they need an id, and
    # the rest leaves in one flush at the end of the message's savepoint.
    with session.no_autoflush:
        ctx = file_all(
            res.stages, Context.for_filing(raw=raw, session=session, config=cfg, resources=res, reading=reading)
        )
    # Marked processed in the same transaction as the report: no window where both could differ.
    raw.status, raw.error, raw.claimed_by, raw.claimed_at = "processed", None, None, None
    raw.processed_at = utcnow()
    _flush_with_events_in_bulk(session)  # what the stages left pending (the outbox rows' ids come from it)
    return Outcome(
        raw_id,
        "processed",
        report_id=ctx.report.id if ctx.report else None,
        tracking_number=ctx.report.tracking_number if ctx.report else None,
        created=ctx.created,
        outbox_ids=ctx.all_outbox_ids(),
    )


def _flush_with_events_in_bulk(session: Session) -> None:
    """Flush what the stages left pending; their events (most of a message's rows, whose ids nobody reads here) in
    one executemany, after the rest, instead of one INSERT ... RETURNING each through the unit of work."""
    events = [obj for obj in session.new if type(obj) is Event and obj.report_id is not None]
    if len(events) < 2:
        session.flush()
        return
    events.sort(key=lambda event: inspect(event).insert_order or 0)  # the order the stages recorded them in
    rows = [_event_row(event) for event in events]
    for event in events:
        session.expunge(event)
    session.flush()
    session.execute(insert(cast(Table, Event.__table__)), rows)


def _event_row(event: Event) -> dict[str, Any]:
    """The column values of a pending event, with the model's defaults where the stage set nothing."""
    row: dict[str, Any] = {}
    for column in Event.__table__.columns:
        if column.primary_key:
            continue
        value = getattr(event, column.key)
        if value is None and column.default is not None:
            default: Any = column.default
            value = default.arg(None) if default.is_callable else default.arg
        row[column.key] = value
    return row
