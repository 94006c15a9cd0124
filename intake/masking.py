"""Contact details a citizen wrote in free text (e-mail addresses, phone numbers), masked for other readers."""

from __future__ import annotations

import re

from intake.phones import DEFAULT_REGION, strip_phones

PHONE_MASK = "[téléphone masqué]"
EMAIL_MASK = "[adresse e-mail masquée]"
# An e-mail address as people write it in text and headers (also read by intake/email): the dot-atom local
# part of RFC 5322 and a dotted domain, not its quoted local parts or IP literals, which do not occur in
# reports; "voirie@" notes and "@mairie" handles carry no address and are left alone.
EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def mask_contacts(text: str | None, *, region: str = DEFAULT_REGION) -> str:
    """`text` with its e-mail addresses and phone numbers (national forms read in `region`) masked.

    Every number of a plausible length is masked, assigned range or not: hiding a reference number by
    mistake costs less than publishing a citizen's phone.
    """
    masked = EMAIL.sub(EMAIL_MASK, text or "")
    return strip_phones(masked, region=region, replacement=PHONE_MASK)
