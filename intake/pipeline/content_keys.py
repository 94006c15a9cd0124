"""The content half of a raw message's natural key: what tells two messages apart under one Message-ID or SID."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from urllib.parse import parse_qsl

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_SPACES = re.compile(r"\s+")


def _digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big") + data)  # length-prefixed: no two splits hash alike
    return hasher.hexdigest()


def _collapsed(value: object) -> str:
    return _SPACES.sub(" ", str(value or "")).strip()


def email_fingerprint(raw: bytes) -> str:
    """What identifies an email's content under its Message-ID: sender, date and body.

    Headers that transport adds or rewrites (Received, Delivered-To, X-Spam-*, the Message-ID itself) are left
    out, so that a re-delivery of the same mail is recognised; line endings and trailing blank lines of the body
    are normalised for the same reason (one server stores CRLF, another LF).
    """
    match = _BLANK_LINE.search(raw)
    head, body = (raw[: match.start()], raw[match.end() :]) if match else (raw, b"")
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(head[:65536] + b"\n\n")
        from_value, date_value = str(headers.get("From", "") or ""), str(headers.get("Date", "") or "")
    except Exception:  # headers too broken to parse: the body still tells messages apart
        from_value = date_value = ""
    senders = [addr.lower() for _name, addr in getaddresses([from_value]) if addr]
    sender = ",".join(senders) or _collapsed(from_value).lower()
    try:
        date = parsedate_to_datetime(date_value).isoformat()
    except (TypeError, ValueError, IndexError):
        date = _collapsed(date_value)
    text = body.replace(b"\r\n", b"\n").rstrip(b"\r\n\t ")
    return _digest("email", sender, date, hashlib.sha256(text).digest())


def _form(payload: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in parse_qsl(payload.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(key, value)
    return out


def twilio_message_fingerprint(payload: bytes) -> str:
    """What identifies an inbound SMS/WhatsApp under its MessageSid: sender, recipient, text and media.

    Only what both the webhook and the API poll carry: the webhook adds FromCity, ProfileName… that the poll
    cannot know, and the same message seen by both must keep one row. Media are named by their ME… id, the
    last part of the URL, whichever API host built it.
    """
    form = _form(payload)
    count = min(int(form["NumMedia"]) if form.get("NumMedia", "").isdigit() else 0, 10)
    media = [form.get(f"MediaUrl{i}", "").rstrip("/").rsplit("/", 1)[-1] for i in range(count)]
    text = form.get("Body", "").replace("\r\n", "\n").rstrip()
    return _digest("twilio-message", form.get("From", ""), form.get("To", ""), text, *media)


def twilio_recording_fingerprint(payload: bytes) -> str:
    """What identifies a voicemail under its RecordingSid: the call, the recording's URL, caller and number."""
    form = _form(payload)
    return _digest(
        "twilio-recording",
        form.get("CallSid", ""),
        form.get("RecordingUrl", ""),
        form.get("From", ""),
        form.get("To", ""),
    )


def payload_fingerprint(payload: bytes) -> str:
    """Doors whose payload is built by Guichet itself (Open311, staff entry): the payload is the content."""
    return hashlib.sha256(payload).hexdigest()


FINGERPRINTS: dict[str, Callable[[bytes], str]] = {
    "email": email_fingerprint,
    "sms": twilio_message_fingerprint,
    "voice": twilio_recording_fingerprint,
}


def content_key(channel: str, payload: bytes) -> str:
    """The content half of a raw message's natural key (the other half is the channel's own key)."""
    return FINGERPRINTS.get(channel, payload_fingerprint)(payload)
