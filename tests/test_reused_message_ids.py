"""Two citizens' mails under one Message-ID through a real Dovecot and the poller: both stored, both filed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.models import RawMessage, Report, ReportMessage
from intake.runtime.resources import build_resources
from tests.channels.conftest import dovecot  # noqa: F401  (the real Dovecot fixture)
from tests.conftest import write_config
from tests.support.cli import run_guichet
from tests.support.dovecot import DovecotServer
from tests.support.mail import citizen_email

pytestmark = pytest.mark.dovecot
RELAY_ID = "contact-form@ville.example"  # a town website's contact form relay: one Message-ID for every mail


def _relayed(sender: str, subject: str, body: str) -> bytes:
    return citizen_email(sender=sender, subject=subject, body=body, message_id=RELAY_ID)


ALICE = _relayed(
    "Alice Durand <alice@example.org>",
    "Lampadaire éteint",
    "Bonjour,\n\nLe lampadaire devant le 12 rue des Lilas ne s'allume plus depuis lundi.\n\nAlice",
)
BRUNO = _relayed(
    "Bruno Petit <bruno@example.org>",
    "Nid-de-poule",
    "Bonjour,\n\nIl y a un gros nid-de-poule devant le 3 place de la Mairie, dangereux pour les vélos.\n\nBruno",
)


def _setup(make_config: Callable[..., Config], server: DovecotServer, tmp_path: Path) -> tuple[Config, dict[str, str]]:
    user, password, _ = server.claim_user()
    mailbox = {
        "name": "mairie",
        "host": server.host,
        "port": server.port,
        "tls": False,
        "username": user,
        "password": {"env": "TEST_IMAP_PASSWORD"},
        "poll_interval": 5,
    }
    cfg = make_config(mailboxes=[mailbox])
    path = write_config(cfg, tmp_path / "config.yaml")
    return cfg, {**os.environ, "GUICHET_CONFIG": str(path), "TEST_IMAP_PASSWORD": password}


def _poll(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = run_guichet(["poll", "--inline"], env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def _filed(cfg: Config) -> list[tuple[str, bool, str, str]]:
    """(sender of the raw mail, key_collision, report subject, role) per raw message, in arrival order."""
    res = build_resources(cfg)
    with res.factory() as s:
        rows = s.execute(
            select(RawMessage.payload, RawMessage.key_collision, Report.subject, ReportMessage.role)
            .join(ReportMessage, ReportMessage.raw_message_id == RawMessage.id)
            .join(Report, Report.id == ReportMessage.report_id)
            .order_by(RawMessage.id)
        ).all()
    res.dispose()
    return [(str(message_from_bytes(p)["From"]), flag, subject, role) for p, flag, subject, role in rows]


def _raw_count(cfg: Config) -> int:
    res = build_resources(cfg)
    with res.factory() as s:
        count = len(s.execute(select(RawMessage.id)).all())
    res.dispose()
    return count


def test_two_citizens_one_message_id_make_two_reports(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg, env = _setup(make_config, dovecot, tmp_path)
    user = cfg.mailboxes[0].username
    dovecot.append(user, ALICE)
    dovecot.append(user, BRUNO)

    assert "mairie : 2 message(s) enregistré(s)" in _poll(env).stdout

    assert dovecot.folder_count(user, "Traités") == 2
    assert _filed(cfg) == [
        ("Alice Durand <alice@example.org>", False, "Lampadaire éteint", "original"),
        ("Bruno Petit <bruno@example.org>", True, "Nid-de-poule", "original"),
    ]


def test_a_redelivered_mail_is_stored_once(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg, env = _setup(make_config, dovecot, tmp_path)
    user = cfg.mailboxes[0].username
    dovecot.append(user, ALICE)
    _poll(env)
    # The same mail delivered again by the relay's retry, through another hop (one more Received header).
    dovecot.append(
        user, b"Received: from mx2.ville.example by imap.ville.example; Mon, 7 Dec 2026 10:02:00 +0100\r\n" + ALICE
    )
    _poll(env)

    assert dovecot.folder_count(user, "Traités") == 2
    assert _raw_count(cfg) == 1
    assert [row[:2] for row in _filed(cfg)] == [("Alice Durand <alice@example.org>", False)]
