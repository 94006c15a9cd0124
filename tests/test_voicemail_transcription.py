"""Voicemail read: the recording first, then its French transcript (Twilio Conversational Intelligence through the
real `twilio` library against the local stand-in) re-runs understanding on the report; signed callbacks only."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from intake.channels.transcript_poll import ABANDONED, poll_transcripts
from intake.config import Config, ConfigError
from intake.models import Event, RawMessage, Report, ReportMessage, utcnow
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import Outcome, process_raw
from intake.runtime.resources import Resources, build_resources
from tests.support.twilio_standin import TwilioStandIn
from tests.support.web import signed_in
from web import create_app

BASE = "https://guichet.example.fr"
TOWN = "+33999000000"
CALLER = "+33612345678"
TOKEN_ENV = "TEST_TWILIO_TOKEN"
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
SAID = [
    ("Bonjour, depuis lundi le lampadaire en face du 72 rue des Pyrénées ne s'allume plus.", 0.93),
    ("On ne voit rien le soir, merci.", 0.88),
]


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as server:
        yield server


@pytest.fixture
def build(
    standin: TwilioStandIn, make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[Resources, Flask]]:
    monkeypatch.setenv(TOKEN_ENV, standin.auth_token)

    def make(**transcription: Any) -> tuple[Resources, Flask]:
        settings = {"engine": "twilio", "intelligence_service_sid": standin.intelligence_service, **transcription}
        cfg = make_config(
            twilio={
                "enabled": True,
                "account_sid": standin.account_sid,
                "auth_token": {"env": TOKEN_ENV},
                "public_base_url": BASE,
                "api_base_url": standin.base_url,
                "numbers": [TOWN],
                "voice_enabled": True,
            },
            transcription=settings,
        )
        res = build_resources(cfg, mailer=ConsoleMailer())
        return res, create_app(cfg, resources=res)

    return make


def signed_post(
    app: Flask,
    path: str,
    body: str,
    *,
    params: dict[str, str] | None,
    token: str,
    content_type: str = "application/x-www-form-urlencoded",
) -> Any:
    """POST like Twilio: X-Twilio-Signature over the public URL and the form parameters (none for JSON)."""
    signature = RequestValidator(token).compute_signature(BASE + path, params or {})
    return app.test_client().post(path, data=body, content_type=content_type, headers={"X-Twilio-Signature": signature})


def leave_voicemail(app: Flask, standin: TwilioStandIn) -> str:
    """A caller leaves a voicemail: Twilio posts the recording callback (signed); returns the RecordingSid."""
    rec = standin.add_recording(b"RIFF", mp3=MP3, duration=9)
    form = {
        "AccountSid": standin.account_sid,
        "CallSid": "CA" + secrets.token_hex(16),
        "RecordingSid": rec,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{standin.account_sid}/Recordings/{rec}",
        "RecordingStatus": "completed",
        "RecordingDuration": "9",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    path = "/twilio/voice/recording?" + urlencode({"From": CALLER, "To": TOWN})
    assert signed_post(app, path, urlencode(form), params=form, token=standin.auth_token).status_code == 204
    return rec


def transcript_ready(app: Flask, standin: TwilioStandIn, transcript_sid: str, *, token: str | None = None) -> Any:
    """Conversational Intelligence's webhook: a JSON notice naming the finished transcript."""
    body = json.dumps(
        {
            "account_sid": standin.account_sid,
            "service_sid": standin.intelligence_service,
            "transcript_sid": transcript_sid,
            "event_type": "voice_intelligence_transcript_available",
        }
    )
    return signed_post(
        app,
        "/twilio/voice/transcript",
        body,
        params=None,
        token=token or standin.auth_token,
        content_type="application/json",
    )


def process_key(res: Resources, key: str) -> Outcome:
    with res.factory() as s:
        raw_id = s.execute(select(RawMessage.id).where(RawMessage.external_key == key)).scalar_one()
    return process_raw(res, raw_id)


def the_report(res: Resources, report_id: int | None) -> Report:
    with res.factory() as s:
        report = s.get(Report, report_id)
        assert report is not None
        s.expunge(report)
        return report


def details(res: Resources, rec: str) -> dict[str, Any]:
    with res.factory() as s:
        return dict(
            s.execute(select(ReportMessage.details).join(RawMessage).where(RawMessage.external_key == rec)).scalar_one()
        )


def count(res: Resources, model: Any, *where: Any) -> int:
    with res.factory() as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def recorded(res: Resources, build_standin: TwilioStandIn, app: Flask) -> tuple[str, str, Outcome]:
    """A voicemail filed: (RecordingSid, the transcript asked for, the outcome)."""
    rec = leave_voicemail(app, build_standin)
    outcome = process_key(res, rec)
    [run] = [r for r in build_standin.transcripts.values() if r.source_sid == rec]
    return rec, run.sid, outcome


def test_french_transcript_is_understood_on_the_recordings_report(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build()
    rec, gt, first = recorded(res, standin, app)
    assert first.status == "processed" and first.created
    report = the_report(res, first.report_id)
    assert report.status == "a_qualifier" and "transcription en attente" in report.review_reasons
    assert report.lat is None and details(res, rec)["transcript_pending"] == gt
    run = standin.transcripts[gt]
    assert (run.service_sid, run.customer_key, run.channel["media_properties"]["source_sid"]) == (
        standin.intelligence_service,
        rec,
        rec,
    )

    standin.finish_transcript(gt, SAID)
    assert transcript_ready(app, standin, gt).status_code == 204
    outcome = process_key(res, gt)
    assert outcome.status == "processed" and outcome.report_id == first.report_id and not outcome.created
    report = the_report(res, first.report_id)
    assert report.category == "eclairage" and report.category_source == "model"
    assert report.location_source == "text" and report.lat is not None
    assert report.address_label == "72 Rue des Pyrénées 75020 Paris"
    assert not [r for r in report.review_reasons if "transcription" in r]
    assert report.description.endswith("Transcription automatique : " + " ".join(text for text, _ in SAID))
    shown = details(res, rec)["transcript"]
    assert shown["engine"] == "twilio" and shown["key"] == gt and shown["confidence"] == pytest.approx(0.91, abs=0.01)
    assert "transcript_pending" not in details(res, rec)
    assert count(res, Report) == 1  # the transcript opened no report of its own


def test_the_caller_is_asked_where_only_when_the_transcript_did_not_say(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    from intake.models import Outbox

    res, app = build()
    placed, gt, first = recorded(res, standin, app)
    assert count(res, Outbox) == 0  # no question while the transcript is awaited
    standin.finish_transcript(gt, SAID)
    assert transcript_ready(app, standin, gt).status_code == 204
    process_key(res, gt)
    assert count(res, Outbox) == 0  # the caller said where: nothing to ask
    rec, gt, second = recorded(res, standin, app)
    standin.finish_transcript(gt, [("Bonjour, il y a un lampadaire qui clignote toute la nuit, merci.", 0.9)])
    assert transcript_ready(app, standin, gt).status_code == 204
    outcome = process_key(res, gt)
    with res.factory() as s:
        asked = s.execute(select(Outbox)).scalar_one()
    assert (asked.kind, asked.channel, asked.recipient, asked.report_id) == (
        "ask_location",
        "sms",
        CALLER,
        second.report_id,
    )
    assert outcome.outbox_ids == [asked.id]


def test_a_transcript_arriving_twice_changes_nothing(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build()
    rec, gt, first = recorded(res, standin, app)
    standin.finish_transcript(gt, SAID)
    assert transcript_ready(app, standin, gt).status_code == 204
    process_key(res, gt)
    before = the_report(res, first.report_id)
    events = count(res, Event)
    assert transcript_ready(app, standin, gt).status_code == 204  # Twilio retries its webhook
    again = process_key(res, gt)
    assert again.status == "skipped"
    # the poll finds nothing to do either: the transcript is filed
    later = poll_transcripts(res.config, res.factory, now=utcnow() + timedelta(hours=1))
    assert later.checked == 0 and later.stored == []
    # a second transcript of the same recording (asked twice by mistake) is stored but changes nothing
    standin.transcripts[gt].customer_key = rec
    other = standin.create_transcript(
        {
            "ServiceSid": standin.intelligence_service,
            "CustomerKey": rec,
            "Channel": json.dumps({"media_properties": {"source_sid": rec}}),
        }
    )[1]["sid"]
    standin.finish_transcript(other, [("Il y a un graffiti sur le mur de l'école.", 0.95)])
    assert transcript_ready(app, standin, other).status_code == 204
    assert process_key(res, other).status == "processed"
    after = the_report(res, first.report_id)
    assert (after.category, after.lat, after.description, after.status) == (
        before.category,
        before.lat,
        before.description,
        before.status,
    )
    assert count(res, Event) == events
    assert count(res, RawMessage, RawMessage.channel == "voice") == 3  # recording, transcript, the stray one


def test_a_late_transcript_never_overrides_the_agent(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build()
    rec, gt, first = recorded(res, standin, app)
    agent = signed_in(app, "admin")
    number = the_report(res, first.report_id).tracking_number
    page = agent.get(f"/signalements/{number}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None and "En attente de la transcription." in page
    assert (
        agent.post(
            f"/signalements/{number}/categorie", data={"categorie": "proprete", "csrf_token": token.group(1)}
        ).status_code
        == 303
    )
    standin.finish_transcript(gt, SAID)
    assert transcript_ready(app, standin, gt).status_code == 204
    assert process_key(res, gt).status == "processed"
    report = the_report(res, first.report_id)
    assert (report.category, report.category_source, report.lat) == ("proprete", "agent", None)
    assert details(res, rec)["transcript"]["text"].startswith("Bonjour, depuis lundi")
    with res.factory() as s:
        applied = s.execute(select(Event.detail).where(Event.action == "transcribed")).scalar_one()
    assert applied["applied"] is False
    page = agent.get(f"/signalements/{number}").get_data(as_text=True)
    assert "Transcription automatique (confiance 91 %)" in page and "72 rue des Pyrénées" in page
    [audio] = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    played = agent.get(audio)
    assert played.status_code == 200 and played.mimetype == "audio/mpeg" and played.data == MP3


@pytest.mark.parametrize(
    ("said", "status", "reason"),
    [
        ([("euh le truc là-bas ça marche pas", 0.35)], "completed", "transcription incertaine (35%)"),
        ([], "completed", "transcription vide"),
        ([("lampadaire", 0.9)], "completed", "transcription trop courte (1 mot)"),
        ([], "failed", "transcription échouée (failed)"),
    ],
)
def test_an_empty_or_unsure_transcript_goes_to_review(
    build: Callable[..., tuple[Resources, Flask]],
    standin: TwilioStandIn,
    said: list[tuple[str, float]],
    status: str,
    reason: str,
) -> None:
    res, app = build()
    rec, gt, first = recorded(res, standin, app)
    standin.finish_transcript(gt, said, status=status)
    assert transcript_ready(app, standin, gt).status_code == 204
    assert process_key(res, gt).status == "processed"
    report = the_report(res, first.report_id)
    assert report.status == "a_qualifier" and reason in report.review_reasons
    assert "transcription en attente" not in report.review_reasons


def test_a_transcript_in_another_language_than_the_towns_is_not_trusted(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build(language="es-ES")  # the stand-in's service transcribes fr-FR
    rec, gt, first = recorded(res, standin, app)
    standin.finish_transcript(gt, SAID)
    assert transcript_ready(app, standin, gt).status_code == 204
    process_key(res, gt)
    report = the_report(res, first.report_id)
    assert "transcription échouée (langue fr-FR au lieu de es-ES)" in report.review_reasons
    assert report.status == "a_qualifier" and report.lat is None
    assert details(res, rec)["transcript"]["text"] == ""


def test_transcript_callbacks_must_be_signed_and_well_formed(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build()
    gt = "GT" + secrets.token_hex(16)
    assert transcript_ready(app, standin, gt, token="not-the-token").status_code == 403
    unsigned = app.test_client().post(
        "/twilio/voice/transcript", data=json.dumps({"transcript_sid": gt}), content_type="application/json"
    )
    assert unsigned.status_code == 403
    bad = signed_post(
        app,
        "/twilio/voice/transcript",
        json.dumps({"transcript_sid": "GT../../x"}),
        params=None,
        token=standin.auth_token,
        content_type="application/json",
    )
    assert bad.status_code == 400 and "transcript_sid" in bad.get_data(as_text=True)
    assert count(res, RawMessage) == 0


def test_a_transcript_never_called_back_is_polled(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build(poll_after_seconds=60)
    rec, gt, first = recorded(res, standin, app)
    assert poll_transcripts(res.config, res.factory).checked == 0  # not late yet
    later = utcnow() + timedelta(minutes=5)
    still = poll_transcripts(res.config, res.factory, now=later)
    assert still.checked == 1 and still.stored == []  # Twilio still working on it
    standin.finish_transcript(gt, SAID)
    polled = poll_transcripts(res.config, res.factory, now=later)
    assert len(polled.stored) == 1
    assert process_raw(res, polled.stored[0]).status == "processed"
    assert the_report(res, first.report_id).category == "eclairage"
    assert transcript_ready(app, standin, gt).status_code == 204  # the callback, late: the same row
    assert count(res, RawMessage, RawMessage.external_key == gt) == 1


def test_a_transcript_never_finished_is_left_to_the_agents(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build(give_up_hours=2)
    rec, gt, first = recorded(res, standin, app)
    gone = poll_transcripts(res.config, res.factory, now=utcnow() + timedelta(hours=3))
    assert gone.abandoned == 1
    report = the_report(res, first.report_id)
    assert ABANDONED in report.review_reasons and "transcription en attente" not in report.review_reasons
    assert poll_transcripts(res.config, res.factory, now=utcnow() + timedelta(hours=4)).abandoned == 0


def test_a_transcript_before_its_recording_is_parked_then_filed(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build()
    rec = leave_voicemail(app, standin)  # stored, not processed yet
    status, body = standin.create_transcript(
        {
            "ServiceSid": standin.intelligence_service,
            "CustomerKey": rec,
            "Channel": json.dumps({"media_properties": {"source_sid": rec}}),
        }
    )
    assert status == 201
    gt = body["sid"]
    standin.finish_transcript(gt, SAID)
    assert transcript_ready(app, standin, gt).status_code == 204
    early = process_key(res, gt)
    assert early.status == "failed" and "pas encore classé" in (early.error or "")
    recording = process_key(res, rec)  # the recording reuses the transcript already asked for
    assert len(standin.transcripts) == 1 and details(res, rec)["transcript_pending"] == gt
    retried = poll_transcripts(res.config, res.factory)
    assert retried.retried == [early.raw_id]
    assert process_raw(res, early.raw_id).status == "processed"
    assert the_report(res, recording.report_id).category == "eclairage"


def test_a_local_engine_transcribes_within_the_messages_budget(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    import hashlib

    from tests.support import local_transcriber

    local_transcriber.KNOWN[hashlib.sha256(MP3).hexdigest()] = " ".join(text for text, _ in SAID)
    res, app = build(engine="tests.support.local_transcriber:build", intelligence_service_sid=None)
    rec = leave_voicemail(app, standin)
    outcome = process_key(res, rec)
    report = the_report(res, outcome.report_id)
    assert report.category == "eclairage" and report.lat is not None  # understood in the same pass
    shown = details(res, rec)["transcript"]
    assert shown["engine"] == "local" and shown["text"].startswith("Bonjour, depuis lundi")
    assert not [p for _, p in standin.requests if p.startswith("/v2/")]  # Twilio was never asked


def test_engine_none_keeps_voicemails_for_listening(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build(engine="none", intelligence_service_sid=None)
    rec = leave_voicemail(app, standin)
    report = the_report(res, process_key(res, rec).report_id)
    assert report.description == f"Message vocal de {CALLER} (9 s) : à écouter"
    assert not [r for r in report.review_reasons if "transcription" in r]
    assert details(res, rec) == {} or "transcript" not in details(res, rec)
    assert not [p for _, p in standin.requests if p.startswith("/v2/")]
    assert transcript_ready(app, standin, "GT" + "0" * 32).status_code == 404


def test_transcription_settings_are_checked(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match="intelligence_service_sid"):
        make_config(transcription={"engine": "twilio"})
    with pytest.raises(ConfigError, match="étape transcript"):
        make_config(
            transcription={"engine": "x.y:z"},
            pipeline=["parse", "file", "classify", "locate", "triage", "route", "confirm"],
        )
    with pytest.raises(ConfigError):
        make_config(transcription={"engine": "twilio", "intelligence_service_sid": "GA123"})


@pytest.mark.parametrize(
    ("min_confidence", "min_words", "reasons"),
    [
        (0.6, 3, []),
        (0.95, 3, ["transcription incertaine (91%)"]),
        (0.6, 30, ["transcription trop courte (22 mots)"]),
    ],
)
def test_review_thresholds_follow_the_settings(
    make_config: Callable[..., Config], min_confidence: float, min_words: int, reasons: list[str]
) -> None:
    from intake.message import Transcript
    from intake.reports.voicemail import review_reasons

    settings = make_config(transcription={"min_confidence": min_confidence, "min_words": min_words}).transcription
    heard = Transcript(
        key="GT1",
        recording_sid="RE1",
        engine="twilio",
        status="completed",
        text=" ".join(text for text, _ in SAID),
        confidence=0.91,
    )
    assert review_reasons(heard, pending=False, settings=settings) == reasons


def test_workers_poll_late_transcripts_once_across_hosts(
    build: Callable[..., tuple[Resources, Flask]], redis_url: str
) -> None:
    from redis import Redis

    from intake.runtime.queue import housekeeping_queue
    from intake.runtime.scheduler import tick

    res, _app = build()
    redis = Redis.from_url(redis_url)
    assert "poll:transcripts" in tick(redis, res.config)
    assert "poll:transcripts" not in tick(redis, res.config)  # another worker, same moment
    queued = [job.func_name for job in housekeeping_queue(redis).jobs]
    assert queued.count("intake.runtime.jobs.poll_transcripts_job") == 1


def test_the_health_page_knows_the_transcripts_door(build: Callable[..., tuple[Resources, Flask]]) -> None:
    from intake.backoffice.health import configured_doors

    res, _app = build()
    [door] = [d for d in configured_doors(res.config) if d.source == "transcription"]
    assert door.channels == ("voice",) and door.label == "Transcriptions des messages vocaux"
    none, _ = build(engine="none", intelligence_service_sid=None)
    assert not [d for d in configured_doors(none.config) if d.source == "transcription"]


def test_reprocess_reads_a_voicemail_from_its_transcript(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    from intake.pipeline.reprocess import reprocess

    res, app = build()
    rec, gt, first = recorded(res, standin, app)
    standin.finish_transcript(gt, [("euh le lampadaire du 72 rue des Pyrénées ne marche plus", 0.4)])
    assert transcript_ready(app, standin, gt).status_code == 204
    process_key(res, gt)
    before = the_report(res, first.report_id)
    assert before.category == "eclairage" and "transcription incertaine (40%)" in before.review_reasons
    counts = reprocess(res)
    after = the_report(res, first.report_id)
    assert counts["réanalysés"] == 1 and after.category == "eclairage"
    assert after.review_reasons == before.review_reasons and after.status == "a_qualifier"


def test_twilio_away_loses_neither_the_voicemail_nor_its_transcript(
    build: Callable[..., tuple[Resources, Flask]], standin: TwilioStandIn
) -> None:
    res, app = build(poll_after_seconds=60)
    rec = leave_voicemail(app, standin)
    standin.fail_next(503, method="POST")  # the transcript cannot be asked for
    first = process_key(res, rec)
    report = the_report(res, first.report_id)
    assert first.status == "processed" and report.status == "a_qualifier"
    assert (
        "transcription échouée (demande refusée : Twilio 503 POST /Transcripts: Unable to create record: "
        "Service Unavailable)"
    ) in report.review_reasons
    # the callback of another voicemail's transcript comes while Twilio's API is away: parked, then polled again
    rec, gt, second = recorded(res, standin, app)
    standin.finish_transcript(gt, SAID)
    assert transcript_ready(app, standin, gt).status_code == 204
    standin.fail_next(503, method="GET")
    parked = process_key(res, gt)
    assert parked.status == "failed"
    polled = poll_transcripts(res.config, res.factory, now=utcnow() + timedelta(minutes=5))
    assert polled.retried == [parked.raw_id] and polled.stored == []
    assert process_raw(res, parked.raw_id).status == "processed"
    assert the_report(res, second.report_id).category == "eclairage"
