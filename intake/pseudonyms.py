"""Keyed pseudonyms: an email or phone number shown as "p-3f9a…" where the person's identity is not needed.

The pseudonym is an HMAC-SHA256 of the normalised identifier under a secret key kept in `var/` (created 0600 on
first use), so the same citizen gets the same pseudonym in every export, statistic and log line (they can be
counted and followed) while nobody without the key can go back to the address or test a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from pathlib import Path

from intake.config import Config
from intake.masking import EMAIL as _EMAIL
from intake.phones import DEFAULT_REGION, find_phones, to_e164

_KEYS: dict[Path, bytes] = {}
_KEYS_LOCK = threading.Lock()

KEY_BYTES = 32


def normalise(identifier: str, *, region: str = DEFAULT_REGION) -> str:
    """The form a pseudonym is computed on: an email in lower case, a phone number in E.164 ("whatsapp:" dropped)."""
    value = identifier.strip()
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:") :]
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
    """The town's pseudonym key (`privacy.pseudonym_key`, created on first use; read once per process)."""
    path = config.resolve_path(config.privacy.pseudonym_key)
    with _KEYS_LOCK:
        if path not in _KEYS:
            _KEYS[path] = load_key(path)
        return _KEYS[path]


def town_pseudonym(config: Config, identifier: str | None) -> str | None:
    """The keyed pseudonym of an email or phone number under the town's key."""
    return pseudonym(town_key(config), identifier, region=config.town.phone_region)


def pseudonymise_text(key: bytes, text: str, *, region: str = DEFAULT_REGION) -> str:
    """`text` with every e-mail address and phone number written in it replaced by its pseudonym."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: pseudonym(key, m.group(0), region=region) or "", text)
    matches = find_phones(text, region=region)
    if not matches:
        return text
    parts, done = [], 0
    for m in matches:
        parts += [text[done : m.start], pseudonym(key, m.e164, region=region) or ""]
        done = m.end
    parts.append(text[done:])
    return "".join(parts)


class PseudonymFilter(logging.Filter):
    """A logging filter that writes pseudonyms instead of the e-mail addresses and phone numbers in a record
    (its message, its arguments, the text of its exception and the strings of its `fields`), whoever logged it."""

    def __init__(self, key: bytes, *, region: str = DEFAULT_REGION) -> None:
        super().__init__()
        self.key, self.region = key, region

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = pseudonymise_text(self.key, message, region=self.region), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = pseudonymise_text(self.key, record.exc_text, region=self.region)
            record.exc_info = None
        fields = getattr(record, "fields", None)  # structured values of a JSON line (gunicorn's access log)
        if isinstance(fields, dict):
            record.fields = {
                k: pseudonymise_text(self.key, v, region=self.region) if isinstance(v, str) else v
                for k, v in fields.items()
            }
        return True


def install_log_pseudonyms(config: Config, *loggers: str) -> PseudonymFilter:
    """Put the town's pseudonym filter on every handler of the root logger (and of `loggers`, e.g.
    gunicorn's), so that no log line carries a citizen's e-mail or phone. Idempotent."""
    flt = PseudonymFilter(town_key(config), region=config.town.phone_region)
    for name in ("", *loggers):
        for handler in logging.getLogger(name or None).handlers:
            if not any(isinstance(f, PseudonymFilter) for f in handler.filters):
                handler.addFilter(flt)
    return flt
