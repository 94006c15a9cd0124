"""SMS segment arithmetic (3GPP TS 23.038): GSM-7 or UCS-2, and fitting French text into few segments."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The basic table, in code order (0x1B, the escape to the extension table, left out). Position 0x09 is
# the capital Ç: lower-case ç is NOT in GSM-7 and forces UCS-2 unless fit_gsm replaces it.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each of these costs two septets (escape + code).
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
PER_PART = {"GSM-7": 153, "UCS-2": 67}

# Close GSM-7 equivalents for what French (and word processors) commonly produce.
_REPLACEMENTS = {
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "ç": "c",
    "Â": "A",
    "Ê": "E",
    "Î": "I",
    "Ô": "O",
    "Û": "U",
    "Ë": "E",
    "Ï": "I",
    "Ÿ": "Y",
    "À": "A",
    "È": "E",
    "Ì": "I",
    "Ò": "O",
    "Ù": "U",
    "œ": "oe",
    "Œ": "OE",
    "’": "'",
    "‘": "'",
    "‚": "'",
    "′": "'",
    "`": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "„": '"',
    "″": '"',
    "…": "...",
    "–": "-",
    "—": "-",
    "‑": "-",
    "−": "-",
    "•": "-",
    "°": "o",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\u2007": " ",
    "\t": " ",
}


# French guillemets carry inner (often non-breaking) spaces: « ici » becomes "ici", not " ici ".
_GUILLEMETS = ((re.compile("«[ \u00a0\u202f]*"), '"'), (re.compile("[ \u00a0\u202f]*»"), '"'))


def _is_gsm(ch: str) -> bool:
    return ch in GSM_BASIC or ch in GSM_EXTENSION


def encoding(text: str) -> Encoding:
    """The encoding an SMS carrying `text` needs: GSM-7 when every character is in the 23.038 tables."""
    return "GSM-7" if all(_is_gsm(ch) for ch in text) else "UCS-2"


def _cost(ch: str, enc: Encoding) -> int:
    if enc == "GSM-7":
        return 2 if ch in GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1  # UTF-16 code units: a surrogate pair for emoji


def units(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) that `text` occupies."""
    enc = encoding(text)
    return sum(_cost(ch, enc) for ch in text)


def segments(text: str) -> int:
    """Number of SMS segments for `text` (an escape sequence or surrogate pair is never split)."""
    enc = encoding(text)
    costs = [_cost(ch, enc) for ch in text]
    if sum(costs) <= SINGLE[enc]:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > PER_PART[enc]:
            parts, used = parts + 1, 0
        used += cost
    return parts


def fit_gsm(text: str) -> str:
    """Replace characters outside GSM-7 by close equivalents (ê→e, œ→oe, ’→', «»→\"); others are kept."""
    for pattern, quote in _GUILLEMETS:
        text = pattern.sub(quote, text)
    out: list[str] = []
    for ch in text:
        if _is_gsm(ch):
            out.append(ch)
        elif ch in _REPLACEMENTS:
            out.append(_REPLACEMENTS[ch])
        else:
            # Other accented Latin letters: drop the accent when the base letter is GSM-7 (á→a, ñ stays).
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(_is_gsm(c) for c in base) else ch)
    return "".join(out)


def best_form(text: str) -> str:
    """`text` in GSM-7 when fit_gsm gets it there, else unchanged (UCS-2 keeps its accents)."""
    fitted = fit_gsm(text)
    return fitted if encoding(fitted) == "GSM-7" else text


def fit_segments(text: str, max_segments: int) -> str:
    """`text` in its cheapest form, cut with an ellipsis when it still needs more than `max_segments`."""
    text = best_form(text)
    if segments(text) <= max_segments:
        return text
    ellipsis = "..." if encoding(text) == "GSM-7" else "…"
    lo, hi = 0, len(text)  # the longest prefix that fits, by bisection (segments grow with the prefix)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if segments(text[:mid].rstrip() + ellipsis) <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ellipsis


class TemplateTooLong(ValueError):
    """A rendered SMS template needs more segments than allowed."""


def check_template(rendered: str, max_segments: int) -> None:
    """Raise TemplateTooLong when `rendered`, in its cheapest form, needs more than `max_segments`."""
    text = best_form(rendered)
    count = segments(text)
    if count > max_segments:
        raise TemplateTooLong(
            f"SMS of {units(text)} {'septets' if encoding(text) == 'GSM-7' else 'UTF-16 units'} "
            f"({encoding(text)}) needs {count} segments, more than {max_segments}"
        )
