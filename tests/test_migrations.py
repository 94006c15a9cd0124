"""Migrations and models agree: a migrated database has nothing left for autogenerate to add."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import intake.geocoding.models  # noqa: F401
from intake.models import Base
from intake.runtime.db import make_engine

pytestmark = pytest.mark.migrations  # db_url: migrated from scratch, not a copy of the migrated template


# SQLite's reflection skips expression indexes (ix_outbox_lower_recipient_created), and says so twice; the index
# itself is checked by tests/test_migration_0016.py (PostgreSQL compares it here).
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
