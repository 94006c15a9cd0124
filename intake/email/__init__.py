"""MIME → message: bodies, charsets, forwarded-mail unwrapping, quotes, attachments, TNEF."""

from .model import Address, EmailParseError, ParsedAttachment, ParsedEmail, SkippedAttachment
from .parse import parse_email

__all__ = [
    "Address",
    "EmailParseError",
    "ParsedAttachment",
    "ParsedEmail",
    "SkippedAttachment",
    "parse_email",
]
