"""Outbox rows: pending -> sending -> sent | failed, swept without Redis, resent by command or from the health page."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.models import Outbox, utcnow
from intake.outbox.send import send_outbox_row
from intake.runtime.housekeeping import sweep_outbox
from intake.runtime.resources import build_resources
from tests.conftest import CaughtMail, postgres_test_url, write_config
from tests.support.cli import run_guichet
from tests.support.web import csrf_token, signed_in


def add_row(
    factory: sessionmaker[Session],
    n: int,
    *,
    status: str = "pending",
    attempts: int = 0,
    age: timedelta = timedelta(minutes=2),
    tried: timedelta | None = None,
) -> int:
    with factory() as session, session.begin():
        row = Outbox(
            kind=f"essai-{n}",
            channel="email",
            recipient=f"c{n}@example.org",
            subject=f"Sujet {n}",
            body="Bonjour.",
            message_id=f"m{n}@guichet.localhost",
            status=status,
            attempts=attempts,
            created_at=utcnow() - age,
            claimed_at=utcnow() - tried if tried else None,
        )
        session.add(row)
        session.flush()
        return row.id


def states(factory: sessionmaker[Session]) -> dict[int, tuple[str, int]]:
    with factory() as session:
        return {i: (s, a) for i, s, a in session.execute(select(Outbox.id, Outbox.status, Outbox.attempts)).all()}


def smtp_config(make_config: Callable[..., Config], smtp: tuple[str, int, Any], **overrides: Any) -> Config:
    host, port, _ = smtp
    return make_config(smtp={"backend": "smtp", "host": host, "port": port}, **overrides)


def test_due_rows_are_sent_exhausted_ones_parked_then_resent_by_command(
    make_config: Callable[..., Config],
    smtp_server: tuple[str, int, CaughtMail],
    tmp_path: Path,
) -> None:
    cfg = smtp_config(make_config, smtp_server)
    res = build_resources(cfg)
    fresh = add_row(res.factory, 1, age=timedelta(seconds=10))  # created just now: the first try is in progress
    due = add_row(res.factory, 2)  # never tried, two minutes old (its job was lost with Redis)
    retried = add_row(res.factory, 3, attempts=2, tried=timedelta(minutes=11))  # tried twice, due again
    waiting = add_row(res.factory, 4, attempts=2, tried=timedelta(minutes=1))  # tried a minute ago: not yet
    exhausted = add_row(res.factory, 5, attempts=cfg.worker.max_attempts, tried=timedelta(hours=2))
    stale = add_row(res.factory, 6, status="sending", attempts=1, tried=timedelta(hours=1))  # its worker died
    done = sweep_outbox(res.factory, cfg, res.mailer)
    assert done.restarted == [stale] and done.parked == [exhausted]
    assert sorted(done.sent) == [due, retried, stale]  # the stale one was tried an hour ago: due at once
    after = states(res.factory)
    assert after[fresh] == ("pending", 0) and after[waiting] == ("pending", 2) and after[stale] == ("sent", 2)
    assert after[exhausted][0] == "failed"
    with res.factory() as session:
        reason = session.get(Outbox, exhausted).reason  # type: ignore[union-attr]
    assert reason and "abandonné après" in reason and "guichet resend" in reason

    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml"))}
    proc = run_guichet(["resend"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"envoi {exhausted} : envoyé" in proc.stdout
    assert states(res.factory)[exhausted] == ("sent", 1)
    again = run_guichet(["resend"], env=env)
    assert "aucun envoi à reprendre" in again.stdout and again.returncode == 0
    unknown = run_guichet(["resend", str(exhausted), "999999"], env=env)
    assert unknown.returncode == 1 and "envoi 999999 : introuvable" in unknown.stderr
    assert f"envoi {exhausted} : envoyé, rien à renvoyer" in unknown.stderr and "Traceback" not in unknown.stderr
    recipients = sorted(m["to"][0] for m in smtp_server[2].messages)
    assert recipients == ["c2@example.org", "c3@example.org", "c5@example.org", "c6@example.org"]  # each once


def test_a_send_that_fails_every_time_ends_failed_not_pending(make_config: Callable[..., Config]) -> None:
    from tests.conftest import free_port

    cfg = make_config(
        smtp={"backend": "smtp", "host": "127.0.0.1", "port": free_port(), "timeout": 2}, worker={"max_attempts": 2}
    )
    res = build_resources(cfg)
    row = add_row(res.factory, 1)
    for _ in range(2):
        with pytest.raises(OSError):
            send_outbox_row(res.factory, cfg, row, res.mailer)
    with res.factory() as session:
        found = session.get(Outbox, row)
        assert found is not None and found.status == "failed" and "abandonné après 2 essais" in (found.reason or "")


class DroppingDatabase(CaughtMail):
    """An SMTP server that, having accepted the mail, cuts every connection of the test database."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        answer = await super().handle_DATA(server, session, envelope)
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        engine.dispose()
        return answer


@pytest.mark.skipif(
    not os.environ.get("GUICHET_TEST_DATABASE_URL"),
    reason="needs PostgreSQL (GUICHET_TEST_DATABASE_URL) to cut the database connections",
)
def test_a_database_drop_after_smtp_accepted_sends_once(make_config: Callable[..., Config], db_url: str) -> None:
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    assert db_url == postgres_test_url()
    port = free_port()
    handler = DroppingDatabase(db_url)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = make_config(smtp={"backend": "smtp", "host": "127.0.0.1", "port": port})
        res = build_resources(cfg)
        row = add_row(res.factory, 1)
        assert send_outbox_row(res.factory, cfg, row, res.mailer) == "sent"  # recorded despite the cut
        later = utcnow() + timedelta(hours=1)  # the sweeps of the next hour send nothing again
        assert not sweep_outbox(res.factory, cfg, res.mailer, now=later).sent
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    assert states(res.factory)[row] == ("sent", 1)


def test_the_health_page_resends_a_failed_notification(make_config: Callable[..., Config]) -> None:
    from tests.web.test_health_page import PAGE, build, page_text

    app = build(make_config)
    factory = app.extensions["guichet"].factory
    row = add_row(factory, 1, status="failed", attempts=5)
    with factory() as session, session.begin():
        session.get(Outbox, row).reason = "abandonné après 5 essais"  # type: ignore[union-attr]
    agent = signed_in(app, "agent", service="voirie")
    assert agent.post(f"{PAGE}/renvoyer", data={"envoi": str(row)}).status_code in (400, 403)
    client = signed_in(app, "accueil")
    html = page_text(client.get(PAGE))
    assert f'aria-label="Renvoyer l\'envoi n° {row}"' in html and "guichet resend" in html
    token = csrf_token(client, PAGE)
    answer = client.post(f"{PAGE}/renvoyer", data={"csrf_token": token, "envoi": str(row)})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(PAGE)
    assert states(factory)[row] == ("sent", 1)  # no Redis in this configuration: sent at once
    html = page_text(client.get(PAGE))
    assert "1 envoi(s) sur 1 parti(s)" in html
    again = client.post(f"{PAGE}/renvoyer", data={"csrf_token": token, "envoi": str(row)})
    assert again.status_code == 303
    assert "Rien à renvoyer" in page_text(client.get(PAGE))
    bad = client.post(f"{PAGE}/renvoyer", data={"csrf_token": token, "envoi": "1; drop"})
    assert bad.status_code == 303 and "Numéro d'envoi invalide." in page_text(client.get(PAGE))
