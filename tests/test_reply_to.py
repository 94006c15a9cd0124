"""Citizens' answers reach the town: Reply-To on every mail to a citizen, and a config that cannot receive them is
refused when its templates ask the citizen to answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from intake.config import Config, ConfigError, parse_config
from intake.models import Outbox
from intake.outbox.notify import make_mailer
from intake.outbox.send import send_outbox_row
from intake.runtime.db import make_engine, make_sessionmaker
from tests.conftest import CaughtMail, base_config_data

PUBLIC = {
    "name": "mairie",
    "role": "public",
    "host": "127.0.0.1",
    "username": "signalements@mairie.example",
    "password": {"env": "GUICHET_TEST_UNUSED"},
}
RECEPTION = {**PUBLIC, "name": "accueil", "role": "reception", "username": "accueil@mairie.example"}


def _send(cfg: Config, *rows: tuple[str, str]) -> list[int]:
    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    ids = []
    with factory() as session, session.begin():
        for kind, recipient in rows:
            row = Outbox(
                report_id=None,
                kind=kind,
                channel="email",
                recipient=recipient,
                subject=kind,
                body="Bonjour",
                message_id=f"{len(ids)}.{recipient}@guichet.localhost",
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
    for outbox_id in ids:
        assert send_outbox_row(factory, cfg, outbox_id, make_mailer(cfg)) == "sent"
    return ids


def _smtp(server: tuple[str, int, CaughtMail], **extra: Any) -> dict[str, Any]:
    host, port, _ = server
    return {"backend": "smtp", "host": host, "port": port, "reply_to": None, **extra}


def test_mail_to_citizens_answers_to_the_public_mailbox(
    make_config: Callable[..., Config], smtp_server: tuple[str, int, CaughtMail]
) -> None:
    cfg = make_config(mailboxes=[RECEPTION, PUBLIC], smtp=_smtp(smtp_server))
    assert cfg.reply_address == "signalements@mairie.example"
    _send(
        cfg,
        ("confirmation", "jean@exemple.fr"),
        ("ask_location", "jean@exemple.fr"),
        ("status_resolu", "jean@exemple.fr"),
        ("reply:1", "jean@exemple.fr"),
        ("referent:voirie", "voirie@mairie.example"),
        ("digest:voirie:2026-12-06", "voirie@mairie.example"),
    )
    caught = {str(m["message"]["Subject"]): m["message"] for m in smtp_server[2].messages}
    for kind in ("confirmation", "ask_location", "status_resolu", "reply:1"):
        assert caught[kind]["Reply-To"].addresses[0].addr_spec == "signalements@mairie.example", kind
        assert caught[kind]["From"].addresses[0].addr_spec == cfg.smtp.from_address
    assert caught["referent:voirie"]["Reply-To"] is None and caught["digest:voirie:2026-12-06"]["Reply-To"] is None


def test_smtp_reply_to_wins_over_the_mailbox(
    make_config: Callable[..., Config], smtp_server: tuple[str, int, CaughtMail]
) -> None:
    cfg = make_config(mailboxes=[PUBLIC], smtp=_smtp(smtp_server, reply_to="reponses@mairie.example"))
    _send(cfg, ("confirmation", "jean@exemple.fr"))
    (mail,) = smtp_server[2].messages
    assert mail["message"]["Reply-To"].addresses[0].addr_spec == "reponses@mairie.example"


def test_mailbox_address_is_its_own_or_the_username_when_it_is_one() -> None:
    data = base_config_data()
    assert parse_config(data).reply_address == data["smtp"]["reply_to"]
    data["smtp"]["reply_to"] = None
    assert parse_config(data).reply_address == data["mailboxes"][0]["address"] == "mairie@guichet.localhost"
    data["mailboxes"] = [{**PUBLIC, "username": "mairie", "address": "bonjour@mairie.example"}]
    assert parse_config(data).reply_address == "bonjour@mairie.example"
    data["mailboxes"] = [{**PUBLIC, "address": "pas une adresse"}]
    with pytest.raises(ConfigError, match=r"mailboxes\[0\]\.address"):
        parse_config(data)


def _refusal(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_a_template_asking_for_a_reply_needs_an_address_that_receives_it() -> None:
    data = base_config_data()
    data["smtp"]["reply_to"] = None
    data["mailboxes"] = [{**PUBLIC, "username": "mairie"}]  # no address known for the mailbox
    assert data["smtp"]["backend"] == "smtp" and data["smtp"]["from_address"].startswith("ne-pas-repondre@")
    message = _refusal(data)
    assert (
        "templates.confirmation_body : ce message demande au citoyen de répondre, mais aucune adresse ne reçoit "
        "les réponses"
        in message
        and "smtp.reply_to" in message
    )
    data["smtp"]["reply_to"] = "reponses@mairie.example"
    assert parse_config(data).reply_address == "reponses@mairie.example"
    data["smtp"]["reply_to"] = None
    data["smtp"]["from_address"] = "signalements@mairie.example"  # a mailbox the town reads: answers arrive
    assert parse_config(data).reply_address is None
    data["smtp"]["from_address"] = "noreply@mairie.example"
    data["templates"]["confirmation_body"] = "Bonjour, n° {{ tracking_number }}. Merci de ne pas répondre."
    assert "templates.ask_location.body : ce message demande" in _refusal(data)
    data["templates"]["ask_location"] = {**data["templates"]["ask_location"], "body": "{{ location_url }}"}
    data["ask_location"] = {"enabled": True}
    parse_config(data)  # nothing asks for an answer any more
    data["templates"]["status"]["resolu"]["body"] = "Résolu. Une question ? Répondez directement à ce courriel."
    assert "templates.status.resolu.body : ce message demande" in _refusal(data)
