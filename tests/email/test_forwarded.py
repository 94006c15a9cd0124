"""Tests for intake.email.forwarded and intake.email.markers: finding forwarded messages in a body."""

from __future__ import annotations

import pytest

from intake.email.forwarded import address_from_text, parse_header_block, unwrap
from intake.email.markers import (
    has_forward_prefix,
    has_reply_prefix,
    header_label,
    is_header_block,
    strip_forward_prefixes,
)
from intake.email.model import Address


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jean Dupont <Jean.Dupont@Exemple.fr>", Address("Jean Dupont", "jean.dupont@exemple.fr")),
        ("Jean Dupont [mailto:jean@x.fr]", Address("Jean Dupont", "jean@x.fr")),
        ("jean@x.fr", Address(None, "jean@x.fr")),
        ('"Dupont, Jean" <jean@x.fr>', Address("Dupont, Jean", "jean@x.fr")),
        ("Jean Dupont <jean@x.fr<mailto:jean@x.fr>>", Address("Jean Dupont", "jean@x.fr")),
        ("*Jean Dupont* <jean@x.fr>", Address("Jean Dupont", "jean@x.fr")),
        ("jean@x.fr <jean@x.fr>", Address(None, "jean@x.fr")),
        ("Jean Dupont", Address("Jean Dupont", None)),
        ("", None),
    ],
)
def test_address_from_text(value: str, expected: Address | None) -> None:
    assert address_from_text(value) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("De : Jean <j@x.fr>", ("from", "Jean <j@x.fr>")),
        ("De: Jean", ("from", "Jean")),
        ("*From:* Jean", ("from", "Jean")),
        ("Envoyé : lundi 3 mars 2025 10:12", ("date", "lundi 3 mars 2025 10:12")),
        ("À : Mairie", ("to", "Mairie")),
        ("Objet : TR: Lampadaire", ("subject", "TR: Lampadaire")),
        ("Sujet : \tNid-de-poule", ("subject", "Nid-de-poule")),
        ("Subject:\u00a0x", ("subject", "x")),
        ("Bonjour, de rien", None),
    ],
)
def test_header_label(line: str, expected: tuple[str, str] | None) -> None:
    assert header_label(line) == expected


def test_header_block_needs_from_date_and_subject_or_to() -> None:
    assert is_header_block(["From: a@b.fr", "Sent: Monday", "Subject: x"], 0)
    assert not is_header_block(["From: our database, not From: external sources.", "", "Hello"], 0)
    assert not is_header_block(["Objet : x", "De : a"], 0)


def test_wrapped_header_values_are_joined() -> None:
    lines = [
        "From: Human Resources ",
        "<hr@company.com> ",
        "Sent: Monday",
        "Subject: A new message",
        "",
        "Body",
    ]
    headers, body_start = parse_header_block(lines, 0)
    assert headers["from"] == "Human Resources <hr@company.com>"
    assert headers["subject"] == "A new message"
    assert lines[body_start:] == ["", "Body"]


def test_subject_prefixes() -> None:
    for subject in ("TR: x", "Tr : x", "Fwd: x", "FW: x", "[Fwd: x]", "WG: x"):
        assert has_forward_prefix(subject), subject
        assert not has_reply_prefix(subject), subject
    for subject in ("RE: x", "Re : x", "AW: x", "Réf: x"):
        assert has_reply_prefix(subject), subject
        assert not has_forward_prefix(subject), subject
    assert not has_forward_prefix("Travaux: rue Haute")
    assert strip_forward_prefixes("TR: Fwd: Lampadaire") == "Lampadaire"
    assert strip_forward_prefixes("TR: RE: Lampadaire") == "RE: Lampadaire"
    assert strip_forward_prefixes("[Fwd: Netscape vs. Apache]") == "Netscape vs. Apache"


GMAIL = """à traiter svp

---------- Forwarded message ---------
From: Sophie <sophie@gmail.com>
Date: Mon, Mar 3, 2025 at 10:12 AM
Subject: Dépôt sauvage
To: <mairie@ville.fr>


Bonjour, des sacs d'ordures.
"""


def test_explicit_marker_is_a_forward_even_without_context() -> None:
    found = unwrap(GMAIL, blocks_forward=False)
    assert found is not None
    assert found.note == "à traiter svp"
    [level] = found.levels
    assert level.sender == Address("Sophie", "sophie@gmail.com")
    assert level.subject == "Dépôt sauvage"
    assert level.words == "Bonjour, des sacs d'ordures."


OUTLOOK = (
    "Voir ci-dessous.\n\nDe : Jean <jean@x.fr>\nEnvoyé : lundi 3 mars 2025\n"
    "À : Mairie\nObjet : Banc\n\nLe banc est cassé."
)


def test_bare_outlook_block_depends_on_context() -> None:
    assert unwrap(OUTLOOK, blocks_forward=False) is None
    found = unwrap(OUTLOOK, blocks_forward=True)
    assert found is not None
    assert found.levels[0].sender == Address("Jean", "jean@x.fr")
    assert found.levels[0].words == "Le banc est cassé."


def test_reply_marker_first_means_not_a_forward() -> None:
    text = (
        "Merci.\n\nLe 3 mars 2025, Mairie <m@v.fr> a écrit :\n> ---------- Forwarded message ---------\n> From: x@y.fr"
    )
    assert unwrap(text, blocks_forward=True) is None


def test_nested_levels_follow_inner_subject_prefixes() -> None:
    text = (
        "note 1\n\nDe : Agent <agent@ville.fr>\nEnvoyé : mardi\nObjet : TR: Bruit\n\nnote 2\n\n"
        "De : Nadia <nadia@x.fr>\nEnvoyé : lundi\nObjet : Bruit\n\nTrop de bruit.\n\n"
        "De : Mairie <m@ville.fr>\nEnvoyé : dimanche\nObjet : RE: Bruit\n\nréponse citée"
    )
    found = unwrap(text, blocks_forward=True)
    assert found is not None
    assert [level.sender.email for level in found.levels if level.sender] == ["agent@ville.fr", "nadia@x.fr"]
    assert found.levels[0].words.strip() == "note 2"
    # The last block is under "Objet : Bruit" (no TR:), so it is quoted history of Nadia's message.
    assert found.levels[1].body.startswith("Trop de bruit.")
    assert "réponse citée" in found.levels[1].body
