"""The one location question: asked on the citizen's channel, never to robots or twice; the answer places the report."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from intake.config import Config
from intake.message import Address, InboundMessage, RawInput
from intake.models import Event, Outbox, RawMessage, Report
from intake.outbox.notify import ConsoleMailer
from intake.outbox.send import send_outbox_row
from intake.pipeline.process import Outcome, process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.pipeline.registry import Context, Reading
from intake.pipeline.stages.ask_location import AskLocationStage
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email
from tests.support.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.db

TOWN = "+33999000000"
CITIZEN = "+33612345678"
TOKEN_ENV = "TEST_ASK_LOCATION_TWILIO_TOKEN"
NOWHERE = "Bonjour,\n\nUn lampadaire ne s'allume plus depuis lundi soir, il fait tout noir.\n\nMerci,\nJeanne"
ANSWER = "C'est devant le 72 rue des Pyrénées."
ANSWER_LABEL = "72 Rue des Pyrénées 75020 Paris"


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(twilio={"numbers": [TOWN]}), mailer=ConsoleMailer())


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as server:
        yield server


@pytest.fixture
def sms_res(make_config: Callable[..., Config], standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch) -> Resources:
    """SMS sent for real through the Twilio stand-in."""
    monkeypatch.setenv(TOKEN_ENV, standin.auth_token)
    cfg = make_config(
        twilio={
            "enabled": True,
            "poll": True,
            "account_sid": standin.account_sid,
            "auth_token": {"env": TOKEN_ENV},
            "numbers": [TOWN],
            "api_base_url": standin.base_url,
        }
    )
    return build_resources(cfg, mailer=ConsoleMailer())


def ingest_email(res: Resources, raw: bytes, *, source: str = "mairie") -> Outcome:
    raw_id, _ = store_raw(res.factory, channel="email", source=source, external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, raw_id)
    assert outcome.status in {"processed", "discarded"}, outcome.error
    return outcome


def sms(body: str, *, sender: str = CITIZEN, whatsapp: bool = False, **extra: str) -> bytes:
    prefix = "whatsapp:" if whatsapp else ""
    return urlencode(
        {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "From": prefix + sender,
            "To": prefix + TOWN,
            "Body": body,
            "NumMedia": "0",
            **extra,
        }
    ).encode()


def ingest_sms(res: Resources, payload: bytes, *, channel: str = "sms") -> Outcome:
    raw_id, _ = store_raw(res.factory, channel=channel, source=TOWN, external_key=uuid.uuid4().hex, payload=payload)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    return outcome


def questions(res: Resources) -> list[Outbox]:
    with res.factory() as s:
        return list(s.execute(select(Outbox).where(Outbox.kind == "ask_location").order_by(Outbox.id)).scalars())


def report_of(res: Resources, report_id: int | None) -> Report:
    with res.factory() as s:
        report = s.get(Report, report_id)
        assert report is not None
        s.expunge(report)
        return report


def events(res: Resources, report_id: int | None, action: str) -> list[Event]:
    with res.factory() as s:
        return list(
            s.execute(
                select(Event).where(Event.report_id == report_id, Event.action == action).order_by(Event.id)
            ).scalars()
        )


def age(res: Resources, *, hours: float) -> None:
    """Move everything already stored `hours` into the past (messages, questions, reports)."""
    delta = timedelta(hours=hours)
    with res.factory() as s, s.begin():
        for raw in s.execute(select(RawMessage)).scalars():
            raw.received_at = raw.received_at - delta
        for row in s.execute(select(Outbox)).scalars():
            row.created_at = row.created_at - delta
        for report in s.execute(select(Report)).scalars():
            if report.location_requested_at is not None:
                report.location_requested_at = report.location_requested_at - delta


# --- email -----------------------------------------------------------------------------------------------


def test_email_question_delivered_once_then_reply_places_the_report(
    make_config: Callable[..., Config],
    smtp_server: tuple[str, int, Any],
) -> None:
    host, port, caught = smtp_server
    res = build_resources(
        make_config(
            smtp={"backend": "smtp", "host": host, "port": port, "from_address": "signalements@mairie.localhost"}
        )
    )
    first = ingest_email(
        res, citizen_email(subject="Lampadaire en panne", body=NOWHERE, message_id="first-1@example.org")
    )
    assert first.created and len(first.outbox_ids) == 2  # confirmation, then the question
    for outbox_id in first.outbox_ids:
        assert send_outbox_row(res.factory, res.config, outbox_id, res.mailer) == "sent"
    report = report_of(res, first.report_id)
    assert report.location_requested_at is not None and report.lat is None
    assert "aucune localisation" in report.review_reasons
    [question] = [m["message"] for m in caught.messages if "où se trouve" in str(m["message"]["Subject"])]
    assert len(caught.messages) == 2
    assert question["To"] == "jeanne.martin@example.org" and question["In-Reply-To"] == "<first-1@example.org>"
    assert question["Auto-Submitted"] == "auto-replied"
    body = question.get_content()
    assert f"http://localhost:8000/suivi/{report.public_token}/position" in body
    assert report.tracking_number in body and report.tracking_number in str(question["Subject"])
    [asked] = events(res, report.id, "location_requested")
    assert asked.detail["channel"] == "email"

    reply = citizen_email(
        subject=f"Re: {question['Subject']}", body=f"{ANSWER}\n\nJeanne", in_reply_to=question["Message-ID"].strip("<>")
    )
    second = ingest_email(res, reply)
    assert second.report_id == report.id and not second.created and second.outbox_ids == []
    placed = report_of(res, report.id)
    assert placed.location_source == "text" and placed.address_label == ANSWER_LABEL
    assert placed.lat == pytest.approx(48.8538, abs=1e-3) and placed.lon == pytest.approx(2.4059, abs=1e-3)
    assert not any(r.startswith(("aucune localisation", "adresse non trouvée")) for r in placed.review_reasons)
    assert placed.status == ("a_qualifier" if placed.review_reasons else "nouveau")  # triage's own rule
    [located] = events(res, report.id, "located")
    assert located.actor == "citoyen" and located.detail["raw_message_id"] == second.raw_id
    assert located.detail["source"] == "text"
    assert len(questions(res)) == 1 and len(caught.messages) == 2


def test_placed_report_is_not_asked(res: Resources) -> None:
    outcome = ingest_email(res, citizen_email(body=f"Le lampadaire est en panne. {ANSWER}"))
    assert report_of(res, outcome.report_id).location_source == "text"
    assert questions(res) == [] and events(res, outcome.report_id, "location_request_skipped") == []


@pytest.mark.parametrize(
    "sender,headers,why",
    [
        ("Plateforme <no-reply@signalements.example>", {}, "n'accepte pas de réponse"),
        ("Service <ne-pas-repondre@partenaire.example>", {}, "n'accepte pas de réponse"),
        ("Agent <agent@mairie.localhost>", {}, "mairie"),
    ],
)
def test_no_question_to_senders_that_cannot_answer(
    res: Resources, sender: str, headers: dict[str, str], why: str
) -> None:
    outcome = ingest_email(res, citizen_email(sender=sender, body=NOWHERE, headers=headers))
    assert outcome.created and report_of(res, outcome.report_id).lat is None
    assert questions(res) == []
    [skipped] = events(res, outcome.report_id, "location_request_skipped")
    assert why in skipped.detail["reason"]
    assert report_of(res, outcome.report_id).location_requested_at is None


def test_automated_mail_is_never_asked(res: Resources) -> None:
    outcome = ingest_email(res, citizen_email(body=NOWHERE, headers={"Auto-Submitted": "auto-generated"}))
    assert outcome.status == "discarded" and questions(res) == []
    first = ingest_email(res, citizen_email(body=NOWHERE))
    [question] = questions(res)
    robot = ingest_email(
        res,
        citizen_email(
            body="Je suis absente jusqu'au 3 décembre.",
            in_reply_to=question.message_id,
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    assert robot.report_id == first.report_id and len(questions(res)) == 1
    assert events(res, first.report_id, "located") == []


def test_reception_forward_without_citizen_is_not_asked(make_config: Callable[..., Config]) -> None:
    mailbox = {
        "name": "accueil",
        "role": "reception",
        "host": "127.0.0.1",
        "username": "u",
        "password": {"env": "X_PW"},
    }
    res = build_resources(make_config(mailboxes=[mailbox]), mailer=ConsoleMailer())
    note = ingest_email(
        res,
        citizen_email(
            sender="sophie@mairie.localhost",
            subject="Appel de M. Roux",
            body="M. Roux a appelé : un lampadaire est éteint.",
        ),
        source="accueil",
    )
    body = (
        "À traiter.\n\n---------- Message transféré ---------\nDe : Un riverain\nDate : lun. 23 nov. 2026\n"
        "Objet : Lampadaire\n\nUn lampadaire ne s'allume plus depuis lundi.\n"
    )
    forward = ingest_email(res, citizen_email(sender="sophie@mairie.localhost", subject="Fwd: Lampadaire", body=body))
    assert note.created and forward.created
    assert report_of(res, forward.report_id).citizen_recovered is False
    assert questions(res) == []
    assert len(events(res, note.report_id, "location_request_skipped")) == 1
    assert len(events(res, forward.report_id, "location_request_skipped")) == 1


def test_disabled_means_never_asked(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(ask_location={"enabled": False}), mailer=ConsoleMailer())
    outcome = ingest_email(res, citizen_email(body=NOWHERE))
    assert outcome.created and questions(res) == [] and len(outcome.outbox_ids) == 1


def filing_context(raw: RawMessage, session: Any, res: Resources, parsed: InboundMessage) -> Context:
    """The filing context of a stored raw message read as `parsed` (what the pipeline builds)."""
    snapshot = RawInput(
        id=raw.id,
        channel=raw.channel,
        source=raw.source,
        external_key=raw.external_key,
        payload=b"",
        received_at=raw.received_at,
    )
    return Context.for_filing(
        raw=raw, session=session, config=res.config, resources=res, reading=Reading(raw=snapshot, inbound=parsed)
    )


def test_never_twice_not_on_follow_ups_replays_or_duplicates(res: Resources) -> None:
    first = ingest_email(res, citizen_email(body=NOWHERE))
    [question] = questions(res)
    ingest_email(res, citizen_email(body="Toujours en panne ce soir.", in_reply_to=question.message_id))
    with res.factory() as s, s.begin():  # processed again as new (reprocessing, a retried job): asked already
        report = s.get(Report, first.report_id)
        raw = s.get(RawMessage, first.raw_id)
        assert report is not None and raw is not None
        parsed = InboundMessage(channel="email", text="", sender=Address(None, "jeanne.martin@example.org"))
        ctx = filing_context(raw, s, res, parsed)
        ctx.report, ctx.created = report, True
        AskLocationStage().file(ctx)
        assert ctx.outbox_ids == []
        report.location_requested_at = None  # even with the mark lost, the outbox row stays unique
        AskLocationStage().file(ctx)
        assert ctx.outbox_ids == []
    assert len(questions(res)) == 1
    other = ingest_email(res, citizen_email(sender="paul@example.net", body=NOWHERE))
    with res.factory() as s, s.begin():
        dup = s.get(Report, other.report_id)
        raw = s.get(RawMessage, other.raw_id)
        assert dup is not None and raw is not None
        s.execute(Outbox.__table__.delete().where(Outbox.report_id == dup.id, Outbox.kind == "ask_location"))
        dup.location_requested_at, dup.duplicate_of_id = None, first.report_id
        parsed = InboundMessage(channel="email", text="", sender=Address(None, "paul@example.net"))
        ctx = filing_context(raw, s, res, parsed)
        ctx.report, ctx.created = dup, True
        AskLocationStage().file(ctx)
        assert ctx.outbox_ids == [] and dup.location_requested_at is None  # a duplicate is never asked
    assert [q.report_id for q in questions(res)] == [first.report_id]


# --- SMS, WhatsApp, voicemail ----------------------------------------------------------------------------


def test_sms_question_sent_and_answer_two_hours_later_places_the_report(
    sms_res: Resources,
    standin: TwilioStandIn,
) -> None:
    res = sms_res
    first = ingest_sms(res, sms("Bonjour, un frigo est abandonné sur le trottoir depuis trois jours."))
    assert first.created and len(first.outbox_ids) == 2
    for outbox_id in first.outbox_ids:
        assert send_outbox_row(res.factory, res.config, outbox_id, res.mailer) == "sent"
    report = report_of(res, first.report_id)
    bodies = [sent.params["Body"] for sent in standin.sent]
    assert [sent.params["To"] for sent in standin.sent] == [CITIZEN, CITIZEN]
    assert any(f"/suivi/{report.public_token}/position" in b and report.tracking_number in b for b in bodies)
    age(res, hours=2)  # outside twilio.thread_window_minutes (30), inside ask_location.answer_window_hours (72)
    answer = ingest_sms(res, sms(ANSWER))
    assert answer.report_id == report.id and not answer.created and answer.outbox_ids == []
    placed = report_of(res, report.id)
    assert placed.location_source == "text" and placed.address_label == ANSWER_LABEL
    assert not any(r.startswith("aucune localisation") for r in placed.review_reasons)
    [located] = events(res, report.id, "located")
    assert located.actor == "citoyen" and located.detail["raw_message_id"] == answer.raw_id
    age(res, hours=2)
    later = ingest_sms(res, sms("Autre chose : un tag sur un mur."))
    assert later.created  # once answered, the window no longer pulls messages onto the report
    assert len(questions(res)) == 2 and len(standin.sent) == 2  # the new report's question is not sent yet


def test_sms_after_the_answer_window_opens_a_new_report(res: Resources) -> None:
    first = ingest_sms(res, sms("Un frigo est abandonné sur le trottoir."))
    assert len(questions(res)) == 1
    age(res, hours=res.config.ask_location.answer_window_hours + 1)
    late = ingest_sms(res, sms(ANSWER))
    assert late.created and late.report_id != first.report_id
    assert report_of(res, first.report_id).lat is None


def test_whatsapp_location_share_answers_the_question(res: Resources) -> None:
    first = ingest_sms(res, sms("Une voiture ventouse depuis des semaines.", whatsapp=True))
    [question] = questions(res)
    assert question.channel == "whatsapp" and question.recipient == "whatsapp:" + CITIZEN
    age(res, hours=5)
    share = ingest_sms(res, sms("", whatsapp=True, Latitude="48.8606", Longitude="2.3376", Address="Rue de Rivoli"))
    assert share.report_id == first.report_id and not share.created
    placed = report_of(res, first.report_id)
    assert (placed.lat, placed.lon, placed.location_source) == (48.8606, 2.3376, "pin")
    assert not any(r.startswith("aucune localisation") for r in placed.review_reasons)
    [located] = events(res, first.report_id, "located")
    assert located.actor == "citoyen" and located.detail["source"] == "pin"


def test_opted_out_number_is_not_asked(res: Resources) -> None:
    ingest_sms(res, sms("STOP"))
    outcome = ingest_sms(res, sms("Un frigo est abandonné sur le trottoir."))
    assert outcome.created and outcome.outbox_ids == [] and questions(res) == []


def test_voicemail_caller_asked_by_sms_only_on_an_allowed_mobile(res: Resources) -> None:
    def voice(number: str) -> bytes:
        sid = "RE" + uuid.uuid4().hex
        return urlencode(
            {
                "RecordingSid": sid,
                "RecordingUrl": "",
                "RecordingDuration": "30",
                "CallSid": "CA1",
                "From": number,
                "To": TOWN,
            }
        ).encode()

    mobile = ingest_sms(res, voice(CITIZEN), channel="voice")
    landline = ingest_sms(res, voice("+33145454545"), channel="voice")
    [question] = questions(res)
    assert question.report_id == mobile.report_id and question.channel == "sms" and question.recipient == CITIZEN
    assert mobile.outbox_ids == [question.id]  # a voicemail gets no SMS confirmation, only the question
    [skipped] = events(res, landline.report_id, "location_request_skipped")
    assert "SMS" in skipped.detail["reason"]


def test_question_count_is_one_per_report(res: Resources) -> None:
    for text in ("Un frigo est abandonné.", "Un tag sur un mur."):
        age(res, hours=100)
        ingest_sms(res, sms(text, sender="+33698765432"))
    with res.factory() as s:
        per_report = s.execute(
            select(Outbox.report_id, func.count()).where(Outbox.kind == "ask_location").group_by(Outbox.report_id)
        ).all()
    assert len(per_report) == 2 and all(n == 1 for _, n in per_report)
