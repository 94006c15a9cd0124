"""The intake health page (/sante-des-canaux): who sees it, what it says, and the retry button."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.models import AuditLog, MailboxState, Outbox, RawMessage, Report, ReportMessage, utcnow
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.queue import QUEUE_NAME, enqueue_process
from intake.runtime.resources import build_resources
from tests.conftest import free_port
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.rows import add_raw
from tests.support.web import csrf_token, secured, signed_in
from web import create_app

PAGE = "/sante-des-canaux"
MAILBOX = {
    "name": "mairie",
    "host": "127.0.0.1",
    "port": 10143,
    "tls": False,
    "username": "mairie",
    "password": {"env": "HEALTH_TEST_IMAP_PASSWORD"},
    "poll_interval": 60,
}
APP_KEY = {"api_keys": [{"name": "appli-ville", "key": {"env": "HEALTH_TEST_KEY"}}]}
ALWAYS = {"quiet_hours": "", "quiet_weekends": False}


class Tables(HTMLParser):
    """Collects each table's caption and the scope of its header cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, object]] = []
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"caption": "", "th": [], "buttons": 0})
        elif tag == "caption":
            self._in_caption = True
        elif tag == "th" and self.tables:
            self.tables[-1]["th"].append(dict(attrs).get("scope"))  # type: ignore[attr-defined]

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.tables[-1]["caption"] = str(self.tables[-1]["caption"]) + data


def page_text(answer: object) -> str:
    """The page as a reader sees it (entities such as &#39; decoded)."""
    return unescape(answer.get_data(as_text=True))  # type: ignore[attr-defined]


def build(make_config: Callable[..., Config], **overrides: object) -> Flask:
    cfg = make_config(mailboxes=[MAILBOX], open311=APP_KEY, health=ALWAYS, **overrides)
    return secured(create_app(cfg, resources=build_resources(cfg, mailer=ConsoleMailer())))


def _factory(app: Flask) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = app.extensions["guichet"].factory
    return factory


def failing_email(app: Flask, root: Path) -> int:
    """An email with a photo that fails because the storage root is a file; removing the file fixes it."""
    res = app.extensions["guichet"]
    shutil.rmtree(root)
    root.write_text("pas un dossier")
    raw = citizen_email(
        subject="Trou dans la chaussée",
        body="Un trou profond devant le 24 rue de la Roquette.",
        attachments=[("trou.jpg", "image/jpeg", jpeg_with_gps(48.854, 2.3712))],
    )
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    assert process_raw(res, raw_id).status == "failed"
    return raw_id


def test_roles_admin_and_reception_see_it_agents_do_not(make_config: Callable[..., Config]) -> None:
    app = build(make_config)
    raw_id = add_raw(_factory(app), at=utcnow(), status="failed", error="RuntimeError: boum")
    assert app.test_client().get(PAGE).status_code == 302  # anonymous: to the sign-in page
    for role in ("admin", "accueil"):
        answer = signed_in(app, role).get(PAGE)
        assert answer.status_code == 200, role
        assert "Santé des canaux" in page_text(answer)
    agent = signed_in(app, "agent", "voirie")
    assert agent.get(PAGE).status_code == 403
    token = csrf_token(agent, "/")
    refused = agent.post(f"{PAGE}/relancer", data={"csrf_token": token, "message": str(raw_id)})
    assert refused.status_code == 403
    with app.extensions["guichet"].factory() as session:
        assert session.get(RawMessage, raw_id).status == "failed"  # type: ignore[union-attr]
    assert "Santé des canaux" not in page_text(agent.get("/"))  # no nav link for agents


def test_page_shows_each_door_silence_and_failures_in_accessible_french(make_config: Callable[..., Config]) -> None:
    app = build(make_config)
    now = utcnow()
    for hour in range(12):  # one message an hour, the last 10 h ago: past the 6 h floor
        add_raw(_factory(app), at=now - timedelta(hours=21 - hour))
    add_raw(_factory(app), at=now - timedelta(hours=15, minutes=30), status="pending")
    failed_id = add_raw(
        _factory(app),
        at=now - timedelta(hours=16, minutes=30),
        status="failed",
        error="ValueError: en-tête <illisible>",
    )
    with app.extensions["guichet"].factory() as session, session.begin():
        session.add(
            MailboxState(
                name="mairie",
                last_uid=9,
                last_poll_at=now,
                last_success_at=now - timedelta(hours=1),
                last_error="IMAP : authentification refusée",
            )
        )
    raw_html = signed_in(app, "accueil").get(PAGE).get_data(as_text=True)
    html = unescape(raw_html)
    assert '<html lang="fr">' in html
    assert "Boîte mail « mairie »" in html and "Application « appli-ville »" in html
    assert "jamais utilisé" in html  # the app never sent anything: not an alarm
    assert "Boîte mail « mairie » : aucun message depuis 10 h" in html
    assert "relève en retard" in html and "IMAP : authentification refusée" in html
    assert "ValueError: en-tête &lt;illisible&gt;" in raw_html and "<illisible>" not in raw_html
    assert f'name="message" value="{failed_id}"' in html
    assert "Pas de file Redis configurée" in html
    parser = Tables()
    parser.feed(raw_html)
    assert len(parser.tables) >= 3
    for table in parser.tables:
        assert str(table["caption"]).strip(), table
        assert table["th"] and all(scope in {"col", "row"} for scope in table["th"]), table  # type: ignore[union-attr]

    # A message arrives: the warning goes away.
    add_raw(_factory(app), at=utcnow())
    html = page_text(signed_in(app, "admin").get(PAGE))
    assert "aucun message depuis" not in html


def test_retry_button_turns_the_failed_message_into_a_report(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    app = build(make_config)
    raw_id = failing_email(app, tmp_path / "storage")
    client = signed_in(app, "accueil")
    page = page_text(client.get(PAGE))
    assert "NotADirectoryError" in page and f'aria-label="Relancer le message n° {raw_id}"' in page
    (tmp_path / "storage").unlink()  # the fix
    token = csrf_token(client, PAGE)
    assert client.post(f"{PAGE}/relancer", data={"message": str(raw_id)}).status_code == 400  # no CSRF token
    answer = client.post(f"{PAGE}/relancer", data={"csrf_token": token, "message": str(raw_id), "retour": "sante"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(PAGE)
    with app.extensions["guichet"].factory() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw is not None and raw.status == "processed"
        entries = (
            session.execute(select(AuditLog).where(AuditLog.action == "health.retry").order_by(AuditLog.id))
            .scalars()
            .all()
        )
    assert [e.status for e in entries] == [400, 303]  # the refused attempt is logged but not listed as a retry
    entry = entries[1]
    assert entry.username.startswith("accueil-") and entry.detail["message"] == str(raw_id) and entry.at
    html = page_text(client.get(PAGE))
    assert f"Message n° {raw_id} traité : il a créé le signalement n° " in html
    assert f"{entry.username} a demandé la relance du message n° {raw_id}" in html
    with app.extensions["guichet"].factory() as session:
        filed = session.execute(
            select(Report.tracking_number)
            .join(ReportMessage, ReportMessage.report_id == Report.id)
            .where(ReportMessage.raw_message_id == raw_id)
        ).scalar_one()
    assert f"il a créé le signalement n° {filed}." in html
    assert "Aucun message en échec." in html
    again = client.post(f"{PAGE}/relancer", data={"csrf_token": token, "message": str(raw_id)})
    assert again.status_code == 303
    assert "rien à relancer" in page_text(client.get(PAGE))


def test_retry_from_the_failed_messages_page_returns_there(make_config: Callable[..., Config]) -> None:
    app = build(make_config, redis_url=f"redis://127.0.0.1:{free_port()}/9")  # Redis down
    raw_id = add_raw(_factory(app), at=utcnow(), status="failed", error="RuntimeError: boum")
    client = signed_in(app, "admin")
    listing = page_text(client.get("/messages-en-echec"))
    assert f'name="message" value="{raw_id}"' in listing and 'value="echecs"' in listing
    token = csrf_token(client, "/messages-en-echec")
    answer = client.post(f"{PAGE}/relancer", data={"csrf_token": token, "message": str(raw_id), "retour": "echecs"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/messages-en-echec")
    assert "la file de traitement (Redis) est injoignable" in page_text(client.get("/messages-en-echec"))
    with app.extensions["guichet"].factory() as session:
        assert session.get(RawMessage, raw_id).status == "pending"  # type: ignore[union-attr]
    bad = client.post(f"{PAGE}/relancer", data={"csrf_token": token, "message": "12abc", "retour": "https://x.test"})
    assert bad.status_code == 303 and bad.headers["Location"].endswith(PAGE)
    assert "Numéro de message invalide." in page_text(client.get(PAGE))


def test_redis_down_is_said_on_the_page(make_config: Callable[..., Config]) -> None:
    app = build(make_config, redis_url=f"redis://127.0.0.1:{free_port()}/9")
    answer = signed_in(app, "admin").get(PAGE)
    html = page_text(answer)
    assert answer.status_code == 200
    assert "La file de traitement (Redis) est injoignable" in html and "Redis injoignable :" in html


def test_queue_length_and_workers_on_the_page(make_config: Callable[..., Config], redis_url: str) -> None:
    app = build(make_config, redis_url=redis_url)
    redis = Redis.from_url(redis_url)
    queue = Queue(QUEUE_NAME, connection=redis)
    for raw_id in (1, 2, 3):
        enqueue_process(queue, raw_id, timeout=60)
    html = page_text(signed_in(app, "admin").get(PAGE))
    assert "Tâches dans la file : 3" in html and "Aucun worker n'est actif" in html
    worker = Worker([queue], connection=redis, name="worker-sante-page")
    worker.register_birth()
    try:
        html = page_text(signed_in(app, "admin").get(PAGE))
        assert "worker-sante-page" in html and "Aucun worker n'est actif" not in html
    finally:
        worker.register_death()
        redis.close()


@pytest.mark.parametrize(("role", "shown"), [("admin", True), ("accueil", False)])
def test_failed_sends_show_recipients_only_to_admins(
    make_config: Callable[..., Config], role: str, shown: bool
) -> None:
    app = build(make_config)
    with app.extensions["guichet"].factory() as session, session.begin():
        session.add(
            Outbox(
                kind="confirmation",
                channel="email",
                recipient="jeanne.martin@example.org",
                message_id="<h1@guichet.localhost>",
                status="failed",
                reason="550 boîte inexistante",
            )
        )
    html = page_text(signed_in(app, role).get(PAGE))
    assert "550 boîte inexistante" in html and "1 envoi(s) aux citoyens en échec." in html
    assert ("jeanne.martin@example.org" in html) is shown


def test_durations_read_in_french() -> None:
    from web.health import duration_fr

    assert [duration_fr(s) for s in (None, 20, 60 * 12, 3600 * 3 + 60 * 5, 3600 * 6, 86400 * 2 + 3600 * 4, 86400)] == [
        "—",
        "moins d'une minute",
        "12 min",
        "3 h 05 min",
        "6 h",
        "2 j 4 h",
        "1 j",
    ]
