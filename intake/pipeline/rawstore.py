"""Persisting what arrives, verbatim and idempotently, and claiming it for processing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake.models import MailboxState, RawMessage, utcnow
from intake.pipeline.content_keys import content_key
from intake.runtime.db import read_only

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
    with factory() as session:
        found = _same(
            session, channel=channel, source=source, key=key, payload=payload, refuse_other_content=refuse_other_content
        )
        if isinstance(found, int):
            return found, False
        found.imap_uidvalidity, found.imap_uid = imap_uidvalidity, imap_uid
        session.add(found)
        try:
            session.commit()
        except IntegrityError:
            # Another process stored the same message between our lookup and our insert.
            session.rollback()
            return session.execute(
                select(RawMessage.id).where(
                    RawMessage.channel == channel,
                    RawMessage.source == source,
                    RawMessage.external_key == key,
                    RawMessage.content_key == found.content_key,
                )
            ).scalar_one(), False
        return found.id, True


def store_emails(
    factory: sessionmaker[Session], *, source: str, uidvalidity: int, messages: list[tuple[int, bytes]]
) -> list[int]:
    """Store a batch of fetched emails (uid, bytes) in one transaction, one commit; their ids in order.

    All or nothing: on any failure (a concurrent store of the same message included) nothing is kept and the
    error is raised, so that the caller stores them one by one with store_raw.
    """
    return [
        raw_id
        for raw_id, _ in store_many(
            factory,
            [
                NewRaw(
                    channel="email",
                    source=source,
                    external_key=email_key(raw),
                    payload=raw,
                    imap_uidvalidity=uidvalidity,
                    imap_uid=uid,
                )
                for uid, raw in messages
            ],
        )
    ]


@dataclass(frozen=True)
class NewRaw:
    """One message to store (store_raw's arguments)."""

    channel: str
    source: str
    external_key: str
    payload: bytes
    imap_uidvalidity: int | None = None
    imap_uid: int | None = None


def store_many(factory: sessionmaker[Session], items: list[NewRaw]) -> list[tuple[int, bool]]:
    """store_raw over a batch in one transaction (one commit): (id, created) per item, in order. All or nothing:
    a failure (a concurrent store of the same message included) keeps nothing and is raised."""
    with factory() as session, session.begin():
        out = []
        for item in items:
            found = _same(
                session,
                channel=item.channel,
                source=item.source,
                key=item.external_key[:KEY_LENGTH],
                payload=item.payload,
            )
            if isinstance(found, int):
                out.append((found, False))
                continue
            found.imap_uidvalidity, found.imap_uid = item.imap_uidvalidity, item.imap_uid
            session.add(found)
            session.flush()
            out.append((found.id, True))
    return out


def _same(
    session: Session, *, channel: str, source: str, key: str, payload: bytes, refuse_other_content: bool = False
) -> int | RawMessage:
    """The id of the same message already stored, else the new row to add (flagged when its key was taken)."""
    content = content_key(channel, payload)
    same_key = (RawMessage.channel == channel, RawMessage.source == source, RawMessage.external_key == key)
    earlier = session.execute(
        select(RawMessage.id, RawMessage.content_key).where(*same_key).order_by(RawMessage.id)
    ).all()
    for raw_id, stored in earlier:
        if stored is None:  # stored before revision 0007: its content key is computed from its payload
            old = session.execute(select(RawMessage.payload).where(RawMessage.id == raw_id)).scalar_one()
            stored = content_key(channel, old)
        if stored == content:
            return int(raw_id)
    if earlier and refuse_other_content:
        raise KeyCollision(earlier[0][0], key)
    return RawMessage(
        channel=channel,
        source=source,
        external_key=key,
        content_key=content,
        key_collision=bool(earlier),
        payload=payload,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        status="pending",
    )


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


def claim_many(factory: sessionmaker[Session], raw_ids: list[int], *, worker: str, stale_after: int) -> list[int]:
    """Claim a batch in one short transaction (one UPDATE ... RETURNING); the ids claimed now, in the given order."""
    if not raw_ids:
        return []
    now = utcnow()
    stale = now - timedelta(seconds=stale_after)
    with factory() as session, session.begin():
        got = set(
            session.execute(
                update(RawMessage)
                .where(
                    RawMessage.id.in_(raw_ids),
                    or_(
                        RawMessage.status.in_(("pending", "failed")),
                        (RawMessage.status == "processing") & (RawMessage.claimed_at < stale),
                    ),
                )
                .values(status="processing", claimed_by=worker, claimed_at=now, attempts=RawMessage.attempts + 1)
                .returning(RawMessage.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
    return [raw_id for raw_id in dict.fromkeys(raw_ids) if raw_id in got]


def finish(factory: sessionmaker[Session], raw_id: int, *, status: str, error: str | None = None) -> None:
    """Record the outcome of processing (processed, discarded, failed) and release the claim."""
    with factory() as session, session.begin():
        finish_in(session, raw_id, status=status, error=error)


def finish_in(session: Session, raw_id: int, *, status: str, error: str | None = None) -> None:
    """finish() inside the caller's transaction (the filing transaction of a batch)."""
    session.execute(
        update(RawMessage)
        .where(RawMessage.id == raw_id)
        .values(status=status, error=error, claimed_by=None, claimed_at=None, processed_at=utcnow())
    )


def release_many(factory: sessionmaker[Session], raw_ids: list[int], *, worker: str, error: str) -> int:
    """Give claimed messages back as pending with `error` (the database failed mid-batch: rq or the sweeper retries)."""
    if not raw_ids:
        return 0
    with factory() as session, session.begin():
        done = session.execute(
            update(RawMessage)
            .where(RawMessage.id.in_(raw_ids), RawMessage.status == "processing", RawMessage.claimed_by == worker)
            .values(status="pending", error=error, claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(done, "rowcount", 0) or 0)


def pending_rows(
    factory: sessionmaker[Session],
    *,
    older_than: datetime,
    stale_before: datetime,
    max_attempts: int,
    limit: int = 5000,
) -> list[tuple[int, str]]:
    """Raw messages that should be (re)processed, with their status: `pending`, or `processing` for a claim whose
    worker died."""
    with read_only(factory) as session:
        rows = session.execute(
            select(RawMessage.id, RawMessage.status)
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
        return [(raw_id, status) for raw_id, status in rows]


class DatabaseSink:
    """The IMAP poller's RawSink backed by the database; enqueueing is delegated to a callable."""

    def __init__(
        self, factory: sessionmaker[Session], enqueue: object, enqueue_many: Callable[[list[int]], None] | None = None
    ) -> None:
        self._factory = factory
        self._enqueue = enqueue
        self._enqueue_many = enqueue_many

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

    def store_many(self, *, mailbox: str, uidvalidity: int, messages: list[tuple[int, bytes]]) -> list[int]:
        """Persist a fetched batch in one commit (all or nothing); the raw ids in order."""
        return store_emails(self._factory, source=mailbox, uidvalidity=uidvalidity, messages=messages)

    def enqueue(self, raw_id: int) -> None:
        """Hand the stored message to the processing queue."""
        if self._enqueue_many is not None:
            self._enqueue_many([raw_id])
        elif callable(self._enqueue):
            self._enqueue(raw_id)

    def enqueue_many(self, raw_ids: list[int]) -> None:
        """Hand a stored batch to the processing queue (one job when a batch enqueuer was given)."""
        if self._enqueue_many is not None:
            self._enqueue_many(list(raw_ids))
            return
        for raw_id in raw_ids:
            self.enqueue(raw_id)
