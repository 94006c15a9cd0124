"""Revision 0016: the indexes that keep filing flat as the tables grow (the confirmation cap's lower(recipient),
duplicate detection's main reports of a category by latitude), used by the queries filing runs, then removed by
a downgrade."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from intake.runtime.db import alembic_config, dispose_all, make_engine
from tests.conftest import database_at

pytestmark = pytest.mark.db

CAP_QUERY = (
    "SELECT count(id) FROM outbox WHERE lower(recipient) = :r AND kind = 'confirmation' "
    "AND created_at >= :since AND status != 'suppressed'"
)
DEDUPE_QUERY = (
    "SELECT id, lat, lon, created_at FROM report WHERE category = :c AND duplicate_of_id IS NULL "
    "AND lat BETWEEN :a AND :b AND lon BETWEEN :a AND :b AND created_at >= :since"
)


@pytest.fixture
def url_at_0013(tmp_path: Path) -> Iterator[str]:
    yield database_at("0013", tmp_path)
    dispose_all()


def _indexes(engine: Engine) -> set[str]:
    """Index names from the catalogue (SQLAlchemy's SQLite reflection skips expression indexes)."""
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    )
    with engine.connect() as conn:
        return {str(name) for (name,) in conn.execute(text(sql))}


def _plan(conn: object, sql: str, params: dict[str, object]) -> str:
    dialect = conn.dialect.name  # type: ignore[attr-defined]
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    rows = conn.execute(text(prefix + sql), params).all()  # type: ignore[attr-defined]
    return " ".join(str(value) for row in rows for value in row)


def test_upgrade_adds_the_filing_indexes_the_queries_use_then_downgrade(url_at_0013: str) -> None:
    engine = create_engine(url_at_0013)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox (kind, channel, recipient, subject, body, message_id, status, "
                    "attempts, created_at) VALUES ('confirmation', 'email', 'Jeanne@Example.org', '', '', "
                    "'<m@x>', 'sent', 0, '2026-12-07 10:00:00')"
                )
            )
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url_at_0013), "head")
    engine = make_engine(url_at_0013)
    try:
        assert {"ix_outbox_lower_recipient_created", "ix_report_dedupe"} <= _indexes(engine)
        with engine.connect() as conn:
            # The row written before the upgrade is found whatever the case of the address asked for.
            assert conn.execute(text(CAP_QUERY), {"r": "jeanne@example.org", "since": "2026-12-07"}).scalar() == 1
            if engine.dialect.name == "sqlite":  # PostgreSQL's planner prefers a scan of a table this small
                assert "ix_outbox_lower_recipient_created" in _plan(
                    conn, CAP_QUERY, {"r": "jeanne@example.org", "since": "2026-12-07"}
                )
                assert "ix_report_dedupe" in _plan(
                    conn, DEDUPE_QUERY, {"c": "voirie", "a": 1.0, "b": 2.0, "since": "2026-12-07"}
                )
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url_at_0013), "0013")
    engine = make_engine(url_at_0013)
    try:
        assert not {"ix_outbox_lower_recipient_created", "ix_report_dedupe"} & _indexes(engine)
    finally:
        engine.dispose()
