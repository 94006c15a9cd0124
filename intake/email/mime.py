"""Loading MIME messages leniently and walking their parts into bodies, files and enclosed messages."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import Message

import mailparser

from .charset import decode_bytes
from .headers import decode_header_value

MAX_PARTS = 500
MAX_MULTIPART_DEPTH = 30
# Machine-readable parts of bounces and receipts: neither words nor files (the stdlib even parses
# delivery-status into a list of header blocks, which must not be walked as text parts).
_SKIPPED = {"message/delivery-status", "message/disposition-notification", "text/rfc822-headers"}


@dataclass
class Candidate:
    """A part that looks like a file, before limits and unpacking."""

    filename: str | None
    content_type: str
    payload: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class Walked:
    """The content of one message level: bodies, files and the messages it encloses."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    files: list[Candidate] = field(default_factory=list)
    enclosed: list[Message] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    is_report: bool = False


def load_message(raw: bytes, *, notes: list[str]) -> Message:
    """Parse bytes with mail-parser (for its defect report), falling back to the stdlib parser."""
    try:
        parsed = mailparser.parse_from_bytes(raw)
        for category in sorted(parsed.defects_categories):
            notes.append(f"défaut MIME : {category}")
        message: Message = parsed.message
        return message
    except Exception as exc:  # mail-parser gives up on some hostile inputs that the stdlib still reads
        notes.append(f"mail-parser a échoué ({type(exc).__name__}), analyse de secours")
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def part_payload(part: Message, *, notes: list[str]) -> bytes:
    """Decoded payload bytes of a leaf part (base64, quoted-printable, uuencode), never raising."""
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # broken transfer encodings: keep the raw text rather than nothing
        notes.append(f"encodage de transfert illisible ({type(exc).__name__})")
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # malformed RFC 2231 parameters
        name = None
    if name is None:
        return None
    return decode_header_value(str(name)) or None


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:  # unparsable Content-Disposition: treat as absent
        return ""


def _text(part: Message, *, notes: list[str]) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:  # a charset parameter the stdlib cannot even read
        charset = None
    return decode_bytes(part_payload(part, notes=notes), charset, notes=notes)


def walk(message: Message, *, max_parts: int = MAX_PARTS) -> Walked:
    """Walk one message level; enclosed message/rfc822 parts are returned whole, not entered."""
    out = Walked()
    out.is_report = message.get_content_type() == "multipart/report"
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > max_parts:
            out.defects.append(f"plus de {max_parts} parties MIME : le reste est ignoré")
            break
        _visit(part, depth, stack, out)
    return out


def _visit(part: Message, depth: int, stack: list[tuple[Message, int]], out: Walked) -> None:
    ctype = part.get_content_type()
    payload = part.get_payload()
    if ctype in {"message/rfc822", "message/global", "message/news"} and isinstance(payload, list):
        out.enclosed.extend(p for p in payload[:1] if isinstance(p, Message))
        return
    if ctype in _SKIPPED:
        return
    if isinstance(payload, list):
        if depth >= MAX_MULTIPART_DEPTH:
            out.defects.append("imbrication MIME trop profonde : parties ignorées")
            return
        # Reversed so that popping from the stack visits parts in their order.
        stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
        return
    if part.get_content_maintype() == "multipart":
        out.defects.append(f"{ctype} sans parties lisibles, lu comme texte")
        out.plain.append(_text(part, notes=out.defects))
        return
    filename = _filename(part)
    disposition = _disposition(part)
    if ctype in {"text/plain", "text/html"} and filename is None and disposition != "attachment":
        (out.plain if ctype == "text/plain" else out.html).append(_text(part, notes=out.defects))
        return
    content_id = decode_header_value(str(part.get("Content-ID", "") or "")).strip("<> ") or None
    out.files.append(
        Candidate(
            filename=filename,
            content_type=ctype,
            payload=part_payload(part, notes=out.defects),
            content_id=content_id,
            inline=disposition == "inline" or (disposition == "" and content_id is not None),
        )
    )
