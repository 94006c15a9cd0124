"""End to end: an email, an SMS and an app submission about the same dumped mattress make one job.

Real components: SQLite/PostgreSQL, the whole pipeline with the shipped model and the demo commune's addresses,
an aiosmtpd server catching the emails, the Flask Open311 API, and the real `twilio` library sending texts to
a local HTTP stand-in that speaks Twilio's documented wire format (api.twilio.com cannot be reached from here).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from email.header import decode_header, make_header
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.models import Outbox, RawMessage, Report, ReportMessage
from intake.outbox.notify import make_mailer
from intake.outbox.send import send_outbox_row
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.reports.statuses import change_status, reporters
from intake.runtime.resources import Resources, build_resources
from tests.conftest import CaughtMail
from tests.support.mail import citizen_email
from tests.support.twilio_standin import TwilioStandIn
from tests.support.web import signed_in
from web import create_app

TOWN = "+33757000000"
MOBILE = "+33612345678"
KEY = "cle-appli-0123456789"
EMAIL_CITIZEN = "jeanne.martin@example.org"
APP_CITIZEN = "karim.benali@example.net"


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as server:
        yield server


@pytest.fixture
def res(
    make_config: Callable[..., Config],
    smtp_server: tuple[str, int, CaughtMail],
    standin: TwilioStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> Resources:
    host, port, _ = smtp_server
    monkeypatch.setenv("E2E_TWILIO_TOKEN", standin.auth_token)
    monkeypatch.setenv("E2E_OPEN311_KEY", KEY)
    cfg = make_config(
        smtp={"backend": "smtp", "host": host, "port": port},
        twilio={
            "enabled": True,
            "account_sid": standin.account_sid,
            "auth_token": {"env": "E2E_TWILIO_TOKEN"},
            "numbers": [TOWN],
            "public_base_url": "https://guichet.mairie.test",
            "api_base_url": standin.base_url,
            "outbound": {"per_second": 100},
        },
        open311={"api_keys": [{"name": "appli-ville", "key": {"env": "E2E_OPEN311_KEY"}}]},
        routing={"auto_transmit": True},  # as shipped: the referents hear of it too
    )
    return build_resources(cfg, mailer=make_mailer(cfg))


def processed(res: Resources, raw_id: int) -> Report:
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        s.expunge(report)
        return report


def send_pending(res: Resources) -> list[str]:
    with res.factory() as s:
        ids = s.execute(select(Outbox.id).where(Outbox.status == "pending").order_by(Outbox.id)).scalars().all()
    return [send_outbox_row(res.factory, res.config, i, res.mailer) for i in ids]


def mails_to(caught: CaughtMail, recipient: str) -> list[str]:
    return [str(make_header(decode_header(m["message"]["Subject"]))) for m in caught.messages if recipient in m["to"]]


def texts_to(standin: TwilioStandIn, number: str) -> list[str]:
    return [s.params["Body"] for s in standin.sent if s.params.get("To") == number]


def test_email_sms_and_app_about_one_mattress_make_one_job(
    res: Resources, smtp_server: tuple[str, int, CaughtMail], standin: TwilioStandIn
) -> None:
    caught = smtp_server[2]
    # 1. An email from a resident.
    mail = citizen_email(
        sender=f"Jeanne Martin <{EMAIL_CITIZEN}>",
        subject="Matelas abandonné sur le trottoir",
        body="Bonjour,\n\nUn matelas et un vieux sommier ont été abandonnés sur le trottoir devant "
        "le 24 rue de la Roquette depuis hier soir.\n\nCordialement,\nJeanne Martin",
    )
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(mail), payload=mail)
    first = processed(res, raw_id)
    # 2. A text from someone else, an hour later in real life.
    sms = urlencode(
        {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "From": MOBILE,
            "To": TOWN,
            "NumMedia": "0",
            "Body": "bjr un matelas abandonné sur le trottoir devant le 24 rue de la roquette, encombrant depuis hier",
        }
    ).encode()
    raw_id, _ = store_raw(res.factory, channel="sms", source=TOWN, external_key="sms-1", payload=sms)
    second = processed(res, raw_id)
    # 3. The town's app, posting through the Open311 API with the citizen's pin a few metres away.
    client = create_app(res.config, resources=res).test_client()
    answer = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": KEY,
            "service_code": "objets_abandonnes",
            "lat": "48.854030",
            "long": "2.371240",
            "description": "Matelas déposé sur le trottoir",
            "email": APP_CITIZEN,
            "first_name": "Karim",
        },
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    with res.factory() as s:
        raw_id = s.execute(select(RawMessage.id).where(RawMessage.channel == "open311")).scalar_one()
    third = processed(res, raw_id)

    # One job for the technicians: the first report, the two others linked to it as duplicates.
    assert first.category == second.category == third.category == "objets_abandonnes"
    assert first.duplicate_of_id is None
    assert second.duplicate_of_id == first.id and third.duplicate_of_id == first.id
    with res.factory() as s:
        main_reports = s.execute(select(Report).where(Report.duplicate_of_id.is_(None))).scalars().all()
        assert [r.id for r in main_reports] == [first.id]
        channels = (
            s.execute(
                select(Report.channel)
                .join(ReportMessage, ReportMessage.report_id == Report.id)
                .where((Report.id == first.id) | (Report.duplicate_of_id == first.id))
            )
            .scalars()
            .all()
        )
        assert sorted(channels) == ["email", "open311", "sms"]  # three messages, one per door
        main = s.get(Report, first.id)
        assert main is not None
        assert sorted(reporters(s, res.config, main)) == sorted(
            [("email", EMAIL_CITIZEN), ("sms", MOBILE), ("email", APP_CITIZEN)]
        )
    page = signed_in(client.application, "admin").get(f"/signalements/{first.tracking_number}").get_data(as_text=True)
    assert second.tracking_number in page and third.tracking_number in page

    # One acknowledgement each, on their own channel, with their own tracking number.
    assert "failed" not in send_pending(res)
    assert [s for s in mails_to(caught, EMAIL_CITIZEN) if "bien été reçu" in s] == [
        f"Votre signalement n° {first.tracking_number} a bien été reçu"
    ]
    assert [s for s in mails_to(caught, APP_CITIZEN) if "bien été reçu" in s] == [
        f"Votre signalement n° {third.tracking_number} a bien été reçu"
    ]
    texts = texts_to(standin, MOBILE)
    assert len(texts) == 1 and second.tracking_number in texts[0]

    # Resolved once: one notice each; setting it again (or back and forth) tells nobody twice.
    with res.factory() as s, s.begin():
        main = s.get(Report, first.id)
        assert main is not None
        change_status(s, res.config, main, "resolu", actor="agent.voirie", note="Enlevé par les encombrants.")
    with res.factory() as s, s.begin():
        main = s.get(Report, first.id)
        assert main is not None
        change_status(s, res.config, main, "en_cours", actor="agent.voirie", notify=False)
        change_status(s, res.config, main, "resolu", actor="agent.voirie")
    assert "failed" not in send_pending(res)
    for citizen, own in ((EMAIL_CITIZEN, first), (APP_CITIZEN, third)):
        resolved = [s for s in mails_to(caught, citizen) if "résolu" in s]
        assert resolved == [f"Votre signalement n° {own.tracking_number} est résolu"]  # the number they were given
    texts = texts_to(standin, MOBILE)
    assert len(texts) == 2 and "résolu" in texts[1] and second.tracking_number in texts[1]
    with res.factory() as s:
        statuses = s.execute(select(Report.status).where(Report.id.in_([first.id, second.id, third.id]))).scalars()
        assert set(statuses) == {"resolu"}  # the duplicates follow their main report
