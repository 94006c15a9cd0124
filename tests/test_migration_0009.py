"""Revision 0009: reports already stored get a unique, unguessable public id; the privacy marks start empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from intake.runtime.db import alembic_config, dispose_all
from tests.conftest import database_at

pytestmark = pytest.mark.db


@pytest.fixture
def url_at_0008(tmp_path: Path) -> Iterator[str]:
    """A database migrated to 0008 only (SQLite, or the PostgreSQL of GUICHET_TEST_DATABASE_URL)."""
    yield database_at("0008", tmp_path)
    dispose_all()


def test_existing_reports_get_unique_public_ids_and_the_upgrade_goes_back(url_at_0008: str) -> None:
    engine = create_engine(url_at_0008)
    try:
        with engine.begin() as conn:
            for i in range(1, 4):
                conn.execute(
                    text(
                        "INSERT INTO report (tracking_number, public_token, channel, subject, description, "
                        "status, citizen_recovered, category_source, review_reasons, location_source, "
                        "confidence, notes, created_at, updated_at) VALUES (:n, :t, 'email', '', '', "
                        "'nouveau', true, 'model', '[]', 'none', '{}', '[]', CURRENT_TIMESTAMP, "
                        "CURRENT_TIMESTAMP)"
                    ),
                    {"n": f"2026-{i:05d}", "t": f"jeton-{i}"},
                )
        command.upgrade(alembic_config(url_at_0008), "head")
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT tracking_number, public_id, anonymised_at FROM report")).all()
            assert len(rows) == 3 and len({r[1] for r in rows}) == 3
            assert all(r[1] and len(r[1]) >= 16 and r[0] not in r[1] and r[2] is None for r in rows)
            assert conn.execute(text("SELECT count(*) FROM raw_message WHERE purged_at IS NOT NULL")).scalar() == 0
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE report SET public_id = :p"), {"p": rows[0][1]})  # unique
        command.downgrade(alembic_config(url_at_0008), "0008")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM report")).scalar() == 3
    finally:
        engine.dispose()
