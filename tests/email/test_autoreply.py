"""Tests for intake.email.autoreply: every rule that marks a message as automatic."""

from __future__ import annotations

import email
import email.policy

import pytest

from intake.email.autoreply import auto_reply_reason, auto_reply_verdict, in_domains
from intake.email.model import Address

HUMAN = Address("Jean Dupont", "jean@exemple.fr")


def _msg(headers: str) -> email.message.Message:
    return email.message_from_string(headers + "\n\nCorps\n", policy=email.policy.compat32)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated; type=vacation", "Auto-Submitted: auto-generated; type=vacation"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Autorespond: Je suis absent", "X-Autorespond: Je suis absent"),
        ("X-Auto-Response-Suppress: OOF, AutoReply", "X-Auto-Response-Suppress: OOF, AutoReply"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("List-Id: <liste.exemple.fr>", "List-Id (liste de diffusion)"),
        ("List-Unsubscribe: <mailto:u@exemple.fr>", "List-Unsubscribe (liste de diffusion)"),
        ("Return-Path: <>", "Return-Path: <> (message de service)"),
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
            "Content-Type: multipart/report (avis de non-remise ou de lecture)",
        ),
    ],
)
def test_header_rules(headers: str, reason: str) -> None:
    assert auto_reply_reason(_msg(headers), header_from=HUMAN, subject="Bonjour") == reason


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: no",
        "Precedence: first-class",
        "X-Auto-Response-Suppress: DR, RN",
        "Return-Path: <a@b.fr>",
    ],
)
def test_harmless_headers(headers: str) -> None:
    assert auto_reply_reason(_msg(headers), header_from=HUMAN, subject="Bonjour") is None


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.exemple.fr", "postmaster@x.fr", "bounces+123@list.fr"])
def test_system_senders(sender: str) -> None:
    verdict = auto_reply_verdict(_msg("X-A: b"), header_from=Address(None, sender.lower()), subject="Info")
    assert verdict == ("automatic", f"expéditeur automatique ({sender.lower()})")


@pytest.mark.parametrize(
    "sender",
    ["noreply@x.fr", "no-reply@x.fr", "ne-pas-repondre@x.fr", "nepasrepondre@impots.gouv.fr", "do-not-reply@x.fr"],
)
def test_noreply_senders_are_not_answered_but_not_robots(sender: str) -> None:
    verdict = auto_reply_verdict(_msg("X-A: b"), header_from=Address(None, sender.lower()), subject="Info")
    assert verdict == ("noreply", f"expéditeur qui n'accepte pas de réponse ({sender.lower()})")


@pytest.mark.parametrize(
    "subject",
    [
        "Réponse automatique : Votre signalement",
        "Absence du bureau",
        "Out of Office: back Monday",
        "Automatic reply: x",
        "Undeliverable: x",
        "Delivery Status Notification (Failure)",
        "Message non remis : x",
        "RE: Out of office",
    ],
)
def test_subjects(subject: str) -> None:
    expected = None if subject.startswith("RE:") else f"objet de réponse automatique ({subject})"
    assert auto_reply_reason(_msg("X-A: b"), header_from=HUMAN, subject=subject) == expected


def test_own_domain_judged_on_the_citizen_not_the_forwarding_staff() -> None:
    staff = Address("Marie", "marie@ville-exemple.fr")
    msg = _msg("X-A: b")
    assert (
        auto_reply_reason(msg, header_from=staff, subject="TR: x", sender=HUMAN, own_domains=("ville-exemple.fr",))
        is None
    )
    assert (
        auto_reply_reason(msg, header_from=staff, subject="x", sender=staff, own_domains=("ville-exemple.fr",))
        == "message de notre propre domaine (marie@ville-exemple.fr)"
    )


def test_in_domains_includes_subdomains_only() -> None:
    assert in_domains(Address(None, "a@mail.ville.fr"), ("ville.fr",))
    assert not in_domains(Address(None, "a@notreville.fr"), ("ville.fr",))
    assert not in_domains(Address("Nom", None), ("ville.fr",))
