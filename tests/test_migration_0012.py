"""Revision 0012: an upgrade of a populated 0008 database adds the covering index /metrics' histogram reads,
and the figures come out of the upgraded data (then a downgrade removes it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from intake.backoffice.metrics import collect
from intake.runtime.db import alembic_config, dispose_all, make_engine, make_sessionmaker
from tests.conftest import database_at

pytestmark = pytest.mark.db


@pytest.fixture
def url_at_0008(tmp_path: Path) -> Iterator[str]:
    yield database_at("0008", tmp_path)
    dispose_all()


def test_upgrade_with_data_then_metrics_then_downgrade(url_at_0008: str) -> None:
    engine = create_engine(url_at_0008)
    try:
        with engine.begin() as conn:
            for i, (status, took) in enumerate([("processed", 3), ("processed", 45), ("pending", None)]):
                conn.execute(
                    text(
                        "INSERT INTO raw_message (channel, source, external_key, payload, payload_sha256, received_at, "
                        "status, attempts, key_collision, processed_at) VALUES ('email', 'mairie', :key, 'x', 'h', "
                        ":received, :status, 0, false, :processed)"
                    ),
                    {
                        "key": f"k{i}",
                        "status": status,
                        "received": "2026-12-01 10:00:00",
                        "processed": f"2026-12-01 10:00:{took:02d}" if took is not None else None,
                    },
                )
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url_at_0008), "head")
    engine = make_engine(url_at_0008)
    try:
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("raw_message")}
        assert indexes["ix_raw_message_processed"] == ["processed_at", "received_at"]
        with make_sessionmaker(engine)() as session:
            m = collect(session)
        assert m.received["email"] == 3 and m.backlog["email"] == 1 and m.processed == 2
        assert m.buckets[:3] == [0, 0, 1] and m.buckets[-1] == 2 and abs(m.seconds_sum - 48) < 0.01
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url_at_0008), "0008")
    engine = make_engine(url_at_0008)
    try:
        assert "ix_raw_message_processed" not in {ix["name"] for ix in inspect(engine).get_indexes("raw_message")}
    finally:
        engine.dispose()
