"""Attachments: safe file names, size and count limits, TNEF (winmail.dat) and Outlook .msg unpacking."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field

from striprtf.striprtf import rtf_to_text

from .charset import clean_text, decode_bytes
from .mime import Candidate

MAX_FILENAME = 200
TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MIME_TYPES = mimetypes.MimeTypes()  # built-in table only, so names do not depend on /etc/mime.types
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "text/plain": ".txt",
    "message/rfc822": ".eml",
    "application/octet-stream": ".bin",
    "image/heic": ".heic",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-outlook": ".msg",
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}


@dataclass
class Unpacked:
    """Files and text found inside a container (TNEF or .msg)."""

    files: list[Candidate] = field(default_factory=list)
    text: str = ""
    html: str = ""
    subject: str = ""
    sender: str = ""
    defects: list[str] = field(default_factory=list)


def extension_for(content_type: str) -> str:
    """A file extension for a content type, ".bin" when unknown."""
    ext = _EXTENSIONS.get(content_type) or _MIME_TYPES.guess_extension(content_type, strict=False)
    return ext or ".bin"


def guess_type(filename: str) -> str:
    """Content type guessed from a file name, application/octet-stream when unknown."""
    guessed, _ = _MIME_TYPES.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def safe_filename(name: str | None, *, content_type: str, index: int) -> str:
    """A file name safe to store and show: no directories, no control characters, at most 200 chars."""
    cleaned = clean_text(name or "").replace("\n", " ")
    cleaned = cleaned.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = " ".join(_UNSAFE.sub("_", cleaned).split()).lstrip(". ").rstrip(". ")
    if not cleaned:
        return f"piece-jointe-{index}{extension_for(content_type)}"
    if len(cleaned) > MAX_FILENAME:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            cleaned = f"{stem[: MAX_FILENAME - len(ext) - 1]}.{ext}"
        else:
            cleaned = cleaned[:MAX_FILENAME]
    return cleaned


def human_size(size: int) -> str:
    """A French human-readable size: 23 Mo, 1,5 Mo, 12 Ko, 300 octets."""
    if size >= 1024 * 1024:
        value, unit = size / (1024 * 1024), "Mo"
    elif size >= 1024:
        value, unit = size / 1024, "Ko"
    else:
        return f"{size} octets"
    text = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}".replace(".", ",")
    return f"{text} {unit}"


def is_tnef(candidate: Candidate) -> bool:
    """Whether a part is a TNEF (winmail.dat) container."""
    return (
        candidate.content_type in TNEF_TYPES
        or (candidate.filename or "").lower() == "winmail.dat"
        or candidate.payload[:4] == TNEF_SIGNATURE
    )


def is_msg(candidate: Candidate) -> bool:
    """Whether a part is an Outlook .msg file (an OLE compound document)."""
    named = (candidate.filename or "").lower().endswith(".msg") or candidate.content_type in {
        "application/vnd.ms-outlook",
        "application/x-msg",
    }
    return named and candidate.payload[:8] == OLE_SIGNATURE


def is_eml(candidate: Candidate) -> bool:
    """Whether a part is an attached email file (.eml, or message/rfc822 the parser could not open)."""
    return candidate.content_type in {"message/rfc822", "message/global", "message/news"} or (
        (candidate.filename or "").lower().endswith(".eml")
    )


def _rtf_to_text(rtf: bytes) -> str:
    """The text of an RTF body (striprtf: destinations skipped, \\uN and \\'hh decoded in the font's code page)."""
    # RTF is 7-bit text; latin-1 keeps any stray 8-bit byte as one character instead of failing.
    text: str = rtf_to_text(rtf.decode("latin-1"), errors="replace")  # type: ignore[no-untyped-call]
    return clean_text(re.sub(r"\n{3,}", "\n\n", text.replace("\r", ""))).strip()


def unpack_tnef(data: bytes) -> Unpacked:
    """Files and body of a TNEF container; a broken one gives what could be read plus a defect."""
    out = Unpacked()
    try:
        from tnefparse import TNEF  # lazy: only winmail.dat needs it

        tnef = TNEF(data)
    except Exception as exc:  # tnefparse raises many kinds of errors on damaged files
        out.defects.append(f"winmail.dat illisible ({type(exc).__name__})")
        return out
    for number, attachment in enumerate(getattr(tnef, "attachments", []) or [], start=1):
        try:
            name = attachment.long_filename() or attachment.name
        except Exception:  # missing or undecodable name properties
            name = getattr(attachment, "name", None)
        if isinstance(name, bytes):
            name = decode_bytes(name, None)
        payload = attachment.data if isinstance(attachment.data, bytes) else b""
        filename = safe_filename(str(name) if name else None, content_type="application/octet-stream", index=number)
        out.files.append(Candidate(filename=filename, content_type=guess_type(filename), payload=payload))
    out.text, out.html = _tnef_bodies(tnef, out.defects)
    if not out.files and not out.text and not out.html:
        # tnefparse accepts a bare signature followed by garbage without complaint.
        out.defects.append("winmail.dat illisible (aucun fichier ni texte)")
    for obj in getattr(tnef, "objects", []) or []:
        if getattr(obj, "name", None) == TNEF.ATTSUBJECT and isinstance(obj.data, bytes):
            out.subject = decode_bytes(obj.data.rstrip(b"\x00"), None).strip()
    return out


def _tnef_bodies(tnef: object, defects: list[str]) -> tuple[str, str]:
    def text_of(value: object) -> str:
        if isinstance(value, bytes):
            return decode_bytes(value.rstrip(b"\x00"), None)
        return clean_text(value) if isinstance(value, str) else ""

    body = text_of(getattr(tnef, "body", None))
    html = text_of(getattr(tnef, "htmlbody", None))
    if not body and not html:
        try:
            rtf = getattr(tnef, "rtfbody", None)
        except Exception as exc:  # compressed RTF that does not decompress
            defects.append(f"corps RTF illisible ({type(exc).__name__})")
            rtf = None
        if isinstance(rtf, bytes):
            try:
                body = _rtf_to_text(rtf)
            except Exception as exc:  # striprtf on a code page Python lacks, or a malformed group structure
                defects.append(f"corps RTF illisible ({type(exc).__name__})")
    return body, html


def unpack_msg(data: bytes) -> Unpacked:
    """Sender, subject, bodies and files of an Outlook .msg; a broken one gives a defect only."""
    out = Unpacked()
    try:
        import extract_msg  # lazy: heavy, and only Outlook drag-and-drop attachments need it

        msg = extract_msg.openMsg(data, strict=False)
    except Exception as exc:  # olefile/extract_msg raise many kinds of errors on damaged files
        out.defects.append(f"fichier .msg illisible ({type(exc).__name__})")
        return out
    try:
        out.subject = clean_text(str(getattr(msg, "subject", "") or "")).strip()
        out.sender = clean_text(str(getattr(msg, "sender", "") or "")).strip()
        out.text = clean_text(str(getattr(msg, "body", "") or ""))
        html = getattr(msg, "htmlBody", None)
        out.html = decode_bytes(html, None) if isinstance(html, bytes) else ""
        for number, attachment in enumerate(getattr(msg, "attachments", []) or [], start=1):
            payload = getattr(attachment, "data", None)
            if not isinstance(payload, bytes):
                out.defects.append("message Outlook imbriqué dans un .msg ignoré")
                continue
            name = getattr(attachment, "longFilename", None) or getattr(attachment, "shortFilename", None)
            filename = safe_filename(name, content_type="application/octet-stream", index=number)
            out.files.append(Candidate(filename=filename, content_type=guess_type(filename), payload=payload))
    except Exception as exc:  # lazily read properties can fail late on damaged streams
        out.defects.append(f"fichier .msg partiellement illisible ({type(exc).__name__})")
    finally:
        try:
            msg.close()
        except Exception:  # closing a damaged OLE file must not matter
            out.defects.append("fichier .msg mal fermé")
    return out
