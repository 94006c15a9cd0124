"""One message level opened: headers, text, HTML, files, and the messages it encloses (opened too)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import Message

from .attachments import OLE_SIGNATURE, TNEF_SIGNATURE, is_eml, is_msg, is_tnef, unpack_msg, unpack_tnef
from .headers import decode_header_value, parse_address, parse_msgid, raw_header
from .html import html_to_text
from .mime import MAX_PARTS, Candidate, load_message, walk
from .model import Address

MAX_MESSAGE_DEPTH = 5


@dataclass
class Budget:
    """Parts left to visit over the whole message tree, so that a nested-message bomb stays cheap."""

    parts: int = MAX_PARTS


@dataclass
class Content:
    """A message level: its headers, bodies, files (with their origin) and its enclosed messages."""

    header_from: Address | None
    subject: str
    in_reply_to: str | None
    text: str
    html: str | None
    origin: str  # where this level came from: "mime" (the outer message), "rfc822", "msg"
    files: list[tuple[Candidate, str]] = field(default_factory=list)
    enclosed: list[Content] = field(default_factory=list)
    is_report: bool = False
    source: Candidate | None = None  # the file this level was opened from, to list it if not used
    parent_origin: str = "mime"  # origin to give ``source`` when listed as a plain attachment
    defects: list[str] = field(default_factory=list)


def _message_bytes(msg: Message) -> bytes:
    try:
        return msg.as_bytes(policy=email.policy.compat32)
    except Exception:  # the generator chokes on some damaged messages; keep a lossy copy
        try:
            return msg.as_string(policy=email.policy.compat32).encode("utf-8", "surrogateescape")
        except Exception:  # nothing serialisable left
            return b""


def open_message(
    msg: Message,
    *,
    origin: str = "mime",
    depth: int = 0,
    budget: Budget | None = None,
    extra: list[Candidate] | None = None,
) -> Content:
    """Walk one message, unpack TNEF files and open enclosed .eml/.msg/message/rfc822, depth-limited."""
    budget = budget if budget is not None else Budget()
    walked = walk(msg, max_parts=max(budget.parts, 1))
    budget.parts -= len(walked.plain) + len(walked.html) + len(walked.files) + len(walked.enclosed) + 1
    html_raw = "\n".join(walked.html) if walked.html else None
    text = "\n".join(part.strip("\n") for part in walked.plain if part.strip())
    if not text and html_raw:
        text = html_to_text(html_raw)
    content = Content(
        header_from=parse_address(raw_header(msg, "From")),
        subject=decode_header_value(raw_header(msg, "Subject")),
        in_reply_to=parse_msgid(raw_header(msg, "In-Reply-To")),
        text=text,
        html=html_raw,
        origin=origin,
        is_report=walked.is_report,
        defects=list(walked.defects),
    )
    for inner in walked.enclosed:
        source = Candidate(filename=None, content_type="message/rfc822", payload=b"")
        _enclose(content, inner, source=source, depth=depth, budget=budget)
    for candidate in (extra or []) + walked.files:
        _add_file(content, candidate, depth=depth, budget=budget)
    return content


def _enclose(content: Content, inner: Message, *, source: Candidate, depth: int, budget: Budget) -> None:
    if not source.payload:
        source.payload = _message_bytes(inner)
    if depth + 1 >= MAX_MESSAGE_DEPTH or budget.parts <= 0:
        content.defects.append("message joint trop imbriqué : gardé comme fichier sans être ouvert")
        content.files.append((source, content.origin))
        return
    opened = open_message(inner, origin="rfc822", depth=depth + 1, budget=budget)
    opened.source = source
    opened.parent_origin = content.origin
    content.enclosed.append(opened)


def _add_file(content: Content, candidate: Candidate, *, depth: int, budget: Budget) -> None:
    if is_tnef(candidate):
        unpacked = unpack_tnef(candidate.payload)
        content.defects.extend(unpacked.defects)
        if not unpacked.files and not unpacked.text and not unpacked.html:
            content.files.append((candidate, content.origin))
            return
        content.files.extend((f, "tnef") for f in unpacked.files)
        if not content.text.strip():
            content.text = unpacked.text or html_to_text(unpacked.html)
        if not content.subject and unpacked.subject:
            content.subject = unpacked.subject
        return
    if is_msg(candidate) and depth + 1 < MAX_MESSAGE_DEPTH:
        unpacked = unpack_msg(candidate.payload)
        content.defects.extend(unpacked.defects)
        if not (unpacked.sender or unpacked.text or unpacked.files):
            content.files.append((candidate, content.origin))
            return
        opened = Content(
            header_from=parse_address(unpacked.sender),
            subject=unpacked.subject,
            in_reply_to=None,
            text=unpacked.text or html_to_text(unpacked.html),
            html=unpacked.html or None,
            origin="msg",
            files=[(f, "msg") for f in unpacked.files],
            source=candidate,
            parent_origin=content.origin,
        )
        content.enclosed.append(opened)
        return
    if is_eml(candidate) and candidate.payload.strip():
        inner = email.message_from_bytes(candidate.payload, policy=email.policy.compat32)
        _enclose(content, inner, source=candidate, depth=depth, budget=budget)
        return
    content.files.append((candidate, content.origin))


def open_raw(raw: bytes, *, notes: list[str]) -> tuple[Message, Content]:
    """Open raw bytes: a MIME message, or a bare TNEF file read as a message carrying only that file."""
    if raw[:4] == TNEF_SIGNATURE:
        notes.append("données TNEF (winmail.dat) brutes, sans enveloppe MIME")
        msg = Message()
        tnef = Candidate(filename="winmail.dat", content_type="application/ms-tnef", payload=raw)
        return msg, open_message(msg, extra=[tnef])
    if raw[:8] == OLE_SIGNATURE:
        notes.append("fichier Outlook .msg brut, sans enveloppe MIME")
        msg = Message()
        outer = open_message(msg)
        outlook = Candidate(filename="message.msg", content_type="application/vnd.ms-outlook", payload=raw)
        _add_file(outer, outlook, depth=0, budget=Budget())
        if outer.enclosed:
            inner = outer.enclosed[0]
            inner.origin, inner.source = "mime", None
            inner.defects = outer.defects + inner.defects
            return msg, inner
        return msg, outer
    msg = load_message(raw, notes=notes)
    if not msg.keys():
        notes.append("aucun en-tête lisible : contenu lu comme du texte brut")
    return msg, open_message(msg)
