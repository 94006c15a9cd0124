"""Separating the writer's own words from quoted history and from the signature block."""

from __future__ import annotations

import re
from dataclasses import dataclass

from intake.phones import DEFAULT_REGION, strip_phones

from .markers import FORWARD_LINE, QUOTE_LINE, SEPARATOR_LINE, is_attribution, is_header_block

_I = re.IGNORECASE
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]*$|^—[ \t]*$")
_DEVICE_LINE = re.compile(
    r"^\s*(?:envoy[ée] (?:de|depuis|à partir de|a partir de) .{1,60}|sent from .{1,60}|"
    r"get outlook for .{1,40}|t[ée]l[ée]charger outlook pour .{1,40}|"
    r"provenance : courrier pour windows.{0,20}|"
    r"envoy[ée] avec .{1,40})$",
    _I,
)
_CLOSING = re.compile(
    r"^\s*(?:(?:bien |tr[eèé]s |trés )?cordialement|bien (?:[àa] vous|sinc[èe]rement)|"
    r"(?:avec )?(?:mes |nos )?(?:meilleures |sinc[èe]res |respectueuses )?salutations(?: distingu[ée]es)?|"
    r"bonne (?:journ[ée]e|soir[ée]e)|merci(?: d['’]avance| par avance| beaucoup)?|"
    r"(?:best |kind |warm )?regards|thanks|cheers|sincerely|a bient[ôo]t|amicalement|bises)"
    r"\s*[,.!]*\s*$",
    _I,
)
_NAME_LINE = re.compile(r"^[A-ZÀ-ÝŒ][\w'’.-]*(?:[ -]+[A-ZÀ-ÝŒ][\w'’.-]*){0,3}$")
_CONTACT_LINE = re.compile(r"@|https?://|www\.|\b(?:t[ée]l|tel|mobile|portable|fax)\b", _I)
_MAX_SIGNATURE_LINES = 10
_MAX_SIGNATURE_WIDTH = 100


@dataclass(frozen=True)
class Split:
    """A message body cut into the writer's words, the quoted history and the signature."""

    text: str
    quoted: str
    signature: str


def quote_start(lines: list[str]) -> int:
    """Index of the first line of quoted history (or of a forwarded message); len(lines) when none."""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if FORWARD_LINE.match(line) or is_attribution(lines, index):
            return index
        if SEPARATOR_LINE.match(line):
            if line.strip().startswith("_") and not _header_follows(lines, index + 1):
                continue
            return index
        if is_header_block(lines, index):
            return index
        if QUOTE_LINE.match(line):
            return index
    return len(lines)


def _header_follows(lines: list[str], start: int) -> bool:
    for index in range(start, min(start + 3, len(lines))):
        if lines[index].strip():
            return is_header_block(lines, index)
    return False


def _trailing_contact(lines: list[str], filled: list[int], sender_name: str | None, region: str) -> int | None:
    # Without a closing phrase, a last few short lines holding a name and a phone number are a signature.
    start = None
    found_key = False
    for index in reversed(filled[1:]):
        line = lines[index].strip()
        if index + 1 < len(lines) and start is not None and not lines[index + 1].strip():
            break
        # A phone line is a signature line only when little else is on it ("Tél. : 06 …").
        rest = strip_phones(line, region=region)
        has_phone = rest != line and len(rest.split()) <= 4
        is_name = bool(sender_name) and line.casefold() == (sender_name or "").casefold()
        looks_like_signature = has_phone or is_name or _CONTACT_LINE.search(line) or _NAME_LINE.match(line)
        if len(line) > 60 or not looks_like_signature:
            break
        found_key = found_key or has_phone or is_name
        start = index
    return start if found_key else None


def split_signature(
    lines: list[str], *, sender_name: str | None = None, phone_region: str = DEFAULT_REGION
) -> tuple[list[str], list[str]]:
    """Cut the trailing signature block: after "-- ", a "Envoyé de mon iPhone" line, or a closing phrase."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return lines, []
    tail = filled[-(_MAX_SIGNATURE_LINES + 2) :]
    for index in tail:
        if _SIGNATURE_DELIMITER.match(lines[index]) or _DEVICE_LINE.match(lines[index]):
            if index > filled[0]:
                return lines[:index], lines[index:]
    for index in tail:
        if _CLOSING.match(lines[index]):
            rest = [line for line in lines[index + 1 :] if line.strip()]
            if rest and all(len(line) <= _MAX_SIGNATURE_WIDTH for line in rest):
                # The closing phrase stays with the words; the name, phone and address lines go.
                return lines[: index + 1], lines[index + 1 :]
    start = _trailing_contact(lines, filled, sender_name, phone_region)
    if start is not None:
        return lines[:start], lines[start:]
    return lines, []


def _bottom_posted(lines: list[str]) -> tuple[list[str], list[str]]:
    # The quote comes first and the answer below it: keep the unquoted lines as the words.
    words: list[str] = []
    quoted: list[str] = []
    index = 0
    while index < len(lines):
        span = is_attribution(lines, index)
        if span:
            quoted.extend(lines[index : index + span])
            index += span
            continue
        (quoted if QUOTE_LINE.match(lines[index]) else words).append(lines[index])
        index += 1
    cut = quote_start(words)
    return words[:cut], quoted + words[cut:]


def _join(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def split_reply(text: str, *, sender_name: str | None = None, phone_region: str = DEFAULT_REGION) -> Split:
    """Split a body into the writer's own words, the quoted history and the signature (all kept).

    ``sender_name`` helps recognise a bare "Jean Dupont" line closing the message as a signature.
    """
    lines = text.split("\n")
    cut = quote_start(lines)
    head, quoted = lines[:cut], lines[cut:]
    if not any(line.strip() for line in head) and quoted:
        head, quoted = _bottom_posted(quoted)
    words, signature = split_signature(head, sender_name=sender_name, phone_region=phone_region)
    return Split(text=_join(words).strip(), quoted=_join(quoted).strip(), signature=_join(signature).strip())
