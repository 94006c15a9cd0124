"""Revision 0013: the web form's channel "formulaire" is accepted by the database's channel checks."""

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
def url_at_0010(tmp_path: Path) -> Iterator[str]:
    """A database migrated to 0010 only (SQLite, or the PostgreSQL of GUICHET_TEST_DATABASE_URL)."""
    yield database_at("0010", tmp_path)
    dispose_all()


def _insert_raw(url: str, *, channel: str, key: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO raw_message (channel, source, external_key, payload, payload_sha256, "
                    "received_at, status, attempts, key_collision) VALUES (:channel, 'signaler', :key, "
                    "'x', 'h', CURRENT_TIMESTAMP, 'pending', 0, false)"
                ),
                {"channel": channel, "key": key},
            )
    finally:
        engine.dispose()


def test_formulaire_is_refused_before_0013_accepted_after_and_blocks_the_downgrade(url_at_0010: str) -> None:
    with pytest.raises(IntegrityError):
        _insert_raw(url_at_0010, channel="formulaire", key="too-early")
    command.upgrade(alembic_config(url_at_0010), "0013")
    _insert_raw(url_at_0010, channel="formulaire", key="signaler:1")
    with pytest.raises(IntegrityError):
        _insert_raw(url_at_0010, channel="pigeon", key="bad-channel")  # the check is still there
    with pytest.raises(RuntimeError, match="1 lignes de raw_message viennent du formulaire web") as refused:
        command.downgrade(alembic_config(url_at_0010), "0010")
    # The migration's engine is only reachable from the traceback now: close its pooled connection before the
    # traceback goes (else the garbage collector finds it open, at a moment of its choosing).
    dispose_all()
    del refused
    engine = create_engine(url_at_0010)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM raw_message"))
    engine.dispose()
    command.downgrade(alembic_config(url_at_0010), "0010")
    with pytest.raises(IntegrityError):
        _insert_raw(url_at_0010, channel="formulaire", key="after-downgrade")
