"""Rate counters in the database: one atomic statement per hit, so parallel requests are all counted.

The web app may run without Redis, and several gunicorn workers (or hosts) share one database: a counter row
per key and window, incremented by an upsert that returns the new count, works the same on SQLite and
PostgreSQL. Used for sign-in failures per client address and for Open311 submissions per app and address.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from intake.models import RateCounter, utcnow
from intake.models import as_utc as _aware


def hit(session: Session, key: str, *, window: timedelta, now: datetime | None = None) -> int:
    """Count one hit of `key` (a new window once the last one is over); the hits of the window, this one included."""
    moment = now or utcnow()
    when = literal(moment, RateCounter.window_start.type)
    expired = RateCounter.window_start < literal(moment - window, RateCounter.window_start.type)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    upsert = (
        insert(RateCounter)
        .values(key=key[:200], window_start=moment, hits=1)
        .on_conflict_do_update(
            index_elements=[RateCounter.key],
            set_={
                "hits": case((expired, 1), else_=RateCounter.hits + 1),
                "window_start": case((expired, when), else_=RateCounter.window_start),
            },
        )
    )
    return int(session.execute(upsert.returning(RateCounter.hits)).scalar_one())


def hits(session: Session, key: str, *, window: timedelta, now: datetime | None = None) -> int:
    """The hits of `key` in its current window (0 when none or when the window is over), without counting."""
    row = session.execute(
        select(RateCounter.hits, RateCounter.window_start).where(RateCounter.key == key[:200])
    ).first()
    if row is None or _aware(row[1]) < (now or utcnow()) - window:
        return 0
    return int(row[0])


def release(session: Session, key: str) -> None:
    """Take back one hit of `key` (a sign-in that succeeded was no guess), atomically, never below zero."""
    session.execute(
        update(RateCounter).where(RateCounter.key == key[:200], RateCounter.hits > 0).values(hits=RateCounter.hits - 1)
    )


def prune(session: Session, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete counters whose window started before `older_than` ago; how many."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(delete(RateCounter).where(RateCounter.window_start < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
