"""Cheap checks of a raw email's size and shape, before any parser sees it (a hostile header never reaches one)."""

from __future__ import annotations

import re

from intake.config import Limits
from intake.message import MessageRefused

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ENCODED_WORD = re.compile(rb"=\?[^?\s]{1,80}\?[bBqQ]\?")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:")
_NESTED = re.compile(rb"(?i)message/rfc822")


def check_email(payload: bytes, limits: Limits) -> None:
    """Raise MessageRefused with a French reason when the message is over one of the town's limits.

    Linear scans only: each limit is checked on the bytes in one pass of a simple regular expression.
    Counts over the whole message (parts, nested messages) are upper bounds of what the parser would build.
    """
    size = len(payload)
    if size > limits.max_message_mb * 1024 * 1024:
        raise MessageRefused(f"message trop volumineux ({size / 1048576:.1f} Mo)")
    end = _HEADER_END.search(payload)
    header = payload[: end.start()] if end else payload
    if len(header) > limits.max_header_kb * 1024:
        raise MessageRefused(f"en-tête trop long ({len(header) // 1024} Ko)")
    lines = header.count(b"\n") + 1
    if lines > limits.max_header_lines:
        raise MessageRefused(f"trop d'en-têtes ({lines} lignes)")
    words = _count(_ENCODED_WORD, payload, limits.max_encoded_words)
    if words > limits.max_encoded_words:
        raise MessageRefused(f"trop de mots encodés dans l'en-tête (plus de {limits.max_encoded_words})")
    if _count(_CONTENT_TYPE, payload, limits.max_mime_parts) > limits.max_mime_parts:
        raise MessageRefused(f"trop de parties MIME (plus de {limits.max_mime_parts})")
    if _count(_NESTED, payload, limits.max_nested_messages) > limits.max_nested_messages:
        raise MessageRefused(f"trop de messages imbriqués (plus de {limits.max_nested_messages})")


def _count(pattern: re.Pattern[bytes], data: bytes, limit: int) -> int:
    """Occurrences of `pattern`, counting no further than limit + 1."""
    n = 0
    for _ in pattern.finditer(data):
        n += 1
        if n > limit:
            break
    return n
