"""Data model of a parsed email: addresses, attachments and the message seen by the rest of Guichet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class EmailParseError(ValueError):
    """Raised only when nothing at all can be got from the input bytes."""


@dataclass(frozen=True)
class Address:
    """A mailbox: display name and lower-cased address, either possibly missing."""

    name: str | None
    email: str | None


NO_ADDRESS = Address(name=None, email=None)


@dataclass(frozen=True)
class ParsedAttachment:
    """A file that came with the message; origin says where it was found."""

    filename: str
    content_type: str
    payload: bytes
    origin: str  # "mime" | "tnef" | "rfc822" | "msg"
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        """Size of the decoded payload in bytes."""
        return len(self.payload)


@dataclass(frozen=True)
class SkippedAttachment:
    """A file that was dropped on purpose, with the French reason shown to staff."""

    filename: str
    content_type: str
    size: int
    reason: str


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
