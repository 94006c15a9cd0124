"""Tests for intake.email.content: opening enclosed messages within depth and part budgets."""

from __future__ import annotations

import email
import email.policy

from intake.email.content import MAX_MESSAGE_DEPTH, Budget, open_message, open_raw


def _nested(levels: int) -> bytes:
    body = b"From: citoyen@exemple.fr\nSubject: niveau 0\n\nLe fond.\n"
    for level in range(1, levels + 1):
        body = (
            (
                b"From: relais%d@exemple.fr\nSubject: niveau %d\n"
                b'Content-Type: multipart/mixed; boundary="b%d"\n\n'
                b"--b%d\nContent-Type: message/rfc822\n\n" % (level, level, level, level)
            )
            + body
            + b"\n--b%d--\n" % level
        )
    return body


def _depth(content: object) -> int:
    enclosed = getattr(content, "enclosed", [])
    return 1 + max((_depth(inner) for inner in enclosed), default=0)


def test_enclosed_messages_are_opened_down_to_the_depth_limit() -> None:
    msg = email.message_from_bytes(_nested(8), policy=email.policy.compat32)
    content = open_message(msg)
    assert _depth(content) == MAX_MESSAGE_DEPTH
    deepest = content
    while deepest.enclosed:
        deepest = deepest.enclosed[0]
    assert "message joint trop imbriqué : gardé comme fichier sans être ouvert" in deepest.defects
    assert [origin for _, origin in deepest.files] == ["rfc822"]


def test_shallow_enclosed_message_is_fully_opened() -> None:
    content = open_message(email.message_from_bytes(_nested(2), policy=email.policy.compat32))
    inner = content.enclosed[0].enclosed[0]
    assert (inner.subject, inner.text, inner.origin) == ("niveau 0", "Le fond.", "rfc822")
    assert inner.header_from is not None and inner.header_from.email == "citoyen@exemple.fr"


def test_part_budget_is_shared_by_all_levels() -> None:
    budget = Budget(parts=3)
    open_message(email.message_from_bytes(_nested(4), policy=email.policy.compat32), budget=budget)
    assert budget.parts <= 0


def test_open_raw_reads_plain_text_without_headers() -> None:
    notes: list[str] = []
    _, content = open_raw("Bonjour, le banc est cassé.\n".encode(), notes=notes)
    assert content.text == "Bonjour, le banc est cassé."
    assert notes[-1] == "aucun en-tête lisible : contenu lu comme du texte brut"
