"""Statuses: validated changes, one notice per (report, status, reporter) on their channel, duplicates following."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config, ConfigError, parse_config
from intake.gsm import best_form, segments
from intake.models import Contact, Event, Outbox, RawMessage, Report, ReportMessage
from intake.outbox.notify import SmtpMailer, template
from intake.outbox.send import send_outbox_row
from intake.reports.dedupe import merge
from intake.reports.statuses import change_status, message_values, reporters
from intake.reports.tracking import new_public_token, next_tracking_number
from intake.runtime.db import make_engine, make_sessionmaker
from tests.conftest import base_config_data

pytestmark = pytest.mark.db

JEANNE = "jeanne.martin@example.org"
PAUL = "+33612345678"
LEA = "+33698765432"


@pytest.fixture
def cfg(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
def factory(cfg: Config) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(cfg.sqlalchemy_url))


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as s:
        yield s


def contact(
    s: Session, *, email: str | None = None, phone: str | None = None, name: str | None = None, opt_out: bool = False
) -> Contact:
    found = s.execute(select(Contact).where(Contact.email == email if email else Contact.phone == phone)).scalar()
    if found is None:
        found = Contact(email=email, phone=phone, name=name, opt_out=opt_out)
        s.add(found)
    return found


def add_report(
    s: Session,
    *,
    channel: str = "email",
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    message_id: str | None = None,
    text: str = "Le lampadaire est éteint",
    details: dict[str, Any] | None = None,
    status: str = "nouveau",
    category: str = "eclairage",
    opt_out: bool = False,
) -> Report:
    """A filed report with its original message, as the pipeline leaves it."""
    author = contact(s, email=email, phone=phone, name=name, opt_out=opt_out) if email or phone else None
    report = Report(
        tracking_number=next_tracking_number(s, year=2026),
        public_token=new_public_token(),
        channel=channel,
        subject="Lampadaire",
        description=text,
        category=category,
        service="eclairage",
        status=status,
        author=author,
        address_label="72 Rue des Pyrénées 75020 Paris",
        address_voie="Rue des Pyrénées",
        lat=48.8538,
        lon=2.4059,
        location_source="text",
    )
    s.add(report)
    s.flush()
    key = uuid.uuid4().hex
    raw = RawMessage(channel=channel, source="test", external_key=key, payload=b"", payload_sha256=key + key)
    s.add(raw)
    s.flush()
    s.add(
        ReportMessage(
            report_id=report.id,
            raw_message_id=raw.id,
            role="original",
            message_id=message_id,
            sender_name=name,
            sender_email=email,
            subject="Lampadaire",
            text=text,
            details=details or {},
        )
    )
    s.flush()
    return report


def notices(s: Session, status: str) -> list[tuple[int | None, str, str]]:
    """(report id, channel, recipient) of the queued notices of a status."""
    rows = s.execute(
        select(Outbox.report_id, Outbox.channel, Outbox.recipient)
        .where(Outbox.kind == f"status_{status}")
        .order_by(Outbox.id)
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def family(s: Session) -> tuple[Report, Report, Report]:
    """An email report and two duplicates of it, sent by SMS and WhatsApp."""
    main = add_report(s, email=JEANNE, name="Jeanne Martin", message_id="orig-1@example.org")
    by_sms = add_report(s, channel="sms", phone=PAUL)
    by_whatsapp = add_report(s, channel="whatsapp", phone=LEA)
    merge(s, by_sms, main, "agent")
    merge(s, by_whatsapp, main, "agent")
    return main, by_sms, by_whatsapp


@pytest.mark.parametrize("status", ["transmis", "en_cours", "resolu", "rejete"])
def test_each_notified_status_tells_every_reporter_once_on_their_channel(
    session: Session, cfg: Config, status: str
) -> None:
    main, by_sms, by_whatsapp = family(session)
    reason = "hors_competence" if status == "rejete" else None
    ids = change_status(session, cfg, main, status, actor="agent.martin", reason=reason, note="Merci")
    assert notices(session, status) == [
        (main.id, "email", JEANNE),
        (by_sms.id, "sms", PAUL),
        (by_whatsapp.id, "whatsapp", "whatsapp:" + LEA),
    ]
    rows = {r.channel: r for r in session.execute(select(Outbox).where(Outbox.kind == f"status_{status}")).scalars()}
    assert {r.id for r in rows.values()} <= set(ids)
    email = rows["email"]
    assert main.tracking_number in email.subject and email.in_reply_to == "orig-1@example.org"
    assert f"/suivi/{main.public_token}" in email.body and "Merci" in email.body
    assert "Éclairage" in email.body  # the category's label, not its code
    # each duplicate's reporter reads the number they were given, on one line
    assert by_sms.tracking_number in rows["sms"].body and "\n" not in rows["sms"].body
    assert by_whatsapp.tracking_number in rows["whatsapp"].body
    # the same status again sends nothing and records nothing
    events = session.execute(select(Event).where(Event.action == "status")).scalars().all()
    assert change_status(session, cfg, main, status, actor="agent.martin", reason=reason) == []
    assert len(session.execute(select(Event).where(Event.action == "status")).scalars().all()) == len(events)


def test_back_and_forth_sends_one_notice_per_status_and_recipient(session: Session, cfg: Config) -> None:
    main, _, _ = family(session)
    first = change_status(session, cfg, main, "resolu", actor="agent")
    change_status(session, cfg, main, "en_cours", actor="agent", note="Rouvert : la panne est revenue")
    again = change_status(session, cfg, main, "resolu", actor="agent")
    assert len(first) == 3 and again == []
    assert len(notices(session, "resolu")) == 3 and len(notices(session, "en_cours")) == 3
    history = (
        session.execute(
            select(Event.detail).where(Event.report_id == main.id, Event.action == "status").order_by(Event.id)
        )
        .scalars()
        .all()
    )
    assert [(d["from"], d["to"]) for d in history] == [
        ("nouveau", "resolu"),
        ("resolu", "en_cours"),
        ("en_cours", "resolu"),
    ]


def test_not_notified_statuses_and_notify_false_send_nothing(session: Session, cfg: Config) -> None:
    main, _, _ = family(session)
    assert change_status(session, cfg, main, "a_qualifier", actor="agent") == []
    assert change_status(session, cfg, main, "en_cours", actor="agent", notify=False) == []
    assert notices(session, "en_cours") == [] and main.status == "en_cours"
    with pytest.raises(ValueError, match="Statut inconnu"):
        change_status(session, cfg, main, "perdu", actor="agent")


def test_reject_needs_a_known_reason_and_quotes_its_label(session: Session, cfg: Config) -> None:
    main, by_sms, _ = family(session)
    with pytest.raises(ValueError, match="motif est obligatoire"):
        change_status(session, cfg, main, "rejete", actor="agent")
    with pytest.raises(ValueError, match="Motif de rejet inconnu"):
        change_status(session, cfg, main, "rejete", actor="agent", reason="pas_envie")
    assert main.status == "nouveau" and notices(session, "rejete") == []
    change_status(session, cfg, main, "rejete", actor="agent", reason="domaine_prive")
    assert main.status_reason == "domaine_prive" and by_sms.status_reason == "domaine_prive"
    label = "problème situé sur le domaine privé"
    rows = {r.channel: r for r in session.execute(select(Outbox).where(Outbox.kind == "status_rejete")).scalars()}
    email, sms = rows["email"], rows["sms"]
    assert f"Motif : {label}." in email.body and label in sms.body
    detail = (
        session.execute(
            select(Event.detail).where(Event.report_id == main.id, Event.action == "status").order_by(Event.id.desc())
        )
        .scalars()
        .first()
    )
    assert detail is not None and detail["reason"] == "domaine_prive"
    change_status(session, cfg, main, "en_cours", actor="agent")  # reopened: the reason no longer applies
    assert main.status_reason is None


def test_duplicates_follow_with_an_event_each_and_no_notice_of_their_own(session: Session, cfg: Config) -> None:
    main = add_report(session, email=JEANNE)
    twice = add_report(session, email=JEANNE)  # the same citizen wrote twice: one notice
    other = add_report(session, email="voisin@example.net")
    merge(session, twice, main, "agent")
    merge(session, other, main, "agent")
    change_status(session, cfg, main, "resolu", actor="agent.martin")
    assert (twice.status, other.status) == ("resolu", "resolu")
    assert notices(session, "resolu") == [(main.id, "email", JEANNE), (other.id, "email", "voisin@example.net")]
    followed = session.execute(
        select(Event.detail, Event.actor).where(Event.report_id == other.id, Event.action == "status")
    ).one()
    assert followed.detail["main"] == main.tracking_number and followed.actor == "agent.martin"
    # a change on the duplicate alone concerns its own reporters only
    change_status(session, cfg, other, "en_cours", actor="agent")
    assert notices(session, "en_cours") == [(other.id, "email", "voisin@example.net")] and main.status == "resolu"


def test_automated_senders_town_addresses_and_opted_out_numbers_are_never_told(session: Session, cfg: Config) -> None:
    main = add_report(session, email="ne-pas-repondre@plateforme.example")
    robot = add_report(
        session, email="alertes@capteurs.example", details={"auto_reply_reason": "Auto-Submitted: auto-generated"}
    )
    stopped = add_report(session, channel="sms", phone=PAUL, opt_out=True)
    agent = add_report(session, email=f"agent@{cfg.town.mail_domain}")
    for row in (robot, stopped, agent):
        merge(session, row, main, "agent")
    assert reporters(session, cfg, main) == []
    assert change_status(session, cfg, main, "resolu", actor="agent") == []
    assert notices(session, "resolu") == []


def test_transmis_tells_the_service_referents_too(session: Session, cfg: Config) -> None:
    main = add_report(session, email=JEANNE)
    ids = change_status(session, cfg, main, "transmis", actor="agent")
    rows = session.execute(select(Outbox).where(Outbox.id.in_(ids))).scalars().all()
    referents = {e for s in cfg.services if s.code == "eclairage" for e in s.emails}
    assert {r.recipient for r in rows} == {JEANNE} | referents
    assert all(r.recipient in referents for r in rows if not r.kind.startswith("status_"))


def test_email_notice_reaches_the_smtp_server_encoded_and_threaded(
    make_config: Callable[..., Config], smtp_server: tuple[str, int, Any]
) -> None:
    host, port, caught = smtp_server
    cfg = make_config(smtp={"backend": "smtp", "host": host, "port": port})
    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    with factory() as s, s.begin():
        report = add_report(s, email=JEANNE, name="Jeanne Martin", message_id="lampadaire-1@example.org")
        (row_id,) = change_status(s, cfg, report, "resolu", actor="agent", note="Ampoule changée le 3 juin.")
        number = report.tracking_number
    assert send_outbox_row(factory, cfg, row_id, SmtpMailer(cfg.smtp)) == "sent"
    (got,) = caught.messages
    message = got["message"]
    assert got["to"] == [JEANNE]
    assert message["Subject"] == f"Votre signalement n° {number} est résolu"
    raw_subject = next(v for k, v in message.raw_items() if k.lower() == "subject")
    assert raw_subject.isascii() and "=?utf-8?" in raw_subject.lower()  # RFC 2047 on the wire
    assert message["In-Reply-To"] == "<lampadaire-1@example.org>"
    assert message["Auto-Submitted"] == "auto-replied"
    body = message.get_content()
    assert "Ampoule changée le 3 juin." in body and "est résolu" in body
    with factory() as s:
        assert s.get(Outbox, row_id).status == "sent"  # type: ignore[union-attr]


def test_sms_notices_fit_in_two_segments_with_long_values(session: Session, cfg: Config) -> None:
    report = add_report(session, channel="sms", phone=PAUL, category="activites_commerciales")
    longest = max((r.code for r in cfg.statuses.reject_reasons), key=lambda c: len(cfg.statuses.reason_label(c)))
    for status in cfg.statuses.notify:
        values = message_values(cfg, report, report, note="", reason=longest if status == "rejete" else None)
        values["service"] = max((s.name for s in cfg.services), key=len)
        text = " ".join(template(cfg.templates.status[status].sms).render(values).split())
        assert report.tracking_number in text
        assert segments(best_form(text)) <= 2, (status, text)


def _config(**templates_status: Any) -> dict[str, Any]:
    data = base_config_data()
    data["templates"] = {**data["templates"], "status": {**data["templates"]["status"], **templates_status}}
    return data


def test_config_needs_a_message_for_each_notified_status() -> None:
    data = _config()
    del data["templates"]["status"]["en_cours"]
    with pytest.raises(ConfigError, match=r"templates\.status\.en_cours : message manquant"):
        parse_config(data)
    data["statuses"] = {**data["statuses"], "notify": ["transmis", "resolu", "rejete"]}
    assert "en_cours" not in parse_config(data).templates.status  # not announced: not needed


def test_config_refuses_an_sms_too_long_once_rendered() -> None:
    long = (
        "Mairie : votre signalement n° {{ tracking_number }} ({{ category }}) a été transmis au service "
        "{{ service }} de {{ town }}. Vous pouvez suivre son avancement à tout moment sur {{ status_url }} "
        "ou répondre à ce message pour le compléter (photo, adresse précise, horaires)."
    )
    fits = {"subject": "n° {{ tracking_number }}", "body": "{{ status_url }}", "sms": "n° {{ tracking_number }}"}
    assert parse_config(_config(transmis=fits)).templates.status["transmis"].sms == fits["sms"]
    with pytest.raises(ConfigError, match=r"templates\.status\.transmis\.sms : trop long.*needs 3 segments"):
        parse_config(_config(transmis={**fits, "sms": long}))
    with pytest.raises(ConfigError, match=r"templates\.status\.resolu\.body, ligne 1 du modèle : syntaxe invalide"):
        parse_config(_config(resolu={**fits, "body": "{% if note %}sans fin"}))


def test_app_or_phone_call_reporters_without_email_get_an_sms_when_texts_are_set_up(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", "jeton")
    texting = make_config(
        twilio={
            "enabled": True,
            "account_sid": "AC" + "0" * 32,
            "auth_token": {"env": "TEST_TWILIO_TOKEN"},
            "numbers": ["+33700000001"],
            "public_base_url": "https://guichet.mairie.fr",
        }
    )
    factory = make_sessionmaker(make_engine(texting.sqlalchemy_url))
    with factory() as s:
        app = add_report(s, channel="open311", phone=PAUL)
        call = add_report(s, channel="telephone", phone=LEA, email="lea@example.org")
        assert reporters(s, texting, app) == [("sms", PAUL)]
        assert reporters(s, texting, call) == [("email", "lea@example.org")]  # email first when there is one
        assert reporters(s, make_config(), app) == []  # no SMS sending configured: nobody to tell
