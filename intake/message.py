"""The one inbound message type: what every door's parser produces and every pipeline stage reads."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RawInput:
    """A stored raw message as the parsers see it: plain values, no database session."""

    id: int
    channel: str
    source: str | None
    external_key: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True)
class Address:
    """A mailbox: display name and lower-cased address, either possibly missing."""

    name: str | None
    email: str | None


NO_ADDRESS = Address(name=None, email=None)


@dataclass(frozen=True)
class ParsedAttachment:
    """A file that came with the message; origin says where it was found (mime, tnef, twilio, open311, ...)."""

    filename: str
    content_type: str
    payload: bytes
    origin: str
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


@dataclass(frozen=True)
class Position:
    """A point given with the message itself: a WhatsApp location share, an app's pin, an agent's point."""

    lat: float
    lon: float
    source: str = "pin"  # pin (the citizen's own) | agent (placed by staff)
    label: str | None = None


@dataclass(frozen=True)
class CategoryHint:
    """A category chosen before Guichet read the message: in an app (Open311 service_code) or by staff."""

    code: str
    source: str  # app | agent


@dataclass(frozen=True)
class Transcript:
    """A machine transcript of a voicemail: what the engine heard, how sure it was, and of which recording.

    `key` is the engine's natural key (Twilio's transcript SID GT…), `recording_sid` the recording's (RE…);
    `confidence` is the engine's mean confidence in [0, 1] when it gives one (Twilio's old recording
    transcriptions gave none), `status` the engine's final word ("completed" or "failed").
    """

    key: str
    recording_sid: str
    engine: str
    status: str
    text: str
    confidence: float | None = None
    error: str = ""  # why the engine gave nothing (French), when it failed


@dataclass(frozen=True)
class InboundMessage:
    """A message as a door understood it, whatever the channel; immutable once parsed.

    `channel` is the channel the citizen used (email, sms, whatsapp, voice, open311, telephone, accueil,
    courrier): it decides how they are answered. `answer_to` is where an answer goes on that channel (the
    Twilio address "whatsapp:+33…" on WhatsApp, the phone number for SMS); email answers go to `sender.email`.
    `sender` and `sender_phone` identify the citizen and come only from the channel itself (the mail's sender,
    the SMS number, the fields staff typed); a number read in the text is `phone_in_text`, which identifies nobody.
    """

    channel: str
    text: str
    sender: Address = NO_ADDRESS
    sender_phone: str | None = None
    # A phone number read in the free text (an email's signature): shown to agents, never a contact's identity.
    phone_in_text: str | None = None
    answer_to: str | None = None
    subject: str = ""
    quoted: str = ""
    signature: str = ""
    html: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    header_from: Address = NO_ADDRESS
    forwarded_by: Address | None = None
    forwarded: bool = False
    forward_note: str = ""
    citizen_recovered: bool = True
    auto_reply: bool = False
    auto_reply_kind: str | None = None  # automatic | noreply | own_domain
    auto_reply_reason: str | None = None
    position: Position | None = None
    category_hint: CategoryHint | None = None
    entered_by: str | None = None
    attachments: tuple[ParsedAttachment, ...] = ()
    skipped_attachments: tuple[SkippedAttachment, ...] = ()
    defects: tuple[str, ...] = ()
    # Voicemail only: the machine transcript read with the recording (a local engine), the engine's key of a
    # transcript asked for and still to come (Twilio), and, on a transcript arriving later, the recording it is of.
    transcript: Transcript | None = None
    transcript_pending: str | None = None
    transcript_of: str | None = None

    def but(self, **changes: Any) -> InboundMessage:
        """A copy with some fields changed (the message itself stays immutable)."""
        return replace(self, **changes)


class MessageRefused(Exception):
    """A message over one of the town's limits; the French reason is shown to agents as it is."""


# Channels whose citizens are answered by text message, and every channel that comes from a phone.
TEXT_CHANNELS = frozenset({"sms", "whatsapp"})
PHONE_CHANNELS = TEXT_CHANNELS | {"voice"}
# Channels of the back office's staff entry (a phone call, a visit, a letter typed in by reception).
STAFF_CHANNEL_NAMES = frozenset({"telephone", "accueil", "courrier"})
