"""The test databases: migrated once per test process, then an empty copy for every test (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from intake.models import Contact
from intake.runtime.db import make_engine, make_sessionmaker
from tests.conftest import DatabaseTemplate


def _contacts(url: str, *emails: str) -> list[int]:
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        with factory() as session, session.begin():
            session.add_all(Contact(email=email) for email in emails)
        with factory() as session:
            return list(session.scalars(text("SELECT id FROM contact ORDER BY id")))
    finally:
        engine.dispose()


def _head(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def test_each_test_gets_an_empty_database_at_the_latest_migration(
    db_url: str, database_template: DatabaseTemplate, tmp_path: Path
) -> None:
    head = _head(db_url)
    assert len(head) == 1 and head[0].startswith("0")  # migrated, at one head
    assert _contacts(db_url, "a@example.org", "b@example.org") == [1, 2]
    again = tmp_path / "next-test"
    again.mkdir()
    url = database_template.fresh(again)
    assert _head(url) == head
    assert _contacts(url, "c@example.org") == [1]  # nothing left over, and ids start again
