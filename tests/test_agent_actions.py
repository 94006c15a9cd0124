"""What an agent does on a report: place it, assign it, answer the citizen."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from intake.backoffice.accounts import create_user
from intake.config import Config
from intake.models import Correction, Event, Outbox, Report, User
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.reports.assignment import assign, assignable
from intake.reports.placement import place_by_agent
from intake.reports.replies import reply_to_citizen
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email

TOWN = "+33757000000"
PASSWORD = "un mot de passe assez long"


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(twilio={"numbers": [TOWN]}), mailer=ConsoleMailer())


def email_report(res: Resources, body: str = "Un banc est cassé dans le square, quelqu'un va se blesser.") -> int:
    raw = citizen_email(subject="Banc cassé", body=body, message_id=f"{uuid.uuid4().hex}@example.org")
    rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, rid)
    assert outcome.status == "processed" and outcome.report_id is not None
    return outcome.report_id


def sms_report(res: Resources, body: str) -> int:
    payload = urlencode(
        {"MessageSid": "SM" + uuid.uuid4().hex, "From": "+33612345678", "To": TOWN, "Body": body, "NumMedia": "0"}
    ).encode()
    rid, _ = store_raw(res.factory, channel="sms", source=TOWN, external_key=uuid.uuid4().hex, payload=payload)
    outcome = process_raw(res, rid)
    assert outcome.status == "processed" and outcome.report_id is not None
    return outcome.report_id


def test_agent_point_places_the_report_and_is_kept_as_a_correction(res: Resources) -> None:
    report_id = email_report(res)
    with res.factory() as s, s.begin():
        report = s.get(Report, report_id)
        assert report is not None and report.lat is None and report.status == "a_qualifier"
        label = place_by_agent(
            s, res.config, res.understanding(), report, lat=48.853989, lon=2.371195, actor="m.dupont"
        )
        assert "Rue de la Roquette" in label and label.startswith("près du")
    with res.factory() as s:
        report = s.get(Report, report_id)
        assert report is not None
        assert report.location_source == "agent" and report.lat == pytest.approx(48.853989)
        assert not any("locali" in r.lower() for r in report.review_reasons)
        correction = s.execute(select(Correction).where(Correction.report_id == report_id)).scalar_one()
        located = s.execute(select(Event).where(Event.report_id == report_id, Event.actor == "m.dupont")).scalar_one()
    assert correction.field == "address" and correction.old_value is None and "48.853989" in str(correction.new_value)
    assert located.action == "located" and located.detail["source"] == "agent"


def test_agent_typed_address_is_geocoded_and_bad_input_explained(res: Resources) -> None:
    report_id = email_report(res)
    with res.factory() as s, s.begin():
        report = s.get(Report, report_id)
        assert report is not None
        place_by_agent(s, res.config, res.understanding(), report, address="24 rue de la roquette", actor="agent")
        assert report.address_voie == "Rue de la Roquette" and report.lat == pytest.approx(48.853989, abs=1e-4)
        with pytest.raises(ValueError, match="en dehors de la commune"):
            place_by_agent(s, res.config, res.understanding(), report, lat=45.76, lon=4.83, actor="agent")
        with pytest.raises(ValueError, match="adresse introuvable"):
            place_by_agent(
                s, res.config, res.understanding(), report, address="rue qui n'existe pas du tout", actor="agent"
            )
        with pytest.raises(ValueError, match="placez le point"):
            place_by_agent(s, res.config, res.understanding(), report, actor="agent")


def test_assignment_respects_the_service(res: Resources) -> None:
    report_id = email_report(res, "Le lampadaire devant le 24 rue de la Roquette est éteint depuis lundi.")
    with res.factory() as s, s.begin():
        report = s.get(Report, report_id)
        assert report is not None and report.service == "eclairage"
        own = create_user(s, res.config, username="lumiere", password=PASSWORD, role="agent", service="eclairage")
        other = create_user(s, res.config, username="routes", password=PASSWORD, role="agent", service="voirie")
        desk = create_user(s, res.config, username="guichet", password=PASSWORD, role="accueil")
        boss = create_user(s, res.config, username="chef", password=PASSWORD, role="admin")
        assert {u.username for u in assignable(s, report)} == {"lumiere", "chef"}
        assign(s, report, own.id, actor="chef")
        with pytest.raises(ValueError, match="n'appartient pas"):
            assign(s, report, other.id, actor="chef")
        with pytest.raises(ValueError, match="agent ou à un administrateur"):
            assign(s, report, desk.id, actor="chef")
        with pytest.raises(ValueError, match="inconnu"):
            assign(s, report, 99999, actor="chef")
        assign(s, report, boss.id, actor="chef")
        assign(s, report, None, actor="chef")
        assert report.assignee_id is None
    with res.factory() as s:
        events = (
            s.execute(select(Event).where(Event.report_id == report_id, Event.action == "assigned").order_by(Event.id))
            .scalars()
            .all()
        )
        assert [(e.detail["from"], e.detail["to"]) for e in events] == [
            (None, "lumiere"),
            ("lumiere", "chef"),
            ("chef", None),
        ]
        assert s.execute(select(User).where(User.username == "lumiere")).scalar_one().role == "agent"


def test_reply_by_email_threads_on_the_citizen_message_and_each_reply_is_sent(res: Resources) -> None:
    report_id = email_report(res)
    with res.factory() as s, s.begin():
        report = s.get(Report, report_id)
        assert report is not None
        first = reply_to_citizen(s, res.config, report, "Pouvez-vous préciser le square ?", actor="agent")
        second = reply_to_citizen(s, res.config, report, "Merci, l'équipe passe demain.", actor="agent")
        with pytest.raises(ValueError, match="vide"):
            reply_to_citizen(s, res.config, report, "   ", actor="agent")
    with res.factory() as s:
        rows = s.execute(select(Outbox).where(Outbox.id.in_(first + second)).order_by(Outbox.id)).scalars().all()
        original = s.get(Report, report_id).messages[0].message_id  # type: ignore[union-attr]
    assert [r.kind for r in rows] == ["reply:1", "reply:2"]
    assert all(r.channel == "email" and r.recipient == "jeanne.martin@example.org" for r in rows)
    assert rows[0].in_reply_to == original and "Pouvez-vous préciser le square ?" in rows[0].body
    assert report.tracking_number in rows[0].subject


def test_reply_by_sms_stays_within_the_segment_limit(res: Resources) -> None:
    report_id = sms_report(res, "lampadaire eteint devant le 24 rue de la roquette")
    with res.factory() as s, s.begin():
        report = s.get(Report, report_id)
        assert report is not None
        ids = reply_to_citizen(s, res.config, report, "Réparé ce matin, merci !", actor="agent")
        with pytest.raises(ValueError, match="trop long pour un SMS"):
            reply_to_citizen(s, res.config, report, "mot " * 200, actor="agent")
    with res.factory() as s:
        row = s.get(Outbox, ids[0])
    assert row is not None and row.channel == "sms" and row.recipient == "+33612345678"
    assert row.body.startswith(f"Mairie, signalement n° {report.tracking_number} : Réparé ce matin")


def test_reply_without_any_contact_is_refused(res: Resources) -> None:
    report_id = email_report(res)
    with res.factory() as s, s.begin():
        report = s.get(Report, report_id)
        assert report is not None
        report.author = None
        for message in report.messages:
            message.sender_email = None
        with pytest.raises(ValueError, match="ni adresse électronique ni mobile"):
            reply_to_citizen(s, res.config, report, "Bonjour", actor="agent")
