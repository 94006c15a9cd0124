"""Data model of a parsed email: addresses, attachments and the message seen by the rest of Guichet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from intake.message import NO_ADDRESS, Address, ParsedAttachment, SkippedAttachment

__all__ = ["NO_ADDRESS", "Address", "EmailParseError", "ParsedAttachment", "ParsedEmail", "SkippedAttachment"]


class EmailParseError(ValueError):
    """Raised only when nothing at all can be got from the input bytes."""


@dataclass
class ParsedEmail:
    """Everything intake keeps from one email, after unwrapping forwards and splitting quotes."""

    message_id: str | None
    subject: str
    sender: Address
    forwarded_by: Address | None
    sender_phone: str | None
    citizen_recovered: bool
    header_from: Address
    reply_to: Address | None
    to: list[str]
    date: datetime | None
    in_reply_to: str | None
    references: list[str]
    text: str
    quoted: str
    signature: str
    body_text: str
    html: str | None
    attachments: list[ParsedAttachment]
    skipped_attachments: list[SkippedAttachment]
    auto_reply: bool
    auto_reply_reason: str | None
    defects: list[str]
    forwarded: bool = False
    forward_note: str = ""
    auto_reply_kind: str | None = None  # "automatic" | "noreply" | "own_domain" when auto_reply
    header_subject: str = ""
    cc: list[str] = field(default_factory=list)
