"""Every file of the shared real-world corpus goes through parse_email: no exception, clean strings, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from intake.email.model import Address, EmailParseError, ParsedEmail
from intake.email.parse import parse_email

CORPUS = Path(__file__).parents[2].parent / "shared/data/emails"
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared email corpus not found at {CORPUS}"),
]


def _parse(name: str) -> ParsedEmail:
    return parse_email((CORPUS / name).read_bytes())


def _check_text(value: str) -> None:
    assert "\x00" not in value
    value.encode("utf-8")  # raises on lone surrogates


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_every_file_parses(path: Path) -> None:
    data = path.read_bytes()
    # CPU time of this process, not wall time: the other pytest-xdist worker and a busy machine do not count.
    started = time.process_time()
    if not data.strip():
        with pytest.raises(EmailParseError):
            parse_email(data)
        return
    mail = parse_email(data)
    assert time.process_time() - started < 2
    for value in (
        mail.subject,
        mail.text,
        mail.quoted,
        mail.signature,
        mail.body_text,
        mail.forward_note,
        mail.html or "",
        *mail.defects,
        *mail.to,
    ):
        assert isinstance(value, str)
        _check_text(value)
    for address in (mail.sender, mail.header_from, mail.forwarded_by, mail.reply_to):
        if address is not None:
            _check_text(address.name or "")
            assert address.email is None or address.email == address.email.lower()
    for attachment in mail.attachments:
        assert attachment.filename and "/" not in attachment.filename and len(attachment.filename) <= 200
        assert attachment.origin in {"mime", "tnef", "rfc822", "msg"}
    assert mail.date is None or mail.date.tzinfo is not None


def test_forwarded_message() -> None:
    mail = _parse("django-helpdesk/forwarded-message.eml")
    assert mail.forwarded
    assert mail.sender == Address("GitHub", "noreply@github.com")
    assert mail.forwarded_by == Address("The Sender", "sender@domain.tld")
    assert mail.text.splitlines()[0] == "Hello there!"


@pytest.mark.parametrize(
    ("name", "subject", "first_line"),
    [
        ("django-helpdesk/utf-nondecodable.eml", "Cyklozaměstnavatel - změna vyhodnocení", "Ahoj Johne,"),
        ("django-helpdesk/all-special-chars.eml", "Testovácí email", "íářčšáíéřášč"),
        (
            "django-helpdesk/quoted_printable.eml",
            "Český test",
            "Tohle je test českých písmen odeslaných z gmailu.",
        ),
    ],
)
def test_charsets(name: str, subject: str, first_line: str) -> None:
    mail = _parse(name)
    assert mail.subject == subject
    assert mail.text.splitlines()[0] == first_line


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("tnefparse/two-files.tnef", [("AUTHORS", 244), ("README", 893)]),
        (
            "tnefparse/umlaut.tnef",
            [("TBZ PARIV GmbH.jpg", 44764), ("image003.jpg", 1001), ("UmlautAnhang-äüö.txt", 14)],
        ),
        (
            "tnefparse/MAPI_ATTACH_DATA_OBJ.tnef",
            [("VIA_Nytt_1402.doc", 61534), ("VIA_Nytt_1402.pdf", 213685), ("VIA_Nytt_14021.htm", 68919)],
        ),
    ],
)
def test_tnef(name: str, files: list[tuple[str, int]]) -> None:
    mail = _parse(name)
    assert [(a.filename, a.size) for a in mail.attachments] == files
    assert {a.origin for a in mail.attachments} == {"tnef"}
    assert "données TNEF (winmail.dat) brutes, sans enveloppe MIME" in mail.defects


def test_tnef_body_text() -> None:
    assert _parse("tnefparse/body.tnef").text.splitlines()[0] == "THE BILL OF RIGHTS"


def test_raw_outlook_msg() -> None:
    mail = _parse("mail-parser/mail_outlook_1")
    assert mail.sender.email == "nueblingv@w-vwa.de"
    assert mail.subject == "Newsletter Prüfung Personalwesen / Prüfung Eröffnungsbilanz"
    assert [a.filename for a in mail.attachments][:2] == ["newsletter.png", "spacer.gif"]
    assert {a.origin for a in mail.attachments} == {"msg"}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("flanker/messages/bounce/mailbox-full.eml", "Auto-Submitted: auto-replied"),
        ("flanker/messages/bounce/gmail-no-dns.eml", "Return-Path: <> (message de service)"),
        (
            "flanker/messages/bounce/delayed.eml",
            "Content-Type: multipart/report (avis de non-remise ou de lecture)",
        ),
        (
            "flanker/messages/disposition-notification.eml",
            "Content-Type: multipart/report (avis de non-remise ou de lecture)",
        ),
        ("flanker/messages/bounce/broken-mime.eml", "expéditeur automatique (postmaster@example.com)"),
        ("mail-parser/mail_test_13", "List-Id (liste de diffusion)"),
        ("mail-parser/mail_test_16", "Precedence: junk"),
        ("cpython_test_email/msg_25.txt", "Auto-Submitted: auto-generated (failure)"),
    ],
)
def test_auto_replies(name: str, reason: str) -> None:
    mail = _parse(name)
    assert mail.auto_reply_reason == reason
    assert not mail.forwarded


def test_human_messages_are_not_auto_replies() -> None:
    for name in (
        "talon/standard_replies/gmail.eml",
        "django-helpdesk/pgp.eml",
        "flanker/messages/iphone.eml",
    ):
        assert not _parse(name).auto_reply, name


def test_nested_message_bomb() -> None:
    mail = _parse("flanker/messages/enclosed-endless.eml")
    assert mail.sender.email == "bob@examplehq.com"
