"""The outbox rows' state machine: pending -> sending -> sent | failed (| suppressed for refused texts).

A transient failure puts the row back to pending until worker.max_attempts; the sweep then parks it as failed,
where `guichet resend` or the health page's button put it back to pending. No state is a dead end.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from intake.models import Event, Outbox, utcnow

log = logging.getLogger(__name__)
RETRY_DELAYS = (60, 120, 600, 1800, 3600)  # seconds before the next try, by attempts already made
_MARK_TRIES = 8  # recording "sent" survives a database hiccup of about a minute (1 + 2 + 4 + ... seconds)


def retry_delay(attempts: int) -> int:
    """Seconds to wait after `attempts` tries before trying again."""
    return RETRY_DELAYS[min(max(attempts, 0), len(RETRY_DELAYS) - 1)]


def claim_outbox(factory: sessionmaker[Session], outbox_id: int) -> bool:
    """Atomically move a row from pending to sending; True for exactly one caller."""
    with factory() as session, session.begin():
        result = session.execute(
            update(Outbox)
            .where(Outbox.id == outbox_id, Outbox.status == "pending")
            .values(status="sending", attempts=Outbox.attempts + 1, claimed_at=utcnow())
        )
    return bool(getattr(result, "rowcount", 0))


def record_outcome(factory: sessionmaker[Session], outbox_id: int, status: str, reason: str | None) -> None:
    """Record the outcome of one send (see record_outcomes)."""
    record_outcomes(factory, {outbox_id: (status, reason)})


def record_outcomes(factory: sessionmaker[Session], outcomes: dict[int, tuple[str, str | None]]) -> None:
    """Record each row's (status, reason) and its event in one transaction, retrying through a database outage:
    the messages have left already, and a row left in `sending` would be sent a second time by the stale-claim
    sweep. Rows that no longer exist are skipped."""
    if not outcomes:
        return
    delay = 1.0
    for attempt in range(_MARK_TRIES):
        try:
            with factory() as session, session.begin():
                now = utcnow()
                for row in session.execute(select(Outbox).where(Outbox.id.in_(list(outcomes)))).scalars():
                    status, reason = outcomes[row.id]
                    row.status, row.reason = status, reason
                    if status == "sent":
                        row.sent_at = now
                    if row.report_id is not None and status != "pending":  # a referents' digest has no report
                        session.add(
                            Event(
                                report_id=row.report_id,
                                action=f"{row.kind}_{status}",
                                detail={"recipient": row.recipient, "outbox_id": row.id},
                            )
                        )
            return
        except OperationalError as exc:
            if attempt == _MARK_TRIES - 1:
                raise
            log.warning(
                "outbox %s: recording %s failed (%s), retrying in %.0f s",
                sorted(outcomes),
                sorted({status for status, _ in outcomes.values()}),
                exc.orig,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
