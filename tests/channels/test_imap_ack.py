"""Acknowledgement safety: a crash at every step, and the COPY + UID EXPUNGE path of MOVE-less servers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from intake.channels.imap import STEPS, ImapError, poll_mailbox
from tests.channels.conftest import Mailbox, SimulatedCrash, message
from tests.support.dovecot import DovecotServer
from tests.support.memsink import MemorySink, natural_key

pytestmark = pytest.mark.dovecot


@pytest.mark.parametrize("after_store", ["move", "flag"])
@pytest.mark.parametrize("crash_at", STEPS)
def test_crash_at_any_step_loses_nothing_and_stores_once(mailbox: Mailbox, crash_at: str, after_store: str) -> None:
    sent = [message(f"Signalement {i}") for i in range(3)]
    for raw in sent:
        mailbox.server.append(mailbox.user, raw)
    settings = mailbox.settings(after_store=after_store)
    sink = MemorySink()
    calls = 0

    def crash_on_second_message(step: str, uid: int) -> None:
        nonlocal calls
        if step == crash_at:
            calls += 1
            if calls == 2:
                raise SimulatedCrash(f"killed after {step} of UID {uid}")

    with pytest.raises(SimulatedCrash):
        poll_mailbox(settings, sink, on_step=crash_on_second_message)
    poll_mailbox(settings, sink)
    poll_mailbox(settings, sink)  # a third poll finds nothing more to do

    assert sorted(sink.keys()) == sorted(natural_key(raw) for raw in sent)  # each exactly once
    assert sorted(row.raw for row in sink.rows.values()) == sorted(sent)
    if after_store == "move":
        assert mailbox.server.folder_count(mailbox.user, "INBOX") == 0
        assert mailbox.server.folder_count(mailbox.user, "Traités") == 3
    else:
        assert all(b"$GuichetProcessed" in f for f in mailbox.server.flags(mailbox.user).values())
    # A crash after the acknowledgement leaves committed rows never enqueued: the sweeper's job. The three
    # messages are one batch, acknowledged by one command: all three are in that gap.
    expected_gap = len(sent) if crash_at in ("acknowledged", "cursor") else 0
    assert len(sink.not_enqueued()) == expected_gap


@pytest.fixture
def moveless(dovecot_without: Callable[..., DovecotServer], make_mailbox: Callable[..., Mailbox]) -> Mailbox:
    server = dovecot_without("MOVE")
    assert "MOVE" not in server.capabilities and "UIDPLUS" in server.capabilities
    return make_mailbox(server)


def test_moveless_server_copies_then_expunges_only_that_uid(moveless: Mailbox) -> None:
    survivor = moveless.server.append(moveless.user, message("someone else's"), flags=[b"\\Deleted"])
    moveless.deliver(3)
    sink = MemorySink()

    result = poll_mailbox(moveless.settings(), sink)

    assert (result.stored, result.acknowledged, result.errors) == (3, 3, [])
    assert moveless.server.list_uids(moveless.user, "INBOX") == [survivor]
    assert moveless.server.flags(moveless.user)[survivor] >= {b"\\Deleted"}
    assert moveless.server.folder_count(moveless.user, "Traités") == 3
    assert all(b"\\Deleted" not in f for f in moveless.server.flags(moveless.user, "Traités").values())


@pytest.mark.parametrize("crash_at", ["stored", "acknowledged"])
def test_moveless_crash_stores_once(moveless: Mailbox, crash_at: str) -> None:
    moveless.deliver(2)
    sink = MemorySink()

    def crash(step: str, uid: int) -> None:
        if step == crash_at:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        poll_mailbox(moveless.settings(), sink, on_step=crash)
    poll_mailbox(moveless.settings(), sink)

    assert len(sink.rows) == 2
    assert moveless.server.folder_count(moveless.user, "INBOX") == 0
    assert moveless.server.folder_count(moveless.user, "Traités") == 2


def test_server_without_move_nor_uidplus_is_refused_in_move_mode(
    dovecot_without: Callable[..., DovecotServer], make_mailbox: Callable[..., Mailbox]
) -> None:
    box = make_mailbox(dovecot_without("MOVE", "UIDPLUS"))
    box.deliver(1)

    with pytest.raises(ImapError, match="after_store: flag"):
        poll_mailbox(box.settings(), MemorySink())
    assert box.server.folder_count(box.user, "INBOX") == 1

    result = poll_mailbox(box.settings(after_store="flag"), MemorySink())
    assert result.acknowledged == 1
