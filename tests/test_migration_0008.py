"""Revision 0008: the database refuses a status or channel outside the vocabularies, with data already there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from intake.runtime.db import alembic_config, dispose_all
from intake.vocab import ChannelName, RawStatus
from tests.conftest import database_at

pytestmark = pytest.mark.db


@pytest.fixture
def url_at_0007(tmp_path: Path) -> Iterator[str]:
    """A database migrated to 0007 only (SQLite, or the PostgreSQL of GUICHET_TEST_DATABASE_URL)."""
    yield database_at("0007", tmp_path)
    dispose_all()


def _insert_raw(url: str, *, status: str, channel: str, key: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO raw_message (channel, source, external_key, payload, payload_sha256, "
                    "received_at, status, attempts, key_collision) VALUES (:channel, 'mairie', :key, "
                    "'x', 'h', CURRENT_TIMESTAMP, :status, 0, false)"
                ),
                {"channel": channel, "key": key, "status": status},
            )
    finally:
        engine.dispose()


def test_rows_of_every_known_value_upgrade_and_unknown_values_are_then_refused(url_at_0007: str) -> None:
    for i, status in enumerate(RawStatus):
        _insert_raw(url_at_0007, status=status, channel=list(ChannelName)[i % len(ChannelName)], key=f"k{i}")
    command.upgrade(alembic_config(url_at_0007), "head")
    _insert_raw(url_at_0007, status="processed", channel="sms", key="fine")
    with pytest.raises(IntegrityError):
        _insert_raw(url_at_0007, status="perdu", channel="email", key="bad-status")
    with pytest.raises(IntegrityError):
        _insert_raw(url_at_0007, status="pending", channel="pigeon", key="bad-channel")
    command.downgrade(alembic_config(url_at_0007), "0007")
    _insert_raw(url_at_0007, status="perdu", channel="email", key="allowed-again")


def test_an_unknown_value_already_stored_stops_the_upgrade_with_its_name(url_at_0007: str) -> None:
    _insert_raw(url_at_0007, status="archive", channel="email", key="old")
    with pytest.raises(RuntimeError, match=r"raw_message.status = 'archive'"):
        command.upgrade(alembic_config(url_at_0007), "head")
