"""Entry point: raw email bytes in, a ParsedEmail out, whatever the bytes are."""

from __future__ import annotations

from email.message import Message

from intake.phones import DEFAULT_REGION, find_phone

from .attachments import extension_for, human_size, safe_filename
from .autoreply import auto_reply_verdict
from .charset import decode_bytes
from .content import Content, open_raw
from .headers import (
    decode_header_value,
    parse_address,
    parse_address_list,
    parse_date,
    parse_msgid,
    parse_msgids,
    raw_header,
)
from .html import sanitise_html
from .markers import strip_forward_prefixes
from .mime import Candidate
from .model import NO_ADDRESS, EmailParseError, ParsedAttachment, ParsedEmail, SkippedAttachment
from .quotes import split_reply
from .resolve import Resolution, resolve

DEFAULT_MAX_ATTACHMENTS = 20
DEFAULT_MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024


def parse_email(
    raw: bytes,
    *,
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    own_domains: tuple[str, ...] = (),
    phone_region: str = DEFAULT_REGION,
) -> ParsedEmail:
    """Parse raw email bytes into a ParsedEmail, unwrapping forwards and splitting quotes.

    ``phone_region`` reads phone numbers written nationally (the town's ``town.phone_region``).

    Never raises except EmailParseError when nothing at all can be read (empty input); every
    other problem is repaired or ignored and noted in ``defects``.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EmailParseError(f"attendu des octets, reçu {type(raw).__name__}")
    data = bytes(raw)
    if not data.strip():
        raise EmailParseError("message vide")
    domains = tuple(d.strip().lower().lstrip("@") for d in own_domains if d and d.strip())
    try:
        return _parse(
            data,
            max_attachments=max_attachments,
            max_attachment_bytes=max_attachment_bytes,
            own_domains=domains,
            phone_region=phone_region,
        )
    except RecursionError:
        return _fallback(data, "message trop imbriqué pour être analysé")
    except Exception as exc:  # the promise is "never raises": keep the text and say what went wrong
        return _fallback(data, f"analyse interrompue ({type(exc).__name__}: {str(exc)[:200]})")


def _fallback(data: bytes, reason: str) -> ParsedEmail:
    text = decode_bytes(data, None)
    return ParsedEmail(
        message_id=None,
        subject="",
        sender=NO_ADDRESS,
        forwarded_by=None,
        sender_phone=None,
        citizen_recovered=True,
        header_from=NO_ADDRESS,
        reply_to=None,
        to=[],
        date=None,
        in_reply_to=None,
        references=[],
        text=text.strip(),
        quoted="",
        signature="",
        body_text=text,
        html=None,
        attachments=[],
        skipped_attachments=[],
        auto_reply=False,
        auto_reply_reason=None,
        defects=[reason],
    )


def _parse(
    data: bytes,
    *,
    max_attachments: int,
    max_attachment_bytes: int,
    own_domains: tuple[str, ...],
    phone_region: str,
) -> ParsedEmail:
    notes: list[str] = []
    msg, outer = open_raw(data, notes=notes)
    # Judged once before unwrapping (a bounce quotes headers that look like a forward), once after.
    early = auto_reply_verdict(msg, header_from=outer.header_from, subject=outer.subject)
    automatic = early is not None and early[0] == "automatic"
    resolution = resolve(outer, own_domains=own_domains, automatic=automatic)
    chosen = resolution.chosen
    header_from = outer.header_from or NO_ADDRESS
    sender = (chosen.sender or NO_ADDRESS) if resolution.forwarded else header_from
    split = split_reply(chosen.body, sender_name=sender.name, phone_region=phone_region)
    subject = outer.subject
    if resolution.forwarded:
        subject = decode_header_value(chosen.subject) if chosen.subject else strip_forward_prefixes(subject)
    attachments, skipped = _limit(
        _files(resolution), max_attachments=max_attachments, max_attachment_bytes=max_attachment_bytes
    )
    verdict = auto_reply_verdict(
        msg, header_from=outer.header_from, subject=outer.subject, sender=sender, own_domains=own_domains
    )
    kind, reason = verdict if verdict else (None, None)
    return ParsedEmail(
        message_id=parse_msgid(raw_header(msg, "Message-ID")),
        subject=subject,
        sender=sender,
        forwarded_by=header_from if resolution.forwarded else None,
        sender_phone=find_phone(f"{split.text}\n{split.signature}", region=phone_region),
        citizen_recovered=not resolution.forwarded or bool(sender.email),
        header_from=header_from,
        reply_to=parse_address(raw_header(msg, "Reply-To")),
        to=_emails(msg, "To"),
        cc=_emails(msg, "Cc"),
        date=parse_date(raw_header(msg, "Date")),
        in_reply_to=outer.in_reply_to,
        references=parse_msgids(raw_header(msg, "References")),
        text=split.text,
        quoted=split.quoted,
        signature=split.signature,
        body_text=outer.text,
        html=sanitise_html(outer.html) if outer.html else None,
        attachments=attachments,
        skipped_attachments=skipped,
        auto_reply=reason is not None,
        auto_reply_reason=reason,
        auto_reply_kind=kind,
        defects=_unique(notes + _defects(outer)),
        forwarded=resolution.forwarded,
        forward_note=resolution.layers[0].words.strip() if resolution.forwarded else "",
        header_subject=outer.subject,
    )


def _emails(msg: Message, name: str) -> list[str]:
    found: list[str] = []
    for address in parse_address_list(raw_header(msg, name)):
        if address.email and address.email not in found:
            found.append(address.email)
    return found


def _defects(content: Content) -> list[str]:
    out = list(content.defects)
    for inner in content.enclosed:
        out.extend(_defects(inner))
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _files(resolution: Resolution) -> list[tuple[Candidate, str]]:
    files: list[tuple[Candidate, str]] = []
    for layer in resolution.layers:
        files.extend(layer.files)
    for content in resolution.unused:
        if content.source is not None:
            files.append((content.source, content.parent_origin))
    return files


def _limit(
    files: list[tuple[Candidate, str]], *, max_attachments: int, max_attachment_bytes: int
) -> tuple[list[ParsedAttachment], list[SkippedAttachment]]:
    kept: list[ParsedAttachment] = []
    skipped: list[SkippedAttachment] = []
    for number, (candidate, origin) in enumerate(files, start=1):
        filename = safe_filename(candidate.filename, content_type=candidate.content_type, index=number)
        if candidate.content_type == "message/rfc822" and not candidate.filename:
            filename = f"message-joint-{number}{extension_for('message/rfc822')}"
        size = len(candidate.payload)
        if size > max_attachment_bytes:
            reason = f"pièce jointe trop volumineuse ({human_size(size)} > {human_size(max_attachment_bytes)})"
        elif len(kept) >= max_attachments:
            reason = f"trop de pièces jointes (limite : {max_attachments})"
        else:
            kept.append(
                ParsedAttachment(
                    filename=filename,
                    content_type=candidate.content_type,
                    payload=candidate.payload,
                    origin=origin,
                    content_id=candidate.content_id,
                    inline=candidate.inline,
                )
            )
            continue
        skipped.append(
            SkippedAttachment(filename=filename, content_type=candidate.content_type, size=size, reason=reason)
        )
    return kept, skipped
