"""Phone numbers written by citizens or sent by Twilio: parsing, E.164, mobiles, numbers in free text.

Google's numbering data (the `phonenumbers` package) does the parsing; this module adds what the French plan
needs on top of it: a number written nationally ("0694 12 34 56") may belong to any territory that shares
the French national plan, and its international form then has that territory's own country code (+594…).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import (
    Leniency,
    NumberParseException,
    PhoneNumber,
    PhoneNumberMatcher,
    PhoneNumberType,
    ValidationResult,
)

WHATSAPP_PREFIX = "whatsapp:"
DEFAULT_REGION = "FR"
# Metropolitan France and the overseas territories that share its ten-digit national plan (trunk prefix 0):
# Guadeloupe, Guyane, Martinique, La Réunion, Mayotte, Saint-Pierre-et-Miquelon, Saint-Barthélemy,
# Saint-Martin. A national number is tried in each of them when the configured region does not own it.
FRENCH_REGIONS = ("FR", "GP", "GF", "MQ", "RE", "YT", "PM", "BL", "MF")
MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_GEOGRAPHIC = MOBILE_TYPES | {PhoneNumberType.FIXED_LINE}
# Characters people put in a number besides digits: spaces, dots, dashes, slashes, brackets, the leading +.
_ALLOWED = re.compile(r"^\+?[\d\s.\-/()]+$")
# A run of six digits with separators between them: text without one holds no phone number, and skipping
# the matcher there keeps free-text lookups cheap (most lines of a message have no number at all).
_DIGIT_RUN = re.compile(r"\d(?:[\s.\-/()]{0,3}\d){5}")
_FIELD_MAX = 40  # longer "numbers" typed in a phone field are junk


@dataclass(frozen=True, slots=True)
class PhoneMatch:
    """A phone number found in free text: where it is written, and its E.164 form."""

    start: int
    end: int
    raw: str
    e164: str
    valid: bool  # in an assigned range of the numbering plan (not only of a plausible length)


def known_region(region: str) -> bool:
    """Whether `region` is a two-letter region code the numbering data knows ("FR", "GF", "RE", …)."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def is_whatsapp(value: str | None) -> bool:
    """True when a Twilio address is a WhatsApp one ("whatsapp:+33…")."""
    return bool(value) and str(value).strip().lower().startswith(WHATSAPP_PREFIX)


def strip_whatsapp(value: str) -> str:
    """The number of a Twilio address without its "whatsapp:" prefix."""
    value = value.strip()
    return value[len(WHATSAPP_PREFIX) :] if value.lower().startswith(WHATSAPP_PREFIX) else value


@lru_cache(maxsize=64)
def _trunk(region: str) -> str:
    """The national (trunk) prefix of a region ("0" in France, "1" in North America), "" when it has none."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return (metadata.national_prefix or "") if metadata is not None else ""


def _format(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _sibling(number: PhoneNumber, region: str, *, geographic: bool = False) -> PhoneNumber | None:
    """The same digits read in the first other territory of the French plan whose data holds them (as a
    fixed line or mobile when `geographic`). Territories sharing a country code (RE/YT, GP/BL/MF) give
    the same E.164 number, so the first is as good as any."""
    national = "0" + phonenumbers.national_significant_number(number)
    for other in FRENCH_REGIONS:
        if other == region:
            continue
        try:
            candidate = phonenumbers.parse(national, other)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(candidate) and (
            not geographic or phonenumbers.number_type(candidate) in _GEOGRAPHIC
        ):
            return candidate
    return None


def _resolve(number: PhoneNumber, region: str) -> tuple[PhoneNumber, bool]:
    """`number` with its valid reading preferred: "0694…" read in FR is the Guyane mobile +594 694…."""
    own = phonenumbers.region_code_for_country_code(number.country_code or 0)
    if phonenumbers.is_valid_number(number):
        if own == "FR" and phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE:
            # Metropolitan fixed-line data spans every 01-05 number, the overseas landlines of the
            # national plan too (0596 Martinique, 0262/0263/0269 Réunion and Mayotte, 0598…), whose own
            # data is exact: a landline an overseas territory holds is that territory's.
            overseas = _sibling(number, own, geographic=True)
            if overseas is not None:
                return overseas, True
        return number, True
    if own in FRENCH_REGIONS:
        # Read in the wrong territory of the French plan: "0694…" read in FR, or "+33 694…" written with the
        # metropolitan code by mistake, is the Guyane mobile +594 694….
        sibling = _sibling(number, own)
        if sibling is not None:
            return _resolve(sibling, region)  # a metropolitan reading may still be an overseas landline
    return number, False


def _plausible(number: PhoneNumber) -> bool:
    """Of a possible length for a full number (not a local one without its area code), and not "+33 0…"
    (a trunk zero kept after the country code, or a run of zeros)."""
    return phonenumbers.is_possible_number_with_reason(
        number
    ) == ValidationResult.IS_POSSIBLE and not phonenumbers.national_significant_number(number).startswith("0")


def _national_form_ok(raw: str, region: str) -> bool:
    """A number written without + or 00 must start with the trunk 0 where the region has one: people in
    France (and in the other plans with a 0 trunk) always write it, and digit runs without it are
    references, dates or tracking numbers. Other trunks (North America's 1) are optional, so not asked."""
    digits = re.sub(r"\D", "", raw)
    if raw.lstrip("( ").startswith("+") or digits.startswith("00"):
        return True
    return _trunk(region.upper()) != "0" or digits.startswith("0")


def parse(text: str | None, *, region: str = DEFAULT_REGION) -> PhoneNumber | None:
    """The phone number a field holds ("06 12 34 56 78", "+33 (0)6…", "whatsapp:+33…"), or None.

    National forms are read in `region`, falling back to the territory of the French plan that owns the
    range. Numbers of a plausible length in an unassigned range are kept (new ranges open before the
    numbering data knows them); `is_mobile` and the SMS rules only trust assigned ones.
    """
    if not text:
        return None
    value = strip_whatsapp(text).strip()
    if len(value) > _FIELD_MAX or not _ALLOWED.match(value) or not _national_form_ok(value, region):
        return None
    try:
        number = phonenumbers.parse(value, region.upper())
    except NumberParseException:
        return None
    number, valid = _resolve(number, region)
    return number if valid or _plausible(number) else None


def to_e164(text: str | None, *, region: str = DEFAULT_REGION) -> str | None:
    """`text` as an E.164 number (+33612345678), or None when it is not a plausible phone number."""
    number = parse(text, region=region)
    return _format(number) if number is not None else None


def is_e164(value: str | None) -> bool:
    """Whether `value` is already a phone number in E.164 form ("+33612345678": no spaces, no trunk 0)."""
    if not value or not value.startswith("+"):
        return False
    try:
        number = phonenumbers.parse(value, None)
    except NumberParseException:
        return False
    return _format(number) == value and _plausible(number)


def is_mobile(e164: str | None, *, regions: tuple[str, ...] | frozenset[str] | None = None) -> bool:
    """True for a mobile number in an assigned range, of one of `regions` when given (any otherwise)."""
    if not e164:
        return False
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in MOBILE_TYPES:
        return False
    return regions is None or phonenumbers.region_code_for_number(number) in regions


def is_french_mobile(e164: str | None) -> bool:
    """True for a French mobile number (metropolitan 06/07 or an overseas territory's mobile range)."""
    return is_mobile(e164, regions=FRENCH_REGIONS)


def iter_phones(text: str, *, region: str = DEFAULT_REGION) -> Iterator[PhoneMatch]:
    """The phone numbers written in free text, in order: assigned ones and those only of a plausible length.

    International forms are found whatever the region; national ones need the region's trunk prefix.
    """
    if not text or _DIGIT_RUN.search(text) is None:
        return
    for match in PhoneNumberMatcher(text, region.upper(), leniency=Leniency.POSSIBLE):
        if not _national_form_ok(match.raw_string, region):
            continue
        number, valid = _resolve(match.number, region)
        if valid or _plausible(number):
            yield PhoneMatch(match.start, match.end, match.raw_string, _format(number), valid)


def find_phones(text: str, *, region: str = DEFAULT_REGION) -> list[PhoneMatch]:
    """Every phone number written in free text (see `iter_phones`)."""
    return list(iter_phones(text, region=region))


def find_phone(text: str, *, region: str = DEFAULT_REGION) -> str | None:
    """The first phone number in an assigned range written in `text`, in E.164, or None."""
    return next((m.e164 for m in iter_phones(text, region=region) if m.valid), None)


def strip_phones(text: str, *, region: str = DEFAULT_REGION, replacement: str = " ") -> str:
    """`text` with every phone number written in it replaced (by a space unless told otherwise)."""
    matches = find_phones(text, region=region)
    if not matches:
        return text
    parts, done = [], 0
    for m in matches:
        parts += [text[done : m.start], replacement]
        done = m.end
    parts.append(text[done:])
    return "".join(parts)
