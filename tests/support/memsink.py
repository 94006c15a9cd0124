"""An in-memory RawSink for channel tests: idempotent on (mailbox, Message-ID or hash, content) like the database."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32

from intake.pipeline.content_keys import email_fingerprint


@dataclass
class StoredRaw:
    """One persisted raw message, as the database row would hold it."""

    id: int
    mailbox: str
    uidvalidity: int
    uid: int
    raw: bytes
    key: str


def natural_key(raw: bytes) -> str:
    """Message-ID when the message has one, else the SHA-256 of its bytes (what the DB keys on)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    message_id = (headers.get("Message-ID") or "").strip()
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass
class MemorySink:
    """RawSink in memory; `fail_when(raw)` returning True makes store() raise, like a failed commit."""

    fail_when: Callable[[bytes], bool] | None = None
    rows: dict[int, StoredRaw] = field(default_factory=dict)
    cursors: dict[str, tuple[int, int]] = field(default_factory=dict)
    enqueued: list[int] = field(default_factory=list)
    store_calls: int = 0
    _keys: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def get_cursor(self, mailbox: str) -> tuple[int | None, int]:
        """(uidvalidity, last_uid), or (None, 0) before the first poll."""
        validity, last_uid = self.cursors.get(mailbox, (None, 0))
        return validity, last_uid

    def set_cursor(self, mailbox: str, *, uidvalidity: int, last_uid: int) -> None:
        """Remember the cursor."""
        self.cursors[mailbox] = (uidvalidity, last_uid)

    def store(self, *, mailbox: str, uidvalidity: int, uid: int, raw: bytes) -> int:
        """Insert once per natural key and content; a second store of the same message returns the first id."""
        self.store_calls += 1
        if self.fail_when is not None and self.fail_when(raw):
            raise RuntimeError("simulated database failure")
        key = (mailbox, natural_key(raw), email_fingerprint(raw))
        if key in self._keys:
            return self._keys[key]
        raw_id = len(self.rows) + 1
        self.rows[raw_id] = StoredRaw(raw_id, mailbox, uidvalidity, uid, raw, key[1])
        self._keys[key] = raw_id
        return raw_id

    def enqueue(self, raw_id: int) -> None:
        """Record the job; jobs are idempotent so enqueuing twice is allowed."""
        self.enqueued.append(raw_id)

    def keys(self) -> list[str]:
        """Natural keys of the stored rows, in insertion order."""
        return [row.key for row in self.rows.values()]

    def not_enqueued(self) -> set[int]:
        """Stored rows never enqueued: what the sweeper would pick up."""
        return set(self.rows) - set(self.enqueued)
