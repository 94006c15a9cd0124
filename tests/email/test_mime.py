"""Tests for intake.email.mime: lenient loading and walking of MIME parts."""

from __future__ import annotations

from intake.email.mime import load_message, walk

MIXED = b"""From: a@b.fr
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: multipart/alternative; boundary="c"

--c
Content-Type: text/plain; charset=utf-8

texte
--c
Content-Type: text/html; charset=utf-8

<p>html</p>
--c--
--b
Content-Type: message/rfc822

From: c@d.fr
Subject: dedans

corps
--b
Content-Type: message/delivery-status

Action: failed
--b
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

fichier texte
--b--
"""


def test_walk_sorts_bodies_files_and_enclosed_messages() -> None:
    notes: list[str] = []
    walked = walk(load_message(MIXED, notes=notes))
    assert walked.plain == ["texte"]
    assert walked.html == ["<p>html</p>"]
    assert [(f.filename, f.payload) for f in walked.files] == [("notes.txt", b"fichier texte")]
    assert [m["Subject"] for m in walked.enclosed] == ["dedans"]
    assert not walked.is_report


def test_walk_stops_at_the_part_limit() -> None:
    parts = b"".join(b"--b\nContent-Type: text/plain\n\np%d\n" % i for i in range(50))
    msg = load_message(b'Content-Type: multipart/mixed; boundary="b"\n\n' + parts + b"--b--\n", notes=[])
    walked = walk(msg, max_parts=10)
    assert len(walked.plain) == 9
    assert walked.defects == ["plus de 10 parties MIME : le reste est ignoré"]


def test_multipart_without_boundary_is_read_as_text() -> None:
    walked = walk(load_message(b"Content-Type: multipart/mixed\n\nJuste du texte\n", notes=[]))
    assert walked.plain == ["Juste du texte\n"]
    assert walked.defects[0] == "multipart/mixed sans parties lisibles, lu comme texte"


def test_load_reports_defects() -> None:
    notes: list[str] = []
    load_message(b"From: a@b.fr\nContent-Type: multipart/mixed; boundary=x\n\nno boundary here\n", notes=notes)
    assert "défaut MIME : StartBoundaryNotFoundDefect" in notes
