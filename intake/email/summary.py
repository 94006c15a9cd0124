"""A small JSON-ready view of a ParsedEmail, as printed by the command line."""

from __future__ import annotations

from typing import Any

from .model import Address, ParsedEmail


def _address(address: Address) -> dict[str, str | None]:
    return {"name": address.name, "email": address.email}


def summarise(parsed: ParsedEmail) -> dict[str, Any]:
    """Sender, forwarder, subject, the citizen's words, attachments and the auto-reply flag."""
    return {
        "sender": _address(parsed.sender),
        "forwarded_by": _address(parsed.forwarded_by) if parsed.forwarded_by is not None else None,
        "subject": parsed.subject,
        "text": parsed.text,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in parsed.attachments
        ],
        "auto_reply": parsed.auto_reply,
    }
