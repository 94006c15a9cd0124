"""Header decoding: RFC 2047 words, 8-bit headers, addresses, message ids and dates."""

from __future__ import annotations

import base64
import binascii
import email.utils
import quopri
import re
from datetime import UTC, datetime
from email.message import Message

from intake.masking import EMAIL

from .charset import clean_text, decode_bytes, recover_bytes
from .model import Address

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_FOLD = re.compile(r"\r?\n[ \t]*")
_MSGID = re.compile(r"<([^<>\s]+)>")
_MAX_HEADER = 10_000


def raw_header(msg: Message, name: str) -> str | None:
    """First raw value of a header, unfolded, or None; never raises."""
    values = raw_headers(msg, name)
    return values[0] if values else None


def raw_headers(msg: Message, name: str) -> list[str]:
    """All raw values of a header, unfolded, with 8-bit bytes kept as surrogate escapes."""
    wanted = name.lower()
    out: list[str] = []
    try:
        items = msg.raw_items()
        for key, value in items:
            if key.lower() == wanted:
                out.append(_FOLD.sub(" ", str(value))[:_MAX_HEADER].strip())
    except Exception:  # a broken header list must not sink the message
        return out
    return out


def _decode_word(charset: str, encoding: str, text: str) -> str:
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix: =?utf-8*fr?Q?...?=
    if encoding.lower() == "b":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
        try:
            data = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            return text
    else:
        data = quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"), header=False)
    return decode_bytes(data, charset)


def decode_header_value(value: str | None) -> str:
    """Decode a raw header: 8-bit bytes, then RFC 2047 encoded words, leniently; never raises."""
    if not value:
        return ""
    raw = recover_bytes(value)
    text = decode_bytes(raw, "utf-8") if not raw.isascii() else value
    if "=?" in text:
        text = _BETWEEN_WORDS.sub(r"\1\2", text)
        text = _ENCODED_WORD.sub(lambda m: _decode_word(m.group(1), m.group(2), m.group(3)), text)
    return clean_text(_FOLD.sub(" ", text)).replace("\n", " ").strip()


def _clean_name(name: str) -> str | None:
    name = name.strip().strip("\"'").strip()
    return name or None


def parse_address_list(value: str | None) -> list[Address]:
    """Parse an address header (or a free text one) into Addresses; emails lower-cased."""
    if not value:
        return []
    out: list[Address] = []
    try:
        pairs = email.utils.getaddresses([value])
    except Exception:  # the stdlib parser trips on some hostile inputs
        pairs = []
    for name, addr in pairs:
        addr = decode_header_value(addr).strip().strip("<>")
        found = EMAIL.fullmatch(addr)
        if not found:
            continue
        out.append(Address(name=_clean_name(decode_header_value(name)), email=addr.lower()))
    if out:
        return out
    decoded = decode_header_value(value)
    emails = [m.group(0) for m in EMAIL.finditer(decoded)]
    if len(emails) == 1:
        rest = re.sub(r"[<>\[\]()]|mailto:", " ", decoded.replace(emails[0], ""))
        return [Address(name=_clean_name(" ".join(rest.split())), email=emails[0].lower())]
    return [Address(name=None, email=addr.lower()) for addr in emails]


def parse_address(value: str | None) -> Address | None:
    """The first address of a header, or an Address with only a name, or None when empty."""
    found = parse_address_list(value)
    if found:
        return found[0]
    decoded = decode_header_value(value)
    name = _clean_name(re.sub(r"[<>\[\]]", " ", decoded))
    return Address(name=name, email=None) if name else None


def parse_msgid(value: str | None) -> str | None:
    """A message id without angle brackets."""
    if not value:
        return None
    match = _MSGID.search(value)
    if match:
        return match.group(1)
    token = value.strip().split()
    return token[0].strip("<>") or None if token else None


def parse_msgids(value: str | None) -> list[str]:
    """All message ids of a References-like header, in order, without angle brackets."""
    if not value:
        return []
    found = _MSGID.findall(value)
    return found if found else [t.strip("<>") for t in value.split() if t.strip("<>")]


def parse_date(value: str | None) -> datetime | None:
    """A timezone-aware datetime (UTC when the header has none), or None when unreadable."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header_value(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
