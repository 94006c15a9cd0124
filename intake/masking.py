"""Contact details a citizen wrote in free text (e-mail addresses, phone numbers), masked for other readers."""

from __future__ import annotations

import re

from intake.phones import DEFAULT_REGION, strip_phones

PHONE_MASK = "[téléphone masqué]"
EMAIL_MASK = "[adresse e-mail masquée]"
# Written addresses, not RFC 5322's grammar: quoted local parts and IP literals do not occur in reports,
# and a looser pattern would eat "voirie@" notes or "@mairie" handles that carry no address.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_contacts(text: str | None, *, region: str = DEFAULT_REGION) -> str:
    """`text` with its e-mail addresses and phone numbers (national forms read in `region`) masked.

    Every number of a plausible length is masked, assigned range or not: hiding a reference number by
    mistake costs less than publishing a citizen's phone.
    """
    masked = EMAIL.sub(EMAIL_MASK, text or "")
    return strip_phones(masked, region=region, replacement=PHONE_MASK)
