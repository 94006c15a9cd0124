"""Migrations and models agree: a migrated database has nothing left for autogenerate to add."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import intake.geocoding.models  # noqa: F401
from intake.models import Base
from intake.runtime.db import make_engine

pytestmark = pytest.mark.migrations  # db_url: migrated from scratch, not a copy of the migrated template


def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
