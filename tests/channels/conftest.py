"""Fixtures for channel tests: real Dovecot servers (tests/support/dovecot.py) and fresh mailboxes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from intake.channels.imap import ImapSettings
from tests.support.dovecot import DOVECOT_BIN, DovecotServer


class SimulatedCrash(Exception):
    """Raised from on_step to stop a poll dead, as a killed process would."""


def _start(**options: Any) -> DovecotServer:
    if not os.path.exists(DOVECOT_BIN) or os.geteuid() != 0:
        reason = f"needs root and {DOVECOT_BIN}: run scripts/ensure-dovecot.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI must not go green by skipping the real-server tests
        pytest.skip(reason)
    return DovecotServer(**options).start()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot with every capability, plain IMAP plus a TLS port when openssl is present."""
    server = _start(tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_without() -> Iterator[Callable[..., DovecotServer]]:
    """Factory: a Dovecot hiding some capabilities, e.g. dovecot_without("MOVE"); one per set, shared."""
    servers: dict[tuple[str, ...], DovecotServer] = {}

    def get(*capabilities: str) -> DovecotServer:
        key = tuple(sorted(c.upper() for c in capabilities))
        if key not in servers:
            servers[key] = _start(tls=False, without_capabilities=key)
        return servers[key]

    try:
        yield get
    finally:
        for server in servers.values():
            server.stop()


def message(
    subject: str = "Nid-de-poule rue des Lilas",
    *,
    message_id: str | None = None,
    body: str = "Bonjour, il y a un trou dans la chaussée.",
) -> bytes:
    """A small citizen email as raw bytes with a unique Message-ID unless one is given."""
    mid = message_id or f"<{uuid.uuid4().hex}@citoyen.example>"
    text = (
        f"From: Jeanne Martin <jeanne@citoyen.example>\r\nTo: mairie@ville.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: {mid}\r\nDate: Mon, 2 Jun 2025 09:00:00 +0200\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    return text.encode("utf-8")


@dataclass
class Mailbox:
    """A fresh Dovecot user: isolation without cleaning up between tests."""

    server: DovecotServer
    user: str
    password: str
    token: str

    def settings(self, **overrides: Any) -> ImapSettings:
        """ImapSettings for this mailbox over plain IMAP (override anything, e.g. after_store)."""
        values: dict[str, Any] = dict(
            name="mairie",
            host=self.server.host,
            port=self.server.port,
            tls=False,
            username=self.user,
            password=self.password,
            timeout=10.0,
        )
        values.update(overrides)
        return ImapSettings(**values)

    def deliver(self, count: int = 1, **kwargs: Any) -> list[int]:
        """APPEND `count` new messages to INBOX; returns their UIDs."""
        return [self.server.append(self.user, message(f"Signalement {i}", **kwargs)) for i in range(count)]


@pytest.fixture
def make_mailbox() -> Callable[..., Mailbox]:
    """Factory: a new user on the given server."""

    def make(server: DovecotServer) -> Mailbox:
        user, password, token = server.claim_user()
        return Mailbox(server, user, password, token)

    return make


@pytest.fixture
def mailbox(dovecot: DovecotServer, make_mailbox: Callable[..., Mailbox]) -> Mailbox:
    """A new, empty mailbox on the default Dovecot."""
    return make_mailbox(dovecot)


@pytest.fixture
def standin() -> Iterator[Any]:
    """A local server standing in for api.twilio.com (Twilio's documented wire format)."""
    from tests.support.twilio_standin import TwilioStandIn

    with TwilioStandIn() as server:
        yield server
