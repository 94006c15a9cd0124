"""The email pipeline on a real database: filing, threading, forwarded mail, loop protection, failures."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from intake.config import Config
from intake.models import Attachment, Contact, Event, Outbox, RawMessage, Report, ReportMessage
from intake.outbox.notify import ConsoleMailer
from intake.outbox.send import send_outbox_row
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email, jpeg_with_gps

FORWARDED_OUTLOOK_FR = """\
Bonjour, à traiter svp.

Sophie, accueil

De : Paul Durand <paul.durand@exemple.fr>
Envoyé : lundi 23 novembre 2026 09:12
À : accueil@mairie.localhost
Objet : Dépôt sauvage rue Victor Hugo

Bonjour,
Un tas de gravats est déposé sur le trottoir au 8 rue Victor Hugo depuis samedi.
Merci d'intervenir.
Paul Durand
06 12 34 56 78
"""


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(), mailer=ConsoleMailer())


def ingest(res: Resources, raw: bytes, *, source: str = "mairie") -> Any:
    raw_id, _ = store_raw(res.factory, channel="email", source=source, external_key=email_key(raw), payload=raw)
    return process_raw(res, raw_id)


def count(res: Resources, model: Any) -> int:
    with res.factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_citizen_email_becomes_report_with_confirmation(res: Resources) -> None:
    outcome = ingest(res, citizen_email(subject="Lampadaire éteint € œ"))
    assert outcome.status == "processed" and outcome.created
    assert re.fullmatch(r"20\d\d-00001", outcome.tracking_number or "")
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        assert report.subject == "Lampadaire éteint € œ"
        assert report.author is not None and report.author.email == "jeanne.martin@example.org"
        assert "lampadaire devant le 12 rue des Lilas" in report.description
        box = s.execute(select(Outbox)).scalar_one()
    assert box.recipient == "jeanne.martin@example.org"
    assert f"n° {outcome.tracking_number} a bien été reçu" in box.subject
    assert outcome.tracking_number in box.body and "Lampadaire éteint" in box.body
    assert box.message_id.endswith("@guichet.localhost")


def test_same_message_twice_is_one_raw_and_one_report(res: Resources) -> None:
    raw = citizen_email(message_id="abc-123@example.org")
    first = ingest(res, raw)
    second = ingest(res, raw)
    assert first.status == "processed"
    assert second.status == "skipped"  # already processed: idempotent on the natural key
    assert count(res, RawMessage) == 1 and count(res, Report) == 1 and count(res, Outbox) == 1


def test_reprocessing_a_processed_raw_id_does_nothing(res: Resources) -> None:
    outcome = ingest(res, citizen_email())
    again = process_raw(res, outcome.raw_id)
    assert again.status == "skipped"
    assert count(res, Report) == 1


def test_tracking_numbers_increase(res: Resources) -> None:
    numbers = [ingest(res, citizen_email()).tracking_number for _ in range(3)]
    assert [n.split("-")[1] for n in numbers if n] == ["00001", "00002", "00003"]


def test_reply_to_confirmation_threads_onto_report(res: Resources) -> None:
    first = ingest(res, citizen_email())
    with res.factory() as s:
        confirmation_id = s.execute(select(Outbox.message_id)).scalar_one()
    reply = citizen_email(
        subject=f"Re: Votre signalement n° {first.tracking_number} a bien été reçu",
        body="Voici une précision : c'est côté pair.",
        in_reply_to=confirmation_id,
    )
    second = ingest(res, reply)
    assert second.status == "processed" and not second.created
    assert second.report_id == first.report_id
    assert count(res, Report) == 1
    assert count(res, Outbox) == 1  # a follow-up is not confirmed again (no loop)
    with res.factory() as s:
        roles = s.execute(select(ReportMessage.role).order_by(ReportMessage.id)).scalars().all()
    assert roles == ["original", "follow_up"]


def test_tracking_number_in_subject_threads_for_the_author_only(res: Resources) -> None:
    first = ingest(res, citizen_email())
    same_author = ingest(res, citizen_email(subject=f"Complément {first.tracking_number}", body="Photo jointe."))
    stranger = ingest(res, citizen_email(sender="autre@example.net", subject=f"Au sujet de {first.tracking_number}"))
    assert same_author.report_id == first.report_id
    assert stranger.created and stranger.report_id != first.report_id


@pytest.mark.parametrize(
    "headers,sender",
    [
        ({"Auto-Submitted": "auto-replied"}, "jeanne.martin@example.org"),
        ({"Precedence": "bulk"}, "news@example.org"),
        ({"X-Autoreply": "yes"}, "jeanne.martin@example.org"),
        ({"List-Id": "<annonces.example.org>"}, "annonces@example.org"),
        ({"Return-Path": "<>"}, "jeanne.martin@example.org"),
        ({}, "MAILER-DAEMON@mx.example.org"),
    ],
)
def test_automated_mail_is_never_answered(res: Resources, headers: dict[str, str], sender: str) -> None:
    outcome = ingest(res, citizen_email(sender=sender, headers=headers, subject="Réponse automatique : absent"))
    assert outcome.status == "discarded"  # a robot that belongs to no report files nothing
    with res.factory() as s:
        assert s.execute(select(func.count()).select_from(Outbox)).scalar_one() == 0
        raw = s.get(RawMessage, outcome.raw_id)
        assert raw is not None and raw.status == "discarded" and raw.error


def test_out_of_office_reply_to_our_confirmation_is_filed_silently(res: Resources) -> None:
    first = ingest(res, citizen_email())
    with res.factory() as s:
        confirmation_id = s.execute(select(Outbox.message_id)).scalar_one()
    ooo = citizen_email(
        subject="Réponse automatique : Absence du bureau",
        in_reply_to=confirmation_id,
        headers={"Auto-Submitted": "auto-replied"},
        body="Je suis absente jusqu'au 3 décembre.",
    )
    outcome = ingest(res, ooo)
    assert outcome.status == "processed" and outcome.report_id == first.report_id
    assert count(res, Outbox) == 1


def test_our_own_confirmation_coming_back_is_discarded(res: Resources, make_config: Any) -> None:
    ingest(res, citizen_email())
    with res.factory() as s:
        row = s.execute(select(Outbox)).scalar_one()
    from intake.outbox.notify import build_email

    looped = build_email(res.config, row).as_bytes()
    outcome = ingest(res, looped)
    assert outcome.status == "discarded"
    assert count(res, Report) == 1 and count(res, Outbox) == 1


def test_noreply_sender_gets_report_but_no_confirmation(res: Resources) -> None:
    outcome = ingest(res, citizen_email(sender="ne-pas-repondre@operateur.example"))
    assert outcome.created
    assert count(res, Outbox) == 0
    with res.factory() as s:
        actions = s.execute(select(Event.action).where(Event.report_id == outcome.report_id)).scalars().all()
    assert "confirmation_skipped" in actions


def test_daily_cap_per_recipient(res: Resources) -> None:
    cap = res.config.notifications.max_confirmations_per_recipient_per_day
    for _ in range(cap + 2):
        ingest(res, citizen_email())
    with res.factory() as s:
        statuses = s.execute(select(Outbox.status).order_by(Outbox.id)).scalars().all()
    assert statuses.count("pending") == cap
    assert statuses.count("suppressed") == 2


def test_forwarded_by_reception_author_is_the_citizen(res: Resources) -> None:
    raw = citizen_email(
        sender="Sophie Accueil <sophie@mairie.localhost>",
        subject="TR: Dépôt sauvage rue Victor Hugo",
        body=FORWARDED_OUTLOOK_FR,
    )
    outcome = ingest(res, raw, source="accueil")
    assert outcome.created
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None and report.author is not None
        assert report.author.email == "paul.durand@exemple.fr"
        assert report.author.phone is None  # a number read in the signature identifies nobody (issue 12, P1)
        message = s.execute(select(ReportMessage).where(ReportMessage.report_id == report.id)).scalar_one()
        assert message.details["phone_in_text"] == "+33612345678"  # shown to the agent as read
        assert report.forwarded_by_email == "sophie@mairie.localhost"
        assert "gravats" in report.description and "à traiter" not in report.description
        box = s.execute(select(Outbox)).scalar_one()
    assert box.recipient == "paul.durand@exemple.fr"  # the citizen, not the staff member


def test_reception_mailbox_note_without_forward_is_not_confirmed(make_config: Callable[..., Config]) -> None:
    mailbox = {
        "name": "accueil",
        "role": "reception",
        "host": "127.0.0.1",
        "username": "u",
        "password": {"env": "X_PW"},
    }
    res = build_resources(make_config(mailboxes=[mailbox]), mailer=ConsoleMailer())
    outcome = ingest(
        res,
        citizen_email(
            sender="sophie@mairie.localhost",
            subject="Appel de M. Roux",
            body="M. Roux a appelé : banc cassé square Lamartine.",
        ),
        source="accueil",
    )
    assert outcome.created
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None and any("écrit par l'accueil" in n for n in report.notes)
    assert count(res, Outbox) == 0


def test_forward_without_citizen_address_is_flagged(res: Resources) -> None:
    body = (
        "À traiter.\n\n---------- Message transféré ---------\nDe : Un riverain\nDate : lun. 23 nov. 2026\n"
        "Objet : Trou dans la chaussée\n\nIl y a un trou énorme avenue Foch.\n"
    )
    outcome = ingest(res, citizen_email(sender="sophie@mairie.localhost", subject="Fwd: Trou", body=body))
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        assert report.citizen_recovered is False
        assert report.notes and "introuvable" in report.notes[0]
    assert count(res, Outbox) == 0


def test_photo_attachment_stored_with_gps_and_locates_report(res: Resources) -> None:
    photo = jpeg_with_gps(48.8566, 2.3522)
    outcome = ingest(
        res, citizen_email(attachments=[("trou.jpg", "image/jpeg", photo), ("note.txt", "text/plain", b"bonjour")])
    )
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        atts = s.execute(select(Attachment).order_by(Attachment.id)).scalars().all()
    assert report is not None and report.location_source == "exif"
    assert report.lat == pytest.approx(48.8566, abs=1e-4) and report.lon == pytest.approx(2.3522, abs=1e-4)
    assert [a.filename for a in atts] == ["trou.jpg", "note.txt"]
    photo_row = atts[0]
    assert photo_row.is_image and photo_row.thumb_sha256 and photo_row.served_sha256
    assert res.file_store.read(photo_row.sha256) == photo
    stripped = res.file_store.read(photo_row.served_sha256)
    import io

    from PIL import Image

    assert not Image.open(io.BytesIO(stripped)).getexif().get_ifd(0x8825)


def test_failure_is_parked_and_retry_processes_it(res: Resources, monkeypatch: pytest.MonkeyPatch) -> None:
    import intake.pipeline.stages.file as filing

    original = filing.FileStage.file

    def broken(self: Any, ctx: Any) -> None:
        raise RuntimeError("panne simulée")

    monkeypatch.setattr(filing.FileStage, "file", broken)
    res.stages = __import__("intake.pipeline.registry", fromlist=["build"]).build(list(res.config.pipeline))
    good_raw = citizen_email()
    outcome = ingest(res, good_raw)
    assert outcome.status == "failed" and "panne simulée" in (outcome.error or "")
    with res.factory() as s:
        raw = s.get(RawMessage, outcome.raw_id)
        assert raw is not None and raw.status == "failed" and "panne simulée" in (raw.error or "")
    assert count(res, Report) == 0
    monkeypatch.setattr(filing.FileStage, "file", original)
    res.stages = __import__("intake.pipeline.registry", fromlist=["build"]).build(list(res.config.pipeline))
    again = process_raw(res, outcome.raw_id)  # what `guichet retry --inline` does
    assert again.status == "processed" and again.created


def test_outbox_row_sent_once(res: Resources) -> None:
    ingest(res, citizen_email())
    with res.factory() as s:
        box_id = s.execute(select(Outbox.id)).scalar_one()
    mailer = ConsoleMailer()
    assert send_outbox_row(res.factory, res.config, box_id, mailer) == "sent"
    assert send_outbox_row(res.factory, res.config, box_id, mailer) == "sent"
    assert len(mailer.sent) == 1
    sent = mailer.sent[0]
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["Message-ID"].endswith("@guichet.localhost>")


def test_contact_reused_across_reports(res: Resources) -> None:
    ingest(res, citizen_email())
    ingest(res, citizen_email(subject="Autre chose"))
    assert count(res, Contact) == 1 and count(res, Report) == 2


def test_resolved_report_tells_every_email_reporter(res: Resources) -> None:
    from intake.reports.statuses import change_status

    first = ingest(res, citizen_email())
    with res.factory() as s:
        confirmation_id = s.execute(select(Outbox.message_id)).scalar_one()
    ingest(res, citizen_email(sender="voisin@example.net", subject="Re: même lampadaire", in_reply_to=confirmation_id))
    with res.factory() as s, s.begin():
        report = s.get(Report, first.report_id)
        assert report is not None
        ids = change_status(s, res.config, report, "resolu", actor="agent")
        with pytest.raises(ValueError):
            change_status(s, res.config, report, "perdu", actor="agent")
    with res.factory() as s:
        rows = [s.get(Outbox, i) for i in ids]
        events = s.execute(select(Event.action).where(Event.report_id == first.report_id)).scalars().all()
    assert sorted(r.recipient for r in rows if r) == ["jeanne.martin@example.org", "voisin@example.net"]
    assert all(r and r.channel == "email" and "résolu" in r.subject for r in rows)
    assert "status" in events
