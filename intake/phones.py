"""Phone numbers written by citizens or sent by Twilio, normalised to E.164 (+33…)."""

from __future__ import annotations

import re

WHATSAPP_PREFIX = "whatsapp:"
# Characters people put in a number besides digits: spaces, dots, dashes, slashes, brackets, the leading +.
_ALLOWED = re.compile(r"^\+?[\d\s.\-/()]+$")
# Mobile ranges: metropolitan France, then the overseas departments (Réunion, Guadeloupe, Guyane, Martinique,
# Mayotte). Overseas landlines and mobiles have their own country codes in international form.
_MOBILE_PREFIXES = ("+336", "+337", "+262692", "+262693", "+262639", "+590690", "+590691", "+594694",
                    "+596696", "+596697", "+269639")


def is_whatsapp(value: str | None) -> bool:
    """True when a Twilio address is a WhatsApp one ("whatsapp:+33…")."""
    return bool(value) and str(value).strip().lower().startswith(WHATSAPP_PREFIX)


def strip_whatsapp(value: str) -> str:
    """The number of a Twilio address without its "whatsapp:" prefix."""
    value = value.strip()
    return value[len(WHATSAPP_PREFIX):] if value.lower().startswith(WHATSAPP_PREFIX) else value


def to_e164(text: str | None, *, default_country: str = "FR") -> str | None:
    """`text` as an E.164 number (+33612345678), or None when it is not a plausible phone number.

    National French forms (06 12 34 56 78, 06.12…) need `default_country="FR"`; international ones
    (+33, 0033, +33 (0)6…, +262…, any +CC with 8 to 15 digits) are accepted whatever the default.
    """
    if not text:
        return None
    value = strip_whatsapp(text).replace("(0)", " ")
    if not _ALLOWED.match(value):
        return None
    digits = re.sub(r"\D", "", value)
    if value.startswith("+"):
        intl = digits
    elif digits.startswith("00"):
        intl = digits[2:]
    elif default_country.upper() == "FR" and len(digits) == 10 and digits[0] == "0" and digits[1] != "0":
        intl = "33" + digits[1:]
    else:
        return None
    if intl.startswith("33"):
        national = intl[2:]
        if len(national) == 10 and national.startswith("0"):
            national = national[1:]  # "+33 06…": the trunk zero kept by mistake
        if len(national) != 9 or national[0] == "0":
            return None
        return "+33" + national
    if not 8 <= len(intl) <= 15 or intl[0] == "0":
        return None
    return "+" + intl


def is_french_mobile(e164: str | None) -> bool:
    """True for a French mobile number (metropolitan 06/07 or an overseas department's mobile range)."""
    if not e164:
        return False
    if e164.startswith(("+336", "+337")):
        return len(e164) == 12
    return e164.startswith(_MOBILE_PREFIXES) and len(e164) == 13
