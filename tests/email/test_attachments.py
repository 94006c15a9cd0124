"""Tests for intake.email.attachments: names, limits, TNEF and .msg unpacking."""

from __future__ import annotations

from collections.abc import Callable
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from intake.email.attachments import _rtf_to_text, human_size, safe_filename, unpack_msg, unpack_tnef
from intake.email.html import html_to_text
from intake.email.model import ParsedEmail
from intake.email.parse import parse_email


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\jean\\Desktop\\plan.pdf", "plan.pdf"),
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("  .htaccess", "htaccess"),
        ("rapport<1>?.pdf", "rapport_1__.pdf"),
        ("", "piece-jointe-3.jpg"),
        (None, "piece-jointe-3.jpg"),
        ("///", "piece-jointe-3.jpg"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name, content_type="image/jpeg", index=3) == expected


def test_long_filename_keeps_its_extension() -> None:
    name = safe_filename("x" * 300 + ".jpeg", content_type="image/jpeg", index=1)
    assert len(name) == 200
    assert name.endswith("x.jpeg")


def test_default_extensions() -> None:
    assert safe_filename(None, content_type="application/pdf", index=2) == "piece-jointe-2.pdf"
    assert safe_filename(None, content_type="application/x-inconnu", index=2) == "piece-jointe-2.bin"


def test_human_size_in_french() -> None:
    assert human_size(23 * 1024 * 1024) == "23 Mo"
    assert human_size(15 * 1024 * 1024) == "15 Mo"
    assert human_size(1536 * 1024) == "1,5 Mo"
    assert human_size(2048) == "2 Ko"
    assert human_size(300) == "300 octets"


def test_tnef_files_and_names(raw: Callable[[str], bytes]) -> None:
    unpacked = unpack_tnef(raw("tnefparse/umlaut.tnef"))
    assert [(f.filename, f.content_type, len(f.payload)) for f in unpacked.files] == [
        ("TBZ PARIV GmbH.jpg", "image/jpeg", 44764),
        ("image003.jpg", "image/jpeg", 1001),
        ("UmlautAnhang-äüö.txt", "text/plain", 14),
    ]
    assert unpacked.text.startswith("TEST äöü")


def test_tnef_rtf_body(raw: Callable[[str], bytes]) -> None:
    lines = unpack_tnef(raw("tnefparse/rtf.tnef")).text.splitlines()
    assert lines[:3] == ["aafgag'alga'kgk", "", "agka;kgag"]
    assert "\\hge" in lines  # an escaped backslash then text (the hand reader dropped "hge")
    assert lines[-2:] == ["978-287-4494 (Office)", "978-318-6939 (Fax)"]
    assert not any("\\par" in line or "fonttbl" in line or "Arial" in line for line in lines)


def test_rtf_unicode_escapes() -> None:
    # \uN? is a Unicode character followed by its fallback "?", which the hand reader kept: "caf?".
    rtf = rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}\uc1 Le caf\u233? est ferm\'e9, \u8364? 5\par fin}"
    assert _rtf_to_text(rtf) == "Le café est fermé, € 5\nfin"


def test_tnef_body(raw: Callable[[str], bytes]) -> None:
    unpacked = unpack_tnef(raw("tnefparse/body.tnef"))
    assert unpacked.files == []
    assert html_to_text(unpacked.html).splitlines()[0] == "THE BILL OF RIGHTS"


def test_broken_containers_give_defects() -> None:
    assert unpack_tnef(b"\x78\x9f\x3e\x22garbage").defects[0].startswith("winmail.dat illisible")
    assert unpack_msg(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600).defects[0].startswith("fichier .msg illisible")


def _with_winmail(tnef: bytes) -> bytes:
    msg = MIMEMultipart()
    msg["From"] = "Jean Dupont <jean@exemple.fr>"
    msg["Subject"] = "Pièces jointes Outlook"
    msg.attach(MIMEText("Voir les fichiers.", "plain", "utf-8"))
    part = MIMEApplication(tnef, "ms-tnef", name="winmail.dat")
    part.add_header("Content-Disposition", "attachment", filename="winmail.dat")
    msg.attach(part)
    return msg.as_bytes()


def test_winmail_dat_is_unpacked_in_a_mail(raw: Callable[[str], bytes]) -> None:
    parsed = parse_email(_with_winmail(raw("tnefparse/two-files.tnef")))
    assert [(a.filename, a.size, a.origin) for a in parsed.attachments] == [
        ("AUTHORS", 244, "tnef"),
        ("README", 893, "tnef"),
    ]
    assert parsed.text == "Voir les fichiers."


def test_broken_winmail_is_kept_as_a_file() -> None:
    parsed = parse_email(_with_winmail(b"\x78\x9f\x3e\x22garbage"))
    assert [(a.filename, a.content_type, a.origin) for a in parsed.attachments] == [
        ("winmail.dat", "application/ms-tnef", "mime")
    ]
    assert any(d.startswith("winmail.dat illisible") for d in parsed.defects)


def test_names_from_rfc2231_rfc2047_paths_and_defaults(parsed: Callable[..., ParsedEmail]) -> None:
    mail = parsed("guichet/attachments_fr.eml")
    assert [(a.filename, a.content_type, a.size, a.inline) for a in mail.attachments] == [
        ("piece-jointe-1.png", "image/png", 70, True),
        ("banc cassé.jpg", "image/jpeg", 134, False),
        ("église.jpg", "image/jpeg", 134, False),
        ("passwd", "application/pdf", 13, False),
        ("piece-jointe-5.pdf", "application/pdf", 16, False),
    ]
    assert mail.attachments[0].content_id == "img001@exemple.fr"


def test_size_and_count_limits(parsed: Callable[..., ParsedEmail]) -> None:
    mail = parsed("guichet/attachments_fr.eml", max_attachments=2, max_attachment_bytes=100)
    assert [a.filename for a in mail.attachments] == ["piece-jointe-1.png", "passwd"]
    assert [(s.filename, s.size, s.reason) for s in mail.skipped_attachments] == [
        ("banc cassé.jpg", 134, "pièce jointe trop volumineuse (134 octets > 100 octets)"),
        ("église.jpg", 134, "pièce jointe trop volumineuse (134 octets > 100 octets)"),
        ("piece-jointe-5.pdf", 16, "trop de pièces jointes (limite : 2)"),
    ]


def test_big_attachment_reason_in_megabytes() -> None:
    msg = MIMEMultipart()
    msg["From"] = "a@exemple.fr"
    msg.attach(MIMEApplication(b"\0" * (16 * 1024 * 1024), "octet-stream", name="video.mp4"))
    mail = parse_email(msg.as_bytes())
    assert mail.attachments == []
    [skipped] = mail.skipped_attachments
    assert (skipped.filename, skipped.size) == ("video.mp4", 16 * 1024 * 1024)
    assert skipped.reason == "pièce jointe trop volumineuse (16 Mo > 15 Mo)"
