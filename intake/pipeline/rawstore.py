"""Persisting what arrives, verbatim and idempotently, and claiming it for processing."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake.models import MailboxState, RawMessage, utcnow
from intake.pipeline.content_keys import content_key

_MSGID = re.compile(r"<([^<>\s]{1,250})>")
KEY_LENGTH = 255  # raw_message.external_key


class KeyCollision(Exception):
    """A natural key already stored with other content, refused (a signed webhook replayed or forged)."""

    def __init__(self, raw_id: int, external_key: str) -> None:
        super().__init__(f"key {external_key!r} already stored as raw message {raw_id} with other content")
        self.raw_id = raw_id
        self.external_key = external_key


def email_key(raw: bytes) -> str:
    """The natural key of an email: its Message-ID, else the sha256 of its bytes."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
        value = str(headers.get("Message-ID", "") or "")
    except Exception:  # a header block too broken to parse still gets a key
        value = ""
    match = _MSGID.search(value)
    if match:
        return "mid:" + match.group(1)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def store_raw(
    factory: sessionmaker[Session],
    *,
    channel: str,
    source: str,
    external_key: str,
    payload: bytes,
    imap_uidvalidity: int | None = None,
    imap_uid: int | None = None,
    refuse_other_content: bool = False,
) -> tuple[int, bool]:
    """Insert the raw message and commit; return (id, created). The same message arriving again returns its row.

    "The same message" is the same door (channel, source), the same key (Message-ID, MessageSid, token) AND the
    same content (content_key). A key already stored with other content is a different message that reused
    it (a contact-form relay, a broken mailer, a forged webhook): it is stored as a new row flagged
    `key_collision`, never swallowed, or refused with KeyCollision when `refuse_other_content` (signed
    webhooks, where such a body can only be a replay).
    """
    key = external_key[:KEY_LENGTH]
    content = content_key(channel, payload)
    same_key = (RawMessage.channel == channel, RawMessage.source == source, RawMessage.external_key == key)
    with factory() as session:
        earlier = session.execute(select(RawMessage.id, RawMessage.content_key).where(*same_key)
                                  .order_by(RawMessage.id)).all()
        for raw_id, stored in earlier:
            if stored is None:  # stored before revision 0007: its content key is computed from its payload
                old = session.execute(select(RawMessage.payload).where(RawMessage.id == raw_id)).scalar_one()
                stored = content_key(channel, old)
            if stored == content:
                return raw_id, False
        if earlier and refuse_other_content:
            raise KeyCollision(earlier[0][0], key)
        row = RawMessage(
            channel=channel,
            source=source,
            external_key=key,
            content_key=content,
            key_collision=bool(earlier),
            payload=payload,
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            imap_uidvalidity=imap_uidvalidity,
            imap_uid=imap_uid,
            status="pending",
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            # Another process stored the same message between our lookup and our insert.
            session.rollback()
            return session.execute(select(RawMessage.id).where(*same_key, RawMessage.content_key == content)
                                   ).scalar_one(), False
        return row.id, True


def claim(factory: sessionmaker[Session], raw_id: int, *, worker: str, stale_after: int) -> bool:
    """Atomically claim a raw message for processing; False if done or held by a live worker."""
    now = utcnow()
    stale = now - timedelta(seconds=stale_after)
    with factory() as session, session.begin():
        result = session.execute(
            update(RawMessage)
            .where(
                RawMessage.id == raw_id,
                or_(
                    RawMessage.status.in_(("pending", "failed")),
                    (RawMessage.status == "processing") & (RawMessage.claimed_at < stale),
                ),
            )
            .values(status="processing", claimed_by=worker, claimed_at=now, attempts=RawMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


def finish(factory: sessionmaker[Session], raw_id: int, *, status: str, error: str | None = None) -> None:
    """Record the outcome of processing (processed, discarded, failed) and release the claim."""
    with factory() as session, session.begin():
        session.execute(
            update(RawMessage)
            .where(RawMessage.id == raw_id)
            .values(status=status, error=error, claimed_by=None, claimed_at=None, processed_at=utcnow())
        )


def pending_ids(factory: sessionmaker[Session], *, older_than: datetime, stale_before: datetime,
                max_attempts: int, limit: int = 500) -> list[int]:
    """Raw messages that should be (re)processed: pending ones, and ones whose worker died."""
    with factory() as session:
        rows = session.execute(
            select(RawMessage.id)
            .where(
                or_(
                    (RawMessage.status == "pending") & (RawMessage.received_at < older_than),
                    (RawMessage.status == "processing") & (RawMessage.claimed_at < stale_before),
                ),
                RawMessage.attempts < max_attempts,
            )
            .order_by(RawMessage.id)
            .limit(limit)
        )
        return list(rows.scalars())


class DatabaseSink:
    """The IMAP poller's RawSink backed by the database; enqueueing is delegated to a callable."""

    def __init__(self, factory: sessionmaker[Session], enqueue: object) -> None:
        self._factory = factory
        self._enqueue = enqueue

    def get_cursor(self, mailbox: str) -> tuple[int | None, int]:
        """Return (uidvalidity, last_uid) stored for the mailbox."""
        with self._factory() as session:
            state = session.get(MailboxState, mailbox)
            return (state.uidvalidity, state.last_uid) if state else (None, 0)

    def set_cursor(self, mailbox: str, *, uidvalidity: int, last_uid: int) -> None:
        """Persist the cursor; never moves it backwards within the same UIDVALIDITY."""
        with self._factory() as session, session.begin():
            state = session.get(MailboxState, mailbox)
            if state is None:
                state = MailboxState(name=mailbox, last_uid=0)
                session.add(state)
            if state.uidvalidity != uidvalidity or last_uid > state.last_uid:
                state.last_uid = last_uid
            state.uidvalidity = uidvalidity

    def store(self, *, mailbox: str, uidvalidity: int, uid: int, raw: bytes) -> int:
        """Persist and commit the raw email (idempotent on mailbox + Message-ID or hash + content)."""
        raw_id, _ = store_raw(
            self._factory,
            channel="email",
            source=mailbox,
            external_key=email_key(raw),
            payload=raw,
            imap_uidvalidity=uidvalidity,
            imap_uid=uid,
        )
        return raw_id

    def enqueue(self, raw_id: int) -> None:
        """Hand the stored message to the processing queue."""
        if callable(self._enqueue):
            self._enqueue(raw_id)
