"""Finding a French phone number in free text and writing it in E.164 (+33…)."""

from __future__ import annotations

import re

# 0X XX XX XX XX with spaces, dots or dashes; +33 / 0033 with an optional (0); no longer digit runs around.
_PHONE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)\s?33[\s.\-]?(?:\(0\)[\s.\-]?)?|0)([1-9](?:[\s.\-]?\d){8})(?![\d])"
)


def strip_phones(text: str) -> str:
    """``text`` with its French phone numbers removed."""
    return _PHONE.sub(" ", text)


def find_french_phone(text: str) -> str | None:
    """The first French phone number in ``text`` as +33XXXXXXXXX, or None."""
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group(1))
        if len(digits) == 9:
            return f"+33{digits}"
    return None
