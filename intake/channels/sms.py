"""Twilio webhook bodies (SMS, MMS, WhatsApp, voicemail recordings) decoded into typed messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from intake.phones import is_whatsapp, strip_whatsapp, to_e164


@dataclass(frozen=True)
class MediaRef:
    """A media file announced by Twilio (MediaUrl{i} / MediaContentType{i}), not yet downloaded."""

    url: str
    content_type: str


@dataclass(frozen=True)
class ParsedSms:
    """An inbound SMS/MMS or WhatsApp message."""

    channel: str  # "sms" | "whatsapp"
    message_sid: str
    sender: str  # as sent by Twilio, "whatsapp:" prefix removed
    sender_e164: str | None
    to: str
    body: str
    profile_name: str | None
    media: list[MediaRef] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    label: str | None = None

    @property
    def reply_to(self) -> str | None:
        """The Twilio address to answer to (with the "whatsapp:" prefix on WhatsApp)."""
        if not self.sender_e164:
            return None
        return f"whatsapp:{self.sender_e164}" if self.channel == "whatsapp" else self.sender_e164

    @property
    def has_location(self) -> bool:
        """True for a WhatsApp location share."""
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class ParsedVoice:
    """A voicemail recording callback."""

    recording_sid: str
    recording_url: str
    duration: int | None
    call_sid: str | None
    sender: str | None
    sender_e164: str | None
    to: str | None


def _fields(payload: bytes) -> dict[str, str]:
    # Twilio repeats no key; keep the first value if a forged body does.
    out: dict[str, str] = {}
    for key, value in parse_qsl(payload.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(key, value)
    return out


def _float(value: str | None, low: float, high: float) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and low <= number <= high else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def parse_sms(payload: bytes) -> ParsedSms:
    """Decode an inbound message webhook body (application/x-www-form-urlencoded)."""
    f = _fields(payload)
    raw_from = f.get("From", "")
    sender = strip_whatsapp(raw_from)
    media = []
    for i in range(min(_int(f.get("NumMedia")) or 0, 10)):
        url = f.get(f"MediaUrl{i}")
        if url:
            media.append(MediaRef(url=url, content_type=(f.get(f"MediaContentType{i}") or "").lower()))
    lat = _float(f.get("Latitude"), -90, 90)
    lon = _float(f.get("Longitude"), -180, 180)
    if lat is None or lon is None:
        lat = lon = None
    return ParsedSms(
        channel="whatsapp" if is_whatsapp(raw_from) else "sms",
        message_sid=f.get("MessageSid") or f.get("SmsMessageSid") or f.get("SmsSid") or "",
        sender=sender,
        sender_e164=to_e164(sender),
        to=strip_whatsapp(f.get("To", "")),
        body=f.get("Body", ""),
        profile_name=f.get("ProfileName") or None,
        media=media,
        latitude=lat,
        longitude=lon,
        address=f.get("Address") or None,
        label=f.get("Label") or None,
    )


def parse_voice(payload: bytes) -> ParsedVoice:
    """Decode a recording status callback (RecordingSid, RecordingUrl, RecordingDuration, CallSid, From, To)."""
    f = _fields(payload)
    sender = f.get("From") or f.get("Caller") or None
    return ParsedVoice(
        recording_sid=f.get("RecordingSid", ""),
        recording_url=f.get("RecordingUrl", ""),
        duration=_int(f.get("RecordingDuration")),
        call_sid=f.get("CallSid") or None,
        sender=sender,
        sender_e164=to_e164(sender),
        to=f.get("To") or f.get("Called") or None,
    )
