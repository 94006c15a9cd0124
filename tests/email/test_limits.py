"""Cheap checks before parsing: hostile shapes are refused in linear time, real mail always passes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from intake.config import Limits
from intake.email.limits import check_email
from intake.message import MessageRefused

DATA = Path(__file__).resolve().parents[1] / "data" / "emails"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "emails"
LIMITS = Limits()


def mail(headers: str, body: str = "Bonjour.\r\n") -> bytes:
    return (headers + "\r\n" + body).encode("utf-8")


BASE = "From: a@example.org\r\nTo: mairie@example.org\r\nMessage-ID: <x@example.org>\r\n"


def hostile_subject(words: int) -> bytes:
    return mail(BASE + "Subject: " + "=?utf-8?q?a?= " * words + "\r\n")


def test_the_issue_s_hostile_subject_is_refused_at_once() -> None:
    payload = hostile_subject(120_000)  # 1.7 MB: 80-90 s in email.header.decode_header
    assert 1_600_000 < len(payload) < 1_900_000
    started = time.perf_counter()
    with pytest.raises(MessageRefused) as info:
        check_email(payload, LIMITS)
    assert time.perf_counter() - started < 1.0
    assert "en-tête trop long" in str(info.value)


def test_many_encoded_words_in_a_short_header_are_refused() -> None:
    with pytest.raises(MessageRefused, match="trop de mots encodés"):
        check_email(hostile_subject(LIMITS.max_encoded_words + 1), Limits(max_header_kb=4096))
    check_email(hostile_subject(50), LIMITS)


def test_forty_thousand_headers_are_refused() -> None:
    payload = mail(BASE + "".join(f"X-H{i}: v\r\n" for i in range(40_000)))
    with pytest.raises(MessageRefused, match="trop d'en-têtes|en-tête trop long"):
        check_email(payload, Limits(max_header_kb=16384))


def test_ten_thousand_mime_parts_are_refused() -> None:
    parts = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(10_000))
    payload = mail(BASE + 'Content-Type: multipart/mixed; boundary="b"\r\n', parts + "--b--\r\n")
    with pytest.raises(MessageRefused, match="trop de parties MIME"):
        check_email(payload, LIMITS)


def test_deeply_nested_messages_are_refused() -> None:
    inner = "Subject: fond\r\n\r\nbonjour\r\n"
    for depth in range(50):
        inner = (
            f'Content-Type: multipart/mixed; boundary="b{depth}"\r\n\r\n--b{depth}\r\n'
            f"Content-Type: message/rfc822\r\n\r\n{inner}\r\n--b{depth}--\r\n"
        )
    with pytest.raises(MessageRefused, match="trop de messages imbriqués"):
        check_email((BASE + inner).encode(), LIMITS)


def test_an_oversized_message_is_refused_by_its_size() -> None:
    with pytest.raises(MessageRefused, match="message trop volumineux"):
        check_email(mail(BASE + "Subject: gros\r\n", "A" * (2 * 1024 * 1024)), Limits(max_message_mb=1))


# flanker's deliberately endless enclosure (3,043 MIME parts, ~5 s to parse): the one bomb of the corpora.
BOMBS = {"enclosed-endless.eml": "trop de parties MIME"}


@pytest.mark.parametrize("folder", [DATA, SHARED], ids=["tests-data", "shared-corpus"])
def test_every_real_mail_of_the_corpora_passes_and_the_bomb_does_not(folder: Path) -> None:
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder} (it is in ../shared/data beside the project)")
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in {".eml", ".txt", ".msg", ""}]
    assert len(files) > 10
    refused = {}
    for path in files:
        try:
            check_email(path.read_bytes(), LIMITS)
        except MessageRefused as exc:
            refused[path.name] = str(exc)
    assert set(refused) == set(BOMBS)
    assert all(BOMBS[name] in reason for name, reason in refused.items())
