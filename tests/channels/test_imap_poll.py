"""poll_mailbox against a real Dovecot: peek, move, flag, batches, cursor, UIDVALIDITY, failing store."""

from __future__ import annotations

import pytest

from intake.channels.imap import PROCESSED_KEYWORD, poll_mailbox
from tests.channels.conftest import Mailbox, SimulatedCrash, message
from tests.support.memsink import MemorySink, natural_key

pytestmark = pytest.mark.dovecot
KEYWORD = PROCESSED_KEYWORD.encode()


def test_moves_stored_messages_to_processed_folder(mailbox: Mailbox) -> None:
    uids = mailbox.deliver(3)
    sink = MemorySink()

    result = poll_mailbox(mailbox.settings(), sink)

    assert (result.fetched, result.stored, result.acknowledged, result.errors) == (3, 3, 3, [])
    assert len(sink.rows) == 3 and sorted(sink.enqueued) == sorted(sink.rows)
    assert mailbox.server.folder_count(mailbox.user, "INBOX") == 0
    assert mailbox.server.folder_count(mailbox.user, "Traités") == 3
    assert sink.cursors["mairie"] == (result.uidvalidity, uids[-1])
    assert result.last_uid == uids[-1] and result.idle_supported
    assert poll_mailbox(mailbox.settings(), sink).fetched == 0


def test_stored_bytes_are_verbatim(mailbox: Mailbox) -> None:
    raw = message("Éclairage public — panne", body="Accents : é à ç ô.\r\nLigne 2")
    mailbox.server.append(mailbox.user, raw)
    sink = MemorySink()
    poll_mailbox(mailbox.settings(), sink)
    assert sink.rows[1].raw == raw


def test_fetch_does_not_mark_seen_before_acknowledgement(mailbox: Mailbox) -> None:
    mailbox.deliver(2)
    seen_during_fetch: list[bool] = []

    def look(step: str, uid: int) -> None:
        if step in ("fetched", "stored"):
            seen_during_fetch.append(b"\\Seen" in mailbox.server.flags(mailbox.user)[uid])

    failing = MemorySink(fail_when=lambda raw: True)
    result = poll_mailbox(mailbox.settings(), failing, on_step=look)

    assert result.stored == 0 and len(result.errors) == 2
    assert all(b"\\Seen" not in flags for flags in mailbox.server.flags(mailbox.user).values())
    poll_mailbox(mailbox.settings(), MemorySink(), on_step=look)
    assert seen_during_fetch == [False] * 6  # 2 fetched by the failing poll, 2 x (fetched, stored)


def test_flag_mode_keeps_messages_and_skips_them_next_time(mailbox: Mailbox) -> None:
    mailbox.deliver(2)
    sink = MemorySink()
    settings = mailbox.settings(after_store="flag")

    assert poll_mailbox(settings, sink).acknowledged == 2
    flags = mailbox.server.flags(mailbox.user)
    assert len(flags) == 2 and all({b"\\Seen", KEYWORD} <= f for f in flags.values())
    assert mailbox.server.folder_count(mailbox.user, "Traités") == 0

    sink.cursors.clear()  # even from scratch, the keyword alone keeps handled mail out
    assert poll_mailbox(settings, sink).fetched == 0
    new_uid = mailbox.deliver(1)[0]
    again = poll_mailbox(settings, sink)
    assert again.fetched == 1 and again.last_uid == new_uid and len(sink.rows) == 3


def test_processed_folder_none_means_flag_only(mailbox: Mailbox) -> None:
    mailbox.deliver(1)
    poll_mailbox(mailbox.settings(processed_folder=None), MemorySink())
    assert [KEYWORD in f for f in mailbox.server.flags(mailbox.user).values()] == [True]


def test_batches_are_bounded(mailbox: Mailbox) -> None:
    mailbox.deliver(5)
    sink = MemorySink()

    first = poll_mailbox(mailbox.settings(batch_size=2), sink, max_batches=1)
    assert first.fetched == 2 and len(sink.rows) == 2 and first.more  # the caller is told to poll again
    assert mailbox.server.folder_count(mailbox.user, "INBOX") == 3

    exact = poll_mailbox(mailbox.settings(batch_size=2), sink, max_batches=1)
    assert exact.fetched == 2 and exact.more
    rest = poll_mailbox(mailbox.settings(batch_size=2), sink, max_batches=1)
    assert rest.fetched == 1 and len(sink.rows) == 5 and not rest.more


def test_a_batch_fetched_in_one_command_keeps_each_body_with_its_uid(mailbox: Mailbox) -> None:
    raws = [message(f"Signalement {i}", body="x" * (i * 997)) for i in range(7)]  # sizes differ
    sent = {mailbox.server.append(mailbox.user, raw): raw for raw in raws}
    sink = MemorySink()
    result = poll_mailbox(mailbox.settings(batch_size=4), sink)  # two UID FETCH commands: 4, then 3
    assert (result.fetched, result.stored, result.more) == (7, 7, False)
    assert {row.uid: row.raw for row in sink.rows.values()} == sent  # verbatim, each with its own UID


def test_uid_range_star_does_not_refetch_the_highest_uid(mailbox: Mailbox) -> None:
    # "UID n:*" matches the highest UID even when it is below n: it must be filtered out.
    uid = mailbox.deliver(1)[0]
    sink = MemorySink()
    sink.set_cursor("mairie", uidvalidity=mailbox.server.uidvalidity(mailbox.user), last_uid=uid)
    assert poll_mailbox(mailbox.settings(), sink).fetched == 0
    assert sink.store_calls == 0


def test_messages_flagged_deleted_by_someone_else_are_left_alone(mailbox: Mailbox) -> None:
    mailbox.server.append(mailbox.user, message("spam"), flags=[b"\\Deleted"])
    mailbox.deliver(1)
    result = poll_mailbox(mailbox.settings(), MemorySink())
    assert result.fetched == 1
    assert mailbox.server.folder_count(mailbox.user, "INBOX") == 1


def test_failed_store_does_not_block_the_others_and_is_retried(mailbox: Mailbox) -> None:
    mailbox.deliver(1)
    bad = message("Poison", message_id="<poison@citoyen.example>")
    bad_uid = mailbox.server.append(mailbox.user, bad)
    mailbox.deliver(2)
    broken = True
    sink = MemorySink(fail_when=lambda raw: broken and b"poison@" in raw)

    result = poll_mailbox(mailbox.settings(), sink)

    assert (result.fetched, result.stored, result.acknowledged) == (4, 3, 3)
    assert len(result.errors) == 1 and f"UID {bad_uid}" in result.errors[0]
    assert mailbox.server.list_uids(mailbox.user, "INBOX") == [bad_uid]
    assert b"\\Seen" not in mailbox.server.flags(mailbox.user)[bad_uid]
    assert sink.cursors["mairie"][1] == bad_uid - 1  # the cursor waits for the failed message

    broken = False
    retry = poll_mailbox(mailbox.settings(), sink)
    assert (retry.fetched, retry.stored, retry.errors) == (1, 1, [])
    assert mailbox.server.folder_count(mailbox.user, "INBOX") == 0
    assert len(sink.rows) == 4 and len(set(sink.keys())) == 4


def test_uidvalidity_change_in_move_mode_stores_no_duplicate(mailbox: Mailbox) -> None:
    mailbox.deliver(3)
    sink = MemorySink()

    def crash_after_second_store(step: str, uid: int) -> None:
        if step == "stored" and len(sink.rows) == 2:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        poll_mailbox(mailbox.settings(), sink, on_step=crash_after_second_store)
    old_validity = sink.cursors["mairie"][0]
    new_validity = mailbox.server.reset_uidvalidity(mailbox.user)  # the batch was not moved: 3 left, renumbered

    result = poll_mailbox(mailbox.settings(), sink)

    assert result.uidvalidity == new_validity != old_validity
    assert result.fetched == 3 and len(sink.rows) == 3 and len(set(sink.keys())) == 3
    assert sink.cursors["mairie"][0] == new_validity
    assert mailbox.server.folder_count(mailbox.user, "Traités") == 3


def test_uidvalidity_change_in_flag_mode_refetches_nothing(mailbox: Mailbox) -> None:
    mailbox.deliver(3)
    sink = MemorySink()
    settings = mailbox.settings(after_store="flag")
    poll_mailbox(settings, sink)
    mailbox.server.reset_uidvalidity(mailbox.user)

    result = poll_mailbox(settings, sink)

    assert result.fetched == 0 and sink.store_calls == 3 and len(sink.rows) == 3


def test_natural_key_falls_back_to_a_hash() -> None:
    assert natural_key(b"Subject: x\r\n\r\nbody").startswith("sha256:")
    assert natural_key(message(message_id="<a@b>")) == "<a@b>"
