"""Tests for intake.email.summary."""

from __future__ import annotations

from collections.abc import Callable

from intake.email.model import ParsedEmail
from intake.email.summary import summarise


def test_summary_of_a_forward(parsed: Callable[..., ParsedEmail]) -> None:
    summary = summarise(parsed("guichet/fwd_outlook_fr.eml"))
    assert summary == {
        "sender": {"name": "Jean Dupont", "email": "jean.dupont@exemple.fr"},
        "forwarded_by": {"name": "Marie Martin", "email": "marie.martin@ville-exemple.fr"},
        "subject": "Lampadaire en panne rue des Lilas",
        "text": summary["text"],
        "attachments": [{"filename": "lampadaire.jpg", "content_type": "image/jpeg", "size": 134}],
        "auto_reply": False,
    }
    assert summary["text"].startswith("Bonjour,\n\nLe lampadaire devant le 12 rue des Lilas")


def test_summary_of_a_direct_message(parsed: Callable[..., ParsedEmail]) -> None:
    summary = summarise(parsed("guichet/auto_reponse_automatique_fr.eml"))
    assert summary["forwarded_by"] is None
    assert summary["auto_reply"] is True
    assert summary["attachments"] == []
    assert list(summary) == ["sender", "forwarded_by", "subject", "text", "attachments", "auto_reply"]
