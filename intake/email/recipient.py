"""One citizen's email address as typed into a form or an app: exactly one, checked, in lower case."""

from __future__ import annotations

import re

# A plain addr-spec: no display name, no list, no comment, no quoted local part, a dotted domain name.
_ADDRESS = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)


def single_address(value: str | None) -> str | None:
    """`value` as one normalised address (trimmed, lower case), or None when it is not exactly one valid address.

    "a@x.fr, b@y.fr", "Nom <a@x.fr>", "a@x.fr;b@y.fr" are refused: the town writes to one person per request,
    and the daily cap of confirmations counts that one address whatever case it was typed in.
    """
    if value is None:
        return None
    address = value.strip().lower()
    if len(address) > 254 or not _ADDRESS.fullmatch(address) or len(address.partition("@")[0]) > 64:
        return None
    return address
