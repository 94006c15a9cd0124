"""SMS, WhatsApp and voicemail through the pipeline on a real database (media downloads faked)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from intake.channels.sms import parse_sms, parse_voice
from intake.config import Config
from intake.models import Attachment, Contact, Outbox, RawMessage, Report, ReportMessage
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import Outcome, process_raw
from intake.pipeline.rawstore import store_raw
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import jpeg_with_gps

TOWN = "+33999000000"
CITIZEN = "+33612345678"


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(twilio={"numbers": [TOWN]}), mailer=ConsoleMailer())


class Fetched:
    """URLs the fake download was asked for, kept in a file: understanding runs in a child process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, url: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(url + "\n")

    def urls(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Fetched:
    """Replace the Twilio download with a JPEG geotagged in Paris (audio for recordings)."""
    fetched = Fetched(tmp_path / "downloads.txt")

    def fake(settings: Any, url: str) -> tuple[bytes, str]:
        fetched.add(url)
        if url.endswith(".mp3"):
            return b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 64, "audio/mpeg"
        return jpeg_with_gps(48.8566, 2.3522), "image/jpeg"

    monkeypatch.setattr("intake.channels.phone.fetch_media", fake)
    return fetched


def sms(
    body: str, *, sender: str = "06 12 34 56 78", whatsapp: bool = False, sid: str | None = None, **extra: str
) -> bytes:
    prefix = "whatsapp:" if whatsapp else ""
    number = sender if sender.startswith("+") else "+33" + sender.replace(" ", "")[1:]
    fields = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "From": prefix + number,
        "To": prefix + TOWN,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    return urlencode(fields).encode()


def ingest(res: Resources, payload: bytes, *, channel: str = "sms") -> Outcome:
    key = parse_sms(payload).message_sid if channel == "sms" else parse_voice(payload).recording_sid
    raw_id, _ = store_raw(res.factory, channel=channel, source=TOWN, external_key=key, payload=payload)
    return process_raw(res, raw_id)


def count(res: Resources, model: Any) -> int:
    with res.factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_parse_whatsapp_body() -> None:
    parsed = parse_sms(
        sms(
            "",
            whatsapp=True,
            NumMedia="1",
            MediaUrl0="https://api.twilio.com/m/ME1",
            MediaContentType0="image/jpeg",
            Latitude="48.85",
            Longitude="2.35",
            Address="8 rue des Lilas",
            ProfileName="Jeanne",
        )
    )
    assert parsed.channel == "whatsapp" and parsed.sender_e164 == CITIZEN
    assert parsed.reply_to == "whatsapp:" + CITIZEN and parsed.to == TOWN
    assert parsed.media[0].url.endswith("ME1") and parsed.media[0].content_type == "image/jpeg"
    assert parsed.has_location and parsed.address == "8 rue des Lilas" and parsed.profile_name == "Jeanne"


def test_sms_becomes_report_with_sms_confirmation(res: Resources) -> None:
    outcome = ingest(res, sms("Le lampadaire devant le 12 rue des Lilas est éteint depuis hier soir"))
    assert outcome.status == "processed" and outcome.created
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None and report.channel == "sms" and report.citizen_recovered
        assert report.author is not None and report.author.phone == CITIZEN
        assert "lampadaire" in report.description
        box = s.execute(select(Outbox)).scalar_one()
    assert box.channel == "sms" and box.recipient == CITIZEN and box.kind == "confirmation"
    assert outcome.tracking_number and outcome.tracking_number in box.body
    assert f"/suivi/{report.public_token}" in box.body
    assert outcome.outbox_ids == [box.id]


def test_issue_scenario_follow_up_then_photo(res: Resources, downloads: Fetched) -> None:
    first = ingest(res, sms("bjr ya un frigo abandonné devant le 8 rue des Lilas depuis 3 jours"))
    second = ingest(res, sms("c'est en face de la boulangerie"))
    photo = ingest(
        res,
        sms(
            "",
            whatsapp=True,
            NumMedia="1",
            MediaUrl0="https://api.twilio.com/2010-04-01/m/ME1",
            MediaContentType0="image/jpeg",
        ),
    )
    assert first.created and not second.created and not photo.created
    assert second.report_id == first.report_id == photo.report_id
    assert downloads.urls() == ["https://api.twilio.com/2010-04-01/m/ME1"]
    with res.factory() as s:
        roles = s.execute(select(ReportMessage.role).order_by(ReportMessage.id)).scalars().all()
        att = s.execute(select(Attachment)).scalar_one()
    assert roles == ["original", "follow_up", "follow_up"]
    assert att.report_id == first.report_id and att.content_type == "image/jpeg"
    assert att.gps_lat == pytest.approx(48.8566, abs=1e-3) and att.gps_lon == pytest.approx(2.3522, abs=1e-3)
    assert count(res, Outbox) == 1  # only the new report is acknowledged


def test_message_outside_window_opens_a_new_report(res: Resources) -> None:
    first = ingest(res, sms("Un tag sur le mur de l'école rue des Lilas"))
    with res.factory() as s, s.begin():
        raw = s.execute(select(RawMessage)).scalar_one()
        raw.received_at = raw.received_at - timedelta(hours=2)
    second = ingest(res, sms("Un nid de poule rue de Rivoli"))
    assert second.created and second.report_id != first.report_id


def test_tracking_number_attaches_only_for_its_author(res: Resources) -> None:
    first = ingest(res, sms("Dépôt sauvage rue des Lilas", sender="06 11 11 11 11"))
    other = ingest(res, sms("Lampadaire cassé rue de Rivoli"))
    with res.factory() as s, s.begin():
        for raw in s.execute(select(RawMessage)).scalars():
            raw.received_at = raw.received_at - timedelta(hours=2)
    mine = ingest(res, sms(f"Pour le {first.tracking_number} : c'est toujours là", sender="06 11 11 11 11"))
    stranger = ingest(res, sms(f"Pour le {first.tracking_number} : pareil chez moi", sender="07 22 22 22 22"))
    assert mine.report_id == first.report_id and not mine.created
    assert stranger.created and stranger.report_id not in {first.report_id, other.report_id}


def test_stop_then_start(res: Resources) -> None:
    first = ingest(res, sms("Un arbre est tombé rue des Lilas"))
    stop = ingest(res, sms("  Stop "))
    assert stop.status == "processed" and stop.report_id is None and not stop.created
    with res.factory() as s:
        contact = s.execute(select(Contact).where(Contact.phone == CITIZEN)).scalar_one()
        assert contact.opt_out and contact.opt_out_at is not None
        ack = s.execute(select(Outbox).where(Outbox.kind == "stop_ack")).scalar_one()
    assert ack.recipient == CITIZEN and ack.report_id == first.report_id and "START" in ack.body
    assert stop.outbox_ids == [ack.id]
    assert count(res, Report) == 1 and count(res, ReportMessage) == 1
    again = ingest(res, sms("ARRÊT"))
    assert again.outbox_ids == [] and count(res, Outbox) == 2  # confirmation + one answer to STOP
    start = ingest(res, sms("start"))
    with res.factory() as s:
        contact = s.execute(select(Contact).where(Contact.phone == CITIZEN)).scalar_one()
        assert not contact.opt_out and contact.opt_out_at is None
        assert s.execute(select(Outbox.id).where(Outbox.kind == "start_ack")).scalar_one() == start.outbox_ids[0]


def test_stop_from_unknown_number_creates_opted_out_contact(res: Resources) -> None:
    outcome = ingest(res, sms("STOP SMS", sender="07 33 33 33 33"))
    assert outcome.status == "processed" and outcome.report_id is None
    with res.factory() as s:
        assert s.execute(select(Contact.opt_out).where(Contact.phone == "+33733333333")).scalar_one()
    assert count(res, Report) == 0 and count(res, Outbox) == 0  # no report to hang an answer on


def test_opted_out_number_gets_no_confirmation(res: Resources) -> None:
    ingest(res, sms("STOP"))
    outcome = ingest(res, sms("Un lampadaire clignote rue des Lilas"))
    assert outcome.created and outcome.outbox_ids == []
    assert count(res, Outbox) == 0


def test_location_share_pins_the_open_report(res: Resources) -> None:
    first = ingest(res, sms("Une voiture ventouse rue des Lilas", whatsapp=True))
    with res.factory() as s, s.begin():
        raw = s.execute(select(RawMessage)).scalar_one()
        raw.received_at = raw.received_at - timedelta(hours=3)  # pins join even outside the window
    pin = ingest(res, sms("", whatsapp=True, Latitude="48.8606", Longitude="2.3376", Address="Rue de Rivoli"))
    assert pin.report_id == first.report_id and not pin.created
    with res.factory() as s:
        report = s.get(Report, first.report_id)
        assert report is not None
        assert (report.lat, report.lon, report.location_source) == (48.8606, 2.3376, "pin")
        assert report.confidence["location"] == 1.0
        box = s.execute(select(Outbox)).scalar_one()
    assert box.channel == "whatsapp" and box.recipient == "whatsapp:" + CITIZEN


def test_replayed_message_sid_files_one_report(res: Resources) -> None:
    payload = sms("Poubelle renversée rue des Lilas", sid="SMfixed0001")
    assert ingest(res, payload).created
    assert ingest(res, payload).status == "skipped"
    assert count(res, RawMessage) == 1 and count(res, Report) == 1 and count(res, Outbox) == 1


def test_refused_media_type_is_listed_not_downloaded(res: Resources, downloads: Fetched) -> None:
    outcome = ingest(
        res,
        sms(
            "Voir la pièce jointe",
            NumMedia="1",
            MediaUrl0="https://api.twilio.com/m/ME9",
            MediaContentType0="application/zip",
        ),
    )
    assert outcome.created and downloads.urls() == []
    with res.factory() as s:
        details = s.execute(select(ReportMessage.details)).scalar_one()
    assert "non accepté" in details["skipped_attachments"][0]["reason"]


def test_voice_recording_becomes_report_with_audio(res: Resources, downloads: Fetched) -> None:
    payload = urlencode(
        {
            "RecordingSid": "RE123",
            "RecordingUrl": "https://api.twilio.com/2010-04-01/Recordings/RE123",
            "RecordingDuration": "42",
            "CallSid": "CA1",
            "From": CITIZEN,
            "To": TOWN,
        }
    ).encode()
    outcome = ingest(res, payload, channel="voice")
    assert outcome.status == "processed" and outcome.created
    assert downloads.urls() == ["https://api.twilio.com/2010-04-01/Recordings/RE123.mp3"]
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None and report.channel == "voice"
        assert report.description == f"Message vocal de {CITIZEN} (42 s) : à écouter"
        att = s.execute(select(Attachment)).scalar_one()
    assert att.content_type == "audio/mpeg" and att.filename == "message-vocal-RE123.mp3"
    with res.factory() as s:  # no SMS confirmation; the caller's mobile only gets the one location question
        kinds = s.execute(select(Outbox.kind)).scalars().all()
    assert kinds == ["ask_location"]


def test_location_share_without_open_report_opens_a_pinned_report(res: Resources) -> None:
    outcome = ingest(res, sms("", whatsapp=True, Latitude="48.8606", Longitude="2.3376", Address="Rue de Rivoli"))
    assert outcome.created
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        assert (report.lat, report.lon, report.location_source) == (48.8606, 2.3376, "pin")
        assert report.address_label == "Rue de Rivoli"


def test_resolved_report_tells_its_citizen_by_sms_once(res: Resources) -> None:
    from intake.reports.statuses import change_status

    outcome = ingest(res, sms("Un banc cassé square des Batignolles"))
    with res.factory() as s, s.begin():
        report = s.get(Report, outcome.report_id)
        assert report is not None
        number = report.tracking_number
        ids = change_status(s, res.config, report, "resolu", actor="agent", note="Banc remplacé")
        assert change_status(s, res.config, report, "resolu", actor="agent") == []
        change_status(s, res.config, report, "en_cours", actor="agent")
        assert change_status(s, res.config, report, "resolu", actor="agent") == []  # once per status and citizen
    assert len(ids) == 1
    with res.factory() as s:
        row = s.get(Outbox, ids[0])
        assert row is not None and row.channel == "sms" and row.recipient == CITIZEN
        assert number in row.body and "résolu" in row.body


def test_agent_links_email_and_phone_into_one_contact(res: Resources) -> None:
    from intake.pipeline.rawstore import email_key
    from intake.reports.contacts import link_contacts
    from tests.support.mail import citizen_email

    by_sms = ingest(res, sms("Lampadaire éteint rue des Lilas"))
    raw = citizen_email(sender="Jeanne <jeanne@example.org>")
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    by_mail = process_raw(res, raw_id)
    with res.factory() as s, s.begin():
        contact = link_contacts(s, email="Jeanne@Example.org", phone="06 12 34 56 78", actor="agent")
        with pytest.raises(ValueError):
            link_contacts(s, email="x@example.org", phone="12", actor="agent")
    with res.factory() as s:
        authors = {s.get(Report, r.report_id).author_id for r in (by_sms, by_mail)}  # type: ignore[union-attr]
        assert authors == {contact.id}
        merged = s.get(Contact, contact.id)
        assert merged is not None and merged.email == "jeanne@example.org" and merged.phone == CITIZEN
    assert count(res, Contact) == 1
