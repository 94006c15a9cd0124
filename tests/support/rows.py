"""Rows that tests of the health page, its metrics and the intake health put in the database directly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from intake.models import RawMessage


def add_raw(
    factory: sessionmaker[Session],
    *,
    at: datetime,
    channel: str = "email",
    source: str = "mairie",
    status: str = "processed",
    error: str | None = None,
    attempts: int = 1,
    key: str | None = None,
    processed_at: datetime | None = None,
) -> int:
    """Store one raw message as a door would have left it (payload `x`), in its own transaction; its id."""
    with factory() as session, session.begin():
        row = RawMessage(
            channel=channel,
            source=source,
            external_key=key or f"k-{channel}-{source}-{at.isoformat()}",
            payload=b"x",
            payload_sha256="0" * 64,
            received_at=at,
            status=status,
            error=error,
            attempts=attempts,
            processed_at=processed_at,
        )
        session.add(row)
        session.flush()
        return row.id
