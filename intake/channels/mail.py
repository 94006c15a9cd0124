"""The email door: MIME bytes from a town-hall mailbox, parsed within the town's limits."""

from __future__ import annotations

from intake.channels.base import RawInput
from intake.config import Config
from intake.email.limits import check_email
from intake.email.model import ParsedEmail
from intake.email.parse import parse_email
from intake.message import InboundMessage


def inbound_from_email(parsed: ParsedEmail) -> InboundMessage:
    """The InboundMessage of a parsed email (the citizen recovered from a forward, quotes split).

    The phone number found in the text or signature is kept as `phone_in_text`: anyone can write any number
    in a mail, so it never identifies (or merges) a contact.
    """
    return InboundMessage(
        channel="email",
        text=parsed.text,
        sender=parsed.sender,
        phone_in_text=parsed.sender_phone,
        answer_to=parsed.sender.email,
        subject=parsed.subject,
        quoted=parsed.quoted,
        signature=parsed.signature,
        html=parsed.html,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=tuple(parsed.references),
        header_from=parsed.header_from,
        forwarded_by=parsed.forwarded_by,
        forwarded=parsed.forwarded,
        forward_note=parsed.forward_note,
        citizen_recovered=parsed.citizen_recovered,
        auto_reply=parsed.auto_reply,
        auto_reply_kind=parsed.auto_reply_kind,
        auto_reply_reason=parsed.auto_reply_reason,
        attachments=tuple(parsed.attachments),
        skipped_attachments=tuple(parsed.skipped_attachments),
        defects=tuple(parsed.defects),
    )


class EmailChannel:
    """Mail read from the town's IMAP mailboxes (citizens, and reception staff forwarding theirs)."""

    name = "email"
    label = "Courriel"
    phrase = "email"

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """Cheap size checks first (a hostile header never reaches the parser), then the MIME parser."""
        storage = config.storage
        check_email(raw.payload, config.limits)
        parsed = parse_email(
            raw.payload,
            max_attachments=storage.max_attachments,
            max_attachment_bytes=int(storage.max_attachment_mb * 1024 * 1024),
            own_domains=tuple(config.town.own_domains),
            phone_region=config.town.phone_region,
        )
        return inbound_from_email(parsed)
