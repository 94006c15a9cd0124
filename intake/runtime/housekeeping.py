"""Database-only upkeep run from every worker's own loop (no Redis needed): sends that are due, stale claims,
messages that kill their worker every time, putting failed sends back for `guichet resend`, and the daily
retention purge of citizens' data."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.media.storage import FileStore
from intake.models import Outbox, RawMessage, utcnow
from intake.outbox.notify import Mailer
from intake.outbox.rows import retry_delay
from intake.outbox.send import send_outbox_row
from intake.privacy.erasure import SYSTEM, audit
from intake.privacy.retention import PURGE_START, Purge, purge, purge_due

log = logging.getLogger(__name__)


def poison_reason(attempts: int) -> str:
    """What agents read on a message that stopped its worker at every try."""
    return (
        f"Le traitement de ce message a interrompu le worker {attempts} fois (plantage, mémoire ou délai "
        "dépassé) : il est mis de côté. Relancez-le après correction."
    )


def park_poison_messages(factory: sessionmaker[Session], *, max_attempts: int, stale_before: datetime) -> list[int]:
    """Messages claimed by a worker that died, with no tries left: parked as failed with a French reason."""
    with factory() as session, session.begin():
        rows = session.execute(
            select(RawMessage.id, RawMessage.attempts).where(
                RawMessage.status == "processing",
                RawMessage.claimed_at < stale_before,
                RawMessage.attempts >= max_attempts,
            )
        ).all()
        for raw_id, attempts in rows:
            session.execute(
                update(RawMessage)
                .where(RawMessage.id == raw_id, RawMessage.status == "processing")
                .values(
                    status="failed",
                    error=poison_reason(attempts),
                    claimed_by=None,
                    claimed_at=None,
                    processed_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
    for raw_id, attempts in rows:
        log.warning("raw message %s parked as failed: its processing stopped the worker %s times", raw_id, attempts)
    return [raw_id for raw_id, _ in rows]


def after_horse_died(
    factory: sessionmaker[Session], raw_id: int, *, max_attempts: int, count_try: bool = True
) -> str | None:
    """A work horse died while processing `raw_id` (killed, out of memory, crash): park it when it has no tries
    left, else put it back to pending at once (instead of waiting for its claim to go stale).

    Without `count_try` (the horse held a whole batch: which message killed it is unknown) the try is not counted
    and the message goes back to pending, to be tried alone.
    """
    with factory() as session, session.begin():
        row = session.get(RawMessage, raw_id)
        if row is None or row.status != "processing":
            return None
        if not count_try:
            row.attempts = max(0, row.attempts - 1)
            row.status = "pending"
            row.error = "le worker s'est arrêté pendant le traitement d'un lot : message repris seul"
        elif row.attempts >= max_attempts:
            row.status, row.error, row.processed_at = "failed", poison_reason(row.attempts), utcnow()
        else:
            row.status = "pending"
            row.error = f"le worker s'est arrêté pendant le traitement (essai {row.attempts} sur {max_attempts})"
        row.claimed_by = row.claimed_at = None
        return row.status


@dataclass
class OutboxSweep:
    """What one outbox sweep did."""

    restarted: list[int] = field(default_factory=list)  # stale `sending` rows put back
    parked: list[int] = field(default_factory=list)  # pending rows with no tries left, now failed
    sent: dict[int, str] = field(default_factory=dict)  # due rows tried now -> their status


def due_outbox_ids(factory: sessionmaker[Session], *, now: datetime, limit: int = 100) -> list[int]:
    """Pending rows whose retry time has come: a minute after creation, then per RETRY_DELAYS after each try."""
    with factory() as session:
        rows = session.execute(
            select(Outbox.id, Outbox.attempts, Outbox.created_at, Outbox.claimed_at)
            .where(Outbox.status == "pending")
            .order_by(Outbox.id)
            .limit(5000)
        ).all()
    due = []
    for outbox_id, attempts, created_at, claimed_at in rows:
        last = claimed_at or created_at
        if last is None:
            continue
        if last.tzinfo is None:  # SQLite hands back naive UTC
            last = last.replace(tzinfo=now.tzinfo)
        if now - last >= timedelta(seconds=retry_delay(attempts) if attempts else 60):
            due.append(outbox_id)
        if len(due) >= limit:
            break
    return due


def sweep_outbox(
    factory: sessionmaker[Session],
    config: Config,
    mailer: Mailer,
    *,
    now: datetime | None = None,
    send: bool = True,
    limit: int = 100,
) -> OutboxSweep:
    """Put stale `sending` rows back, park exhausted ones as failed, and send what is due."""
    now = now or utcnow()
    cfg = config.worker
    done = OutboxSweep()
    stale = now - timedelta(seconds=cfg.stale_claim_seconds)
    with factory() as session, session.begin():
        # A worker died while sending: send again (a rare duplicate beats a lost confirmation).
        done.restarted = list(
            session.execute(select(Outbox.id).where(Outbox.status == "sending", Outbox.claimed_at < stale)).scalars()
        )
        if done.restarted:
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_(done.restarted), Outbox.status == "sending")
                .values(status="pending", reason="envoi interrompu : nouvel essai")
                .execution_options(synchronize_session=False)
            )
        done.parked = list(
            session.execute(
                select(Outbox.id).where(Outbox.status == "pending", Outbox.attempts >= cfg.max_attempts)
            ).scalars()
        )
        if done.parked:
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_(done.parked), Outbox.status == "pending")
                .values(
                    status="failed",
                    reason=f"abandonné après {cfg.max_attempts} essais (renvoyer avec « guichet "
                    "resend » ou depuis la page Santé des canaux)",
                )
                .execution_options(synchronize_session=False)
            )
    if not send:
        return done
    for outbox_id in due_outbox_ids(factory, now=now, limit=limit):
        try:
            done.sent[outbox_id] = send_outbox_row(factory, config, outbox_id, mailer)
        except Exception as exc:  # transient: the row is pending again (or failed when exhausted)
            done.sent[outbox_id] = f"pending: {type(exc).__name__}"
            log.info("outbox %s not sent by the sweep: %s", outbox_id, exc)
    return done


def reset_for_resend(factory: sessionmaker[Session], ids: Iterable[int] | None = None) -> list[int]:
    """Put failed sends (or the given ones, unless already sent) back to pending with their tries reset."""
    with factory() as session, session.begin():
        query = select(Outbox.id).where(Outbox.status == "failed")
        wanted = list(ids or [])
        if wanted:
            query = select(Outbox.id).where(
                Outbox.id.in_(wanted), Outbox.status.in_(("failed", "pending", "suppressed"))
            )
        found = list(session.execute(query.order_by(Outbox.id)).scalars())
        if found:
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_(found))
                .values(status="pending", attempts=0, claimed_at=None, reason=None)
                .execution_options(synchronize_session=False)
            )
    return found


# When this process need not look at the database again for the daily purge, per session factory (database):
# the upkeep runs every sweep interval, the purge once a day.
_PURGE_CHECKED: weakref.WeakKeyDictionary[Any, datetime] = weakref.WeakKeyDictionary()
_PURGE_RECHECK = timedelta(minutes=15)  # another worker may have purged meanwhile: look again this often


def daily_purge(
    factory: sessionmaker[Session],
    config: Config,
    store: FileStore,
    *,
    now: datetime | None = None,
    first_after: timedelta | None = None,
) -> Purge | None:
    """Apply the retention durations when a day has passed since the last purge (whichever worker comes first);
    None when it is not due. Idempotent: a purge run twice by two workers finds nothing the second time.

    `first_after`: this process looks only that long after its first call (a worker's upkeep: not while it
    starts and forks its first work horses; on SQLite a horse forked while a thread of the parent is inside
    a transaction inherits that lock's bookkeeping and waits for it until the busy timeout).
    """
    now = now or utcnow()
    if first_after is not None and factory not in _PURGE_CHECKED:
        _PURGE_CHECKED[factory] = now + first_after
    if now < _PURGE_CHECKED.get(factory, now):
        return None
    with factory() as session, session.begin():  # check and claim in one transaction (SQLite: one at a time)
        if not purge_due(session, now=now):
            _PURGE_CHECKED[factory] = now + _PURGE_RECHECK
            return None
        audit(session, actor=SYSTEM, action=PURGE_START, detail={})
    _PURGE_CHECKED[factory] = now + _PURGE_RECHECK
    done = purge(factory, config, store, now=now)
    if done.total:
        log.info("daily retention purge: %s", done.summary_fr())
    return done
