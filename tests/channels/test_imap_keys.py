"""The IMAP poller with the database sink on a real Dovecot: a reused Message-ID, a rescan after UIDVALIDITY."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from intake.channels.imap import poll_mailbox
from intake.models import RawMessage
from intake.pipeline.rawstore import DatabaseSink
from intake.runtime.db import make_engine, make_sessionmaker
from tests.channels.conftest import Mailbox, SimulatedCrash, message

pytestmark = pytest.mark.dovecot
RELAY_ID = "<contact-form@ville.example>"


def _sink(db_url: str) -> DatabaseSink:
    return DatabaseSink(make_sessionmaker(make_engine(db_url)), None)


def _rows(db_url: str) -> list[tuple[str, bool, int | None]]:
    engine = make_engine(db_url)  # disposed here: an engine dropped with an open connection warns when collected
    try:
        with make_sessionmaker(engine)() as s:
            return [
                (payload.decode().split("Subject: ")[1].split("\r\n")[0], flag, validity)
                for payload, flag, validity in s.execute(
                    select(RawMessage.payload, RawMessage.key_collision, RawMessage.imap_uidvalidity).order_by(
                        RawMessage.id
                    )
                )
            ]
    finally:
        engine.dispose()


def test_reused_message_id_with_other_content_is_a_new_row(mailbox: Mailbox, db_url: str) -> None:
    mailbox.server.append(mailbox.user, message("Lampadaire", message_id=RELAY_ID, body="Le lampadaire est éteint."))
    mailbox.server.append(mailbox.user, message("Trou", message_id=RELAY_ID, body="Un nid-de-poule rue Haute."))

    result = poll_mailbox(mailbox.settings(), _sink(db_url))

    assert (result.stored, result.acknowledged, result.errors) == (2, 2, [])
    assert [row[:2] for row in _rows(db_url)] == [("Lampadaire", False), ("Trou", True)]


def test_uidvalidity_rescan_stores_no_duplicate(mailbox: Mailbox, db_url: str) -> None:
    for subject in ("Lampadaire", "Trou"):  # the relay's two mails under one Message-ID, and an ordinary one
        mailbox.server.append(mailbox.user, message(subject, message_id=RELAY_ID, body=f"Signalement : {subject}."))
    mailbox.server.append(mailbox.user, message("Tag"))
    sink = _sink(db_url)
    stored: list[int] = []

    def crash_after_second_store(step: str, uid: int) -> None:
        if step == "stored":
            stored.append(uid)
            if len(stored) == 2:  # the batch stored (one commit), nothing moved yet
                raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        poll_mailbox(mailbox.settings(), sink, on_step=crash_after_second_store)
    old_validity, _ = sink.get_cursor("mairie")
    new_validity = mailbox.server.reset_uidvalidity(mailbox.user)

    result = poll_mailbox(mailbox.settings(), sink)

    assert result.uidvalidity == new_validity != old_validity
    assert (result.fetched, result.stored) == (3, 3)  # the whole batch again, each mail recognised
    assert _rows(db_url) == [
        ("Lampadaire", False, old_validity),
        ("Trou", True, old_validity),
        ("Tag", False, old_validity),
    ]
    assert mailbox.server.folder_count(mailbox.user, "INBOX") == 0
    assert mailbox.server.folder_count(mailbox.user, "Traités") == 3
