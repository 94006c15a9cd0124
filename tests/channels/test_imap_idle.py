"""wait_for_mail: IMAP IDLE wakes on mail appended by another connection, times out, or defers to polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from intake.channels.imap import poll_mailbox, wait_for_mail
from tests.channels.conftest import Mailbox
from tests.support.dovecot import DovecotServer
from tests.support.memsink import MemorySink

pytestmark = pytest.mark.dovecot


def test_idle_wakes_on_new_mail(mailbox: Mailbox) -> None:
    # The UIDNEXT of the last poll, as the watcher passes it: on a loaded machine the delivery below may land
    # before the IDLE command is under way, and must then still wake the watch at once.
    since = poll_mailbox(mailbox.settings(), MemorySink()).uidnext
    errors: list[BaseException] = []
    delivered: list[float] = []

    def deliver_later() -> None:
        time.sleep(0.7)
        try:
            mailbox.deliver(1)
            delivered.append(time.monotonic())
        except BaseException as exc:  # surfaced below: a thread's exception would be lost
            errors.append(exc)

    thread = threading.Thread(target=deliver_later)
    thread.start()
    try:
        woke = wait_for_mail(mailbox.settings(), timeout=20, since_uidnext=since)
        returned = time.monotonic()
    finally:
        thread.join()
    assert errors == [] and delivered
    # Measured from the moment the server had the mail (its APPEND may itself wait on a busy machine).
    assert woke is True and returned - delivered[0] < 10


def test_idle_times_out_without_mail(mailbox: Mailbox) -> None:
    started = time.monotonic()
    assert wait_for_mail(mailbox.settings(), timeout=1.0) is False
    assert 0.9 <= time.monotonic() - started < 5


def test_mail_arrived_since_the_last_poll_returns_at_once(mailbox: Mailbox) -> None:
    result = poll_mailbox(mailbox.settings(), MemorySink())
    assert result.uidnext is not None
    mailbox.deliver(1)  # lands between the poll and the IDLE: must not wait for the timeout
    started = time.monotonic()
    assert wait_for_mail(mailbox.settings(), timeout=30, since_uidnext=result.uidnext) is True
    assert time.monotonic() - started < 5
    assert wait_for_mail(mailbox.settings(), timeout=0.5, since_uidnext=result.uidnext + 1) is False


def test_without_idle_the_caller_polls(
    dovecot_without: Callable[..., DovecotServer], make_mailbox: Callable[..., Mailbox]
) -> None:
    box = make_mailbox(dovecot_without("IDLE"))
    assert poll_mailbox(box.settings(), MemorySink()).idle_supported is False
    started = time.monotonic()
    assert wait_for_mail(box.settings(), timeout=30) is False
    assert time.monotonic() - started < 5  # no sleeping in place of IDLE
