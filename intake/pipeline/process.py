"""Process one raw message through the pipeline, in one transaction, parking failures for an agent."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from intake.models import RawMessage, utcnow
from intake.pipeline import rawstore
from intake.pipeline.registry import Context, Discard, HoldForReview, run
from intake.runtime.resources import Resources

log = logging.getLogger(__name__)


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


def process_raw(res: Resources, raw_id: int, *, worker: str = "local") -> Outcome:
    """Claim and process `raw_id`; idempotent: a processed or claimed message is skipped."""
    cfg = res.config
    if {"classify", "locate"} & set(res.stages_names):
        # Loaded before the transaction: loading reads the address reference from the database, and a
        # SQLite write transaction held here would make that read wait for ourselves.
        res.understanding()
    if not rawstore.claim(res.factory, raw_id, worker=worker, stale_after=cfg.worker.stale_claim_seconds):
        return Outcome(raw_id, "skipped")
    try:
        with res.factory() as session, session.begin():
            raw = session.get(RawMessage, raw_id)
            if raw is None:
                return Outcome(raw_id, "skipped", error="message introuvable")
            ctx = run(res.stages, Context(raw=raw, session=session, config=cfg, resources=res))
            # Marked processed in the same transaction as the report: no window where both could differ.
            raw.status, raw.error, raw.claimed_by, raw.claimed_at = "processed", None, None, None
            raw.processed_at = utcnow()
            outcome = Outcome(
                raw_id,
                "processed",
                report_id=ctx.report.id if ctx.report else None,
                tracking_number=ctx.report.tracking_number if ctx.report else None,
                created=ctx.created,
                outbox_ids=list(ctx.outbox_ids),
            )
    except Discard as exc:
        rawstore.finish(res.factory, raw_id, status="discarded", error=str(exc))
        return Outcome(raw_id, "discarded", error=str(exc))
    except HoldForReview as exc:
        rawstore.finish(res.factory, raw_id, status="held", error=str(exc))
        return Outcome(raw_id, "held", error=str(exc))
    except OperationalError as exc:
        # The database hiccuped: leave the message pending so the sweeper or rq retries it.
        rawstore.finish(res.factory, raw_id, status="pending", error=f"erreur temporaire : {exc.orig}")
        raise
    except Exception as exc:  # any bug or bad input parks the message where an agent sees it
        log.exception("raw message %s failed", raw_id)
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        rawstore.finish(res.factory, raw_id, status="failed", error=reason)
        return Outcome(raw_id, "failed", error=reason)
    return outcome
