"""Revision 0007 on a database that already holds raw messages: old rows keep working, nothing is lost going back."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text

from intake.models import RawMessage
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.db import alembic_config, dispose_all, make_engine, make_sessionmaker
from tests.conftest import database_at
from tests.support.mail import citizen_email

pytestmark = pytest.mark.db

ALICE = citizen_email(
    sender="Alice <alice@example.org>",
    subject="Contact",
    body="Le lampadaire est éteint.",
    message_id="formulaire@ville.example",
)
BRUNO = citizen_email(
    sender="Bruno <bruno@example.org>",
    subject="Contact",
    body="Un nid-de-poule rue Haute.",
    message_id="formulaire@ville.example",
)


@pytest.fixture
def url_at_0006(tmp_path: Path) -> Iterator[str]:
    """A database migrated to 0006 only (SQLite, or the PostgreSQL of GUICHET_TEST_DATABASE_URL)."""
    yield database_at("0006", tmp_path)
    dispose_all()


def _insert_old_row(url: str, raw: bytes) -> int:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO raw_message (channel, source, external_key, payload, payload_sha256, "
                "received_at, status, attempts) VALUES ('email', 'mairie', :key, :payload, :sha, "
                "CURRENT_TIMESTAMP, 'processed', 1)"
            ),
            {"key": email_key(raw), "payload": raw, "sha": hashlib.sha256(raw).hexdigest()},
        )
        raw_id = int(conn.execute(text("SELECT max(id) FROM raw_message")).scalar_one())
    engine.dispose()
    return raw_id


def test_rows_stored_before_0007_are_still_recognised(url_at_0006: str) -> None:
    old_id = _insert_old_row(url_at_0006, ALICE)
    command.upgrade(alembic_config(url_at_0006), "head")
    factory = make_sessionmaker(make_engine(url_at_0006))
    with factory() as s:
        old = s.get(RawMessage, old_id)
        assert old is not None and old.content_key is None and old.key_collision is False

    # A re-delivery of the old mail (an extra Received header, CRLF turned into LF) is the old row.
    redelivered = b"Received: from relay.example by mx.example; Mon, 1 Dec 2026 10:00:00 +0100\n" + ALICE.replace(
        b"\r\n", b"\n"
    )
    assert store_raw(
        factory, channel="email", source="mairie", external_key=email_key(redelivered), payload=redelivered
    ) == (old_id, False)
    # Bruno's mail under the same Message-ID is a new message, flagged.
    bruno_id, created = store_raw(
        factory, channel="email", source="mairie", external_key=email_key(BRUNO), payload=BRUNO
    )
    assert created and bruno_id != old_id
    with factory() as s:
        bruno = s.get(RawMessage, bruno_id)
        assert bruno is not None and bruno.key_collision is True and bruno.content_key is not None
        assert bruno.external_key == "mid:formulaire@ville.example"


def test_downgrade_keeps_every_row(url_at_0006: str) -> None:
    _insert_old_row(url_at_0006, ALICE)
    config = alembic_config(url_at_0006)
    command.upgrade(config, "head")
    factory = make_sessionmaker(make_engine(url_at_0006))
    bruno_id, _ = store_raw(factory, channel="email", source="mairie", external_key=email_key(BRUNO), payload=BRUNO)
    dispose_all()

    command.downgrade(config, "0006")
    engine = create_engine(url_at_0006)
    with engine.connect() as conn:
        keys = dict(conn.execute(text("SELECT id, external_key FROM raw_message ORDER BY id")).all())
    engine.dispose()
    assert len(keys) == 2 and keys[bruno_id] == f"mid:formulaire@ville.example#{bruno_id}"

    command.upgrade(config, "head")
    with make_sessionmaker(make_engine(url_at_0006))() as s:
        assert len(s.execute(select(RawMessage.id)).all()) == 2
