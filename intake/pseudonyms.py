"""Keyed pseudonyms: an email or phone number shown as "p-3f9a…" where the person's identity is not needed.

The pseudonym is an HMAC-SHA256 of the normalised identifier under a secret key kept in `var/` (created 0600 on
first use), so the same citizen gets the same pseudonym in every export, statistic and log line (they can be
counted and followed) while nobody without the key can go back to the address or test a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from intake.config import Config
from intake.phones import DEFAULT_REGION, to_e164

KEY_BYTES = 32


def normalise(identifier: str, *, region: str = DEFAULT_REGION) -> str:
    """The form a pseudonym is computed on: an email in lower case, a phone number in E.164 ("whatsapp:" dropped)."""
    value = identifier.strip()
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:"):]
    if "@" in value:
        return value.lower()
    return to_e164(value, region=region) or value


def pseudonym(key: bytes, identifier: str | None, *, region: str = DEFAULT_REGION) -> str | None:
    """The keyed pseudonym of an email or phone number ("p-" and 16 hex digits), None for None."""
    if not identifier or not identifier.strip():
        return None
    digest = hmac.new(key, normalise(identifier, region=region).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"p-{digest[:16]}"


def load_key(path: Path) -> bytes:
    """The secret key at `path`, created (random, mode 0600) when it does not exist yet; safe between processes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_key(path)
        with os.fdopen(fd, "wb") as out:
            out.write(fresh)
            out.flush()
            os.fsync(out.fileno())
        return fresh
    if len(data) < 16:
        raise ValueError(f"clé de pseudonymisation trop courte ou vide : {path}")
    return data


def town_key(config: Config) -> bytes:
    """The town's pseudonym key (`privacy.pseudonym_key`, created on first use)."""
    return load_key(config.resolve_path(config.privacy.pseudonym_key))


def town_pseudonym(config: Config, identifier: str | None) -> str | None:
    """The keyed pseudonym of an email or phone number under the town's key."""
    return pseudonym(town_key(config), identifier, region=config.town.phone_region)
