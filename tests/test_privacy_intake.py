"""Privacy of what the pipeline files: who a message identifies (P1) and who may thread onto a report (P6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.models import Contact, Outbox, Report, ReportMessage
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email

JEAN_MAIL = """\
Bonjour,
Un lampadaire est éteint au 12 rue des Lilas depuis trois jours.
Jean Dupont
06 12 34 56 78
"""


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(), mailer=ConsoleMailer())


def ingest_mail(res: Resources, raw: bytes) -> Any:
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    return process_raw(res, raw_id)


def ingest_staff(res: Resources, fields: dict[str, Any], *, nonce: str) -> Any:
    raw_id, _ = store_raw(
        res.factory,
        channel="telephone",
        source="back-office",
        external_key=f"saisie:{nonce}",
        payload=json.dumps(fields, ensure_ascii=False).encode("utf-8"),
    )
    return process_raw(res, raw_id, worker="back-office")


def test_a_number_in_a_signature_never_identifies_a_contact(res: Resources) -> None:
    """P1: Josiane's phone call is not filed under Jean because her number was in Jean's signature."""
    jean = ingest_mail(
        res, citizen_email(sender="Jean Dupont <jean.dupont@example.org>", subject="Lampadaire éteint", body=JEAN_MAIL)
    )
    call = ingest_staff(
        res,
        {
            "name": "Mme Josiane Roux",
            "phone": "06 12 34 56 78",
            "text": "Banc cassé square Lamartine.",
            "entered_by": "sophie",
        },
        nonce="p1",
    )
    assert jean.status == "processed" and call.status == "processed"
    with res.factory() as s:
        jean_report = s.get(Report, jean.report_id)
        call_report = s.get(Report, call.report_id)
        assert jean_report is not None and call_report is not None
        assert jean_report.author is not None and call_report.author is not None
        assert call_report.author_id != jean_report.author_id
        assert call_report.author.name == "Mme Josiane Roux"
        assert call_report.author.phone == "+33612345678"
        assert jean_report.author.phone is None  # the signature's number is not Jean's identity
        message = s.execute(select(ReportMessage).where(ReportMessage.report_id == jean.report_id)).scalar_one()
        assert message.details["phone_in_text"] == "+33612345678"  # kept for the agent, as read
        recipients = set(s.execute(select(Outbox.recipient).where(Outbox.report_id == call.report_id)).scalars())
    assert "jean.dupont@example.org" not in recipients


def test_a_number_in_a_mail_does_not_take_over_an_sms_contact(res: Resources) -> None:
    """P1, the other way round: a mail quoting someone's number is not filed under that number's contact."""
    first = ingest_staff(res, {"name": "Léa Petit", "phone": "06 98 76 54 32", "text": "Trou rue Monge."}, nonce="p1b")
    mail = ingest_mail(
        res,
        citizen_email(
            sender="Inconnu <x@example.org>",
            subject="Encombrants",
            body="Encombrants devant le 3 rue Monge.\nAppelez le 06 98 76 54 32",
        ),
    )
    with res.factory() as s:
        a, b = s.get(Report, first.report_id), s.get(Report, mail.report_id)
        assert a is not None and b is not None and a.author_id != b.author_id
        assert s.execute(select(Contact.email).where(Contact.phone == "+33698765432")).scalar_one() is None


def test_a_known_message_id_does_not_let_a_stranger_thread(res: Resources) -> None:
    """P6: a stranger who saw Jeanne's Message-ID (in a CC) writes "in reply"; it becomes a new report linked
    for an agent, not a follow-up that would get Jeanne's notices and tracking link."""
    first = ingest_mail(res, citizen_email(message_id="jeanne-1@example.org"))
    stranger = ingest_mail(
        res,
        citizen_email(
            sender="Curieux <curieux@example.net>",
            subject="Re: Lampadaire en panne",
            body="Moi aussi je veux être tenu au courant.",
            in_reply_to="jeanne-1@example.org",
        ),
    )
    assert stranger.status == "processed" and stranger.created
    assert stranger.report_id != first.report_id
    with res.factory() as s:
        original = s.get(Report, first.report_id)
        new = s.get(Report, stranger.report_id)
        assert original is not None and new is not None
        senders = set(
            s.execute(select(ReportMessage.sender_email).where(ReportMessage.report_id == first.report_id)).scalars()
        )
        assert senders == {"jeanne.martin@example.org"}
        assert any(first.tracking_number in note and "vérifier" in note for note in new.notes)
        assert {(e.action, e.detail.get("report")) for e in new.events} >= {
            ("linked_for_review", first.tracking_number)
        }
        assert {(e.action, e.detail.get("report")) for e in original.events} >= {
            ("linked_for_review", stranger.tracking_number)
        }


def test_the_author_and_people_we_wrote_to_still_thread_by_message_id(res: Resources) -> None:
    """P6, what stays: the author's reply to our confirmation, in any letter case, is a follow-up."""
    first = ingest_mail(res, citizen_email(message_id="jeanne-2@example.org"))
    with res.factory() as s:
        ours = s.execute(select(Outbox.message_id).where(Outbox.report_id == first.report_id)).scalar_one()
    reply = ingest_mail(
        res,
        citizen_email(
            sender="Jeanne Martin <Jeanne.Martin@Example.org>",
            subject="Re: Lampadaire en panne",
            body="Il est toujours éteint.",
            in_reply_to=ours.strip("<>"),
        ),
    )
    assert reply.status == "processed" and not reply.created and reply.report_id == first.report_id
