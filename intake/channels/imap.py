"""IMAP intake: fetch new mail verbatim, persist it, then acknowledge it on the server (move or flag)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from imapclient import DELETED, SEEN, IMAPClient

from intake.channels.imap_auth import ImapError, close, connect, imap_error, translate_errors

__all__ = ["ImapError", "ImapSettings", "PollResult", "RawSink", "poll_mailbox", "wait_for_mail"]

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$GuichetProcessed"
STEPS = ("fetched", "stored", "acknowledged", "cursor")
# RFC 2177: clients should re-issue IDLE at least every 29 minutes or the server may drop them.
_IDLE_RENEW_SECONDS = 25 * 60


@dataclass(frozen=True, kw_only=True)
class ImapSettings:
    """One town-hall mailbox: where it is, how to log in, and what to do with handled mail."""

    name: str
    host: str
    port: int = 993
    tls: bool = True
    starttls: bool = False
    username: str
    password: str | None = field(default=None, repr=False)
    oauth2_token: str | None = field(default=None, repr=False)
    folder: str = "INBOX"
    processed_folder: str | None = "Traités"
    after_store: Literal["move", "flag"] = "move"
    batch_size: int = 50
    timeout: float = 30.0  # socket timeout; must stay shorter than the job timeout
    ssl_verify: bool = True
    ca_file: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.after_store not in ("move", "flag"):
            problems.append(f"after_store must be 'move' or 'flag', not {self.after_store!r}")
        if self.tls and self.starttls:
            problems.append("tls and starttls are exclusive (993 is TLS, 143 + starttls upgrades)")
        if self.batch_size < 1:
            problems.append("batch_size must be at least 1")
        if self.timeout <= 0:
            problems.append("timeout must be positive")
        if self.processed_folder is not None and self.processed_folder == self.folder:
            problems.append("processed_folder must differ from folder")
        if problems:
            raise ValueError(f"IMAP mailbox {self.name!r}: " + "; ".join(problems))

    @property
    def moves(self) -> bool:
        """True when handled mail is moved out of the folder, False when it is flagged in place."""
        return self.after_store == "move" and self.processed_folder is not None


class RawSink(Protocol):
    """Where fetched messages are persisted (implemented elsewhere with the database)."""

    def get_cursor(self, mailbox: str) -> tuple[int | None, int]:
        """(uidvalidity, last_uid) already handled; (None, 0) for a new mailbox."""
        ...

    def set_cursor(self, mailbox: str, *, uidvalidity: int, last_uid: int) -> None:
        """Remember how far the mailbox has been read."""
        ...

    def store(self, *, mailbox: str, uidvalidity: int, uid: int, raw: bytes) -> int:
        """Persist and COMMIT a raw message; idempotent on mailbox + Message-ID (or hash) + content.

        The same Message-ID with other content (a contact-form relay, a broken mailer) is another message and
        gets its own row: acknowledging it must never drop it.
        """
        ...

    def enqueue(self, raw_id: int) -> None:
        """Hand a stored raw message to the processing queue."""
        ...

    # Optional, for speed: `store_many(*, mailbox, uidvalidity, messages: list[(uid, raw)]) -> list[int]` stores a
    # batch in one commit (all or nothing), `enqueue_many(raw_ids)` queues a batch in one job.


@dataclass
class PollResult:
    """What one poll did; errors are per-message failures that a later poll will retry."""

    mailbox: str
    fetched: int = 0
    stored: int = 0
    acknowledged: int = 0
    errors: list[str] = field(default_factory=list)
    uidvalidity: int | None = None
    last_uid: int = 0
    idle_supported: bool = False
    uidnext: int | None = None  # pass to wait_for_mail(since_uidnext=...) to close the poll/IDLE gap
    more: bool = False  # max_batches stopped the poll with new mail still in the folder: poll again


def _no_step(step: str, uid: int) -> None:
    return None


def poll_mailbox(
    settings: ImapSettings,
    sink: RawSink,
    *,
    max_batches: int | None = None,
    on_step: Callable[[str, int], None] | None = None,
) -> PollResult:
    """Read new messages of one mailbox into `sink`, acknowledging each only after it is committed.

    Per batch of `batch_size` messages: one UID FETCH BODY.PEEK[] of the batch → store (one commit for the batch
    when the sink has `store_many`) → one move/flag of the batch on the server → set_cursor once → enqueue (one job
    when the sink has `enqueue_many`). A crash between two steps loses nothing: an unacknowledged message is
    still in the folder and is fetched again, and the sink's idempotent store returns the existing row. A crash
    after acknowledging but before enqueue leaves pending raw rows, which the sweeper re-enqueues.
    `on_step(step, uid)` is called after each step (see STEPS); tests raise from it to simulate a crash.
    """
    client = connect(settings)
    try:
        return _poll(client, settings, sink, max_batches=max_batches, step=on_step or _no_step)
    finally:
        close(client)


def _poll(
    client: IMAPClient,
    settings: ImapSettings,
    sink: RawSink,
    *,
    max_batches: int | None,
    step: Callable[[str, int], None],
) -> PollResult:
    result = PollResult(mailbox=settings.name)
    with translate_errors(
        settings, f"impossible d'ouvrir le dossier {settings.folder!r}", f"cannot select folder {settings.folder!r}"
    ):
        info = client.select_folder(settings.folder, readonly=False)
        capabilities = {c.decode().upper() for c in client.capabilities()}
    result.idle_supported = "IDLE" in capabilities
    result.uidnext = info.get(b"UIDNEXT")
    uidvalidity = int(info[b"UIDVALIDITY"])
    result.uidvalidity = uidvalidity
    _check_acknowledgement_possible(settings, info, capabilities)

    known_validity, last_uid = sink.get_cursor(settings.name)
    if known_validity != uidvalidity:
        # The server renumbered the folder (migration, rebuilt index): old UIDs mean nothing now.
        # Re-reading from UID 1 is safe and cheap: handled mail has left the folder (move mode) or
        # carries the processed keyword (flag mode), and the sink is idempotent on Message-ID and content,
        # so a message seen under the old numbering is not stored twice.
        if known_validity is not None:
            log.warning(
                "IMAP %s: UIDVALIDITY changed %s -> %s, rescanning from UID 1",
                settings.name,
                known_validity,
                uidvalidity,
            )
        last_uid = 0
        sink.set_cursor(settings.name, uidvalidity=uidvalidity, last_uid=0)
    result.last_uid = last_uid

    with translate_errors(settings, "recherche des nouveaux messages impossible", "cannot search for new mail"):
        uids = _new_uids(client, settings, last_uid)
    batches = [uids[i : i + settings.batch_size] for i in range(0, len(uids), settings.batch_size)]
    if max_batches is not None:
        result.more = len(batches) > max_batches
        batches = batches[:max_batches]
    if batches and settings.moves:
        with translate_errors(
            settings, "création du dossier de classement impossible", "cannot create the processed folder"
        ):
            _ensure_folder(client, settings.processed_folder or "")

    # The cursor never passes a message that failed to store, so that a later poll retries it.
    blocked = False
    for batch in batches:
        fetched: list[tuple[int, bytes]] = []
        bodies = _fetch_batch(client, settings, batch)
        for uid in batch:
            raw = bodies.get(uid)
            if raw is None:
                continue  # expunged by someone else between SEARCH and FETCH
            result.fetched += 1
            step("fetched", uid)
            fetched.append((uid, raw))
        stored, first_failed = _store(sink, settings, uidvalidity, fetched, result, step)
        if not stored:
            blocked = blocked or first_failed is not None
            continue
        uids = [uid for uid, _ in stored]
        # One command acknowledges the batch: a crash before it leaves the whole batch in the folder, fetched
        # again and recognised by the idempotent store.
        with translate_errors(
            settings,
            f"accusé de traitement impossible (UID {uids[0]} à {uids[-1]})",
            f"cannot acknowledge UIDs {uids[0]}-{uids[-1]}",
        ):
            _acknowledge(client, settings, uids, capabilities)
        for uid in uids:
            result.acknowledged += 1
            step("acknowledged", uid)
        passable = [uid for uid in uids if first_failed is None or uid < first_failed]
        if not blocked and passable:
            sink.set_cursor(settings.name, uidvalidity=uidvalidity, last_uid=passable[-1])
            result.last_uid = passable[-1]
        blocked = blocked or first_failed is not None
        for uid in uids:
            step("cursor", uid)
        _enqueue(sink, settings, [raw_id for _, raw_id in stored], result)
    return result


def _store(
    sink: RawSink,
    settings: ImapSettings,
    uidvalidity: int,
    fetched: list[tuple[int, bytes]],
    result: PollResult,
    step: Callable[[str, int], None],
) -> tuple[list[tuple[int, int]], int | None]:
    """Persist a fetched batch: in one commit when the sink can (`store_many`), else one by one. Returns the
    (uid, raw id) stored and the first UID that failed to store (left on the server for a later poll)."""
    stored: list[tuple[int, int]] = []
    failed: list[int] = []
    many = getattr(sink, "store_many", None)
    if many is not None and len(fetched) > 1:
        try:
            ids = many(mailbox=settings.name, uidvalidity=uidvalidity, messages=fetched)
        except Exception:  # one bad message must not block the others: store them one by one
            log.warning("IMAP %s: storing a batch failed, storing its messages one by one", settings.name)
        else:
            for (uid, _), raw_id in zip(fetched, ids, strict=True):
                result.stored += 1
                step("stored", uid)
                stored.append((uid, raw_id))
            return stored, None
    for uid, raw in fetched:
        try:
            raw_id = sink.store(mailbox=settings.name, uidvalidity=uidvalidity, uid=uid, raw=raw)
        except Exception as exc:  # one bad message must not block the mailbox
            log.exception("IMAP %s: storing UID %s failed, left on the server", settings.name, uid)
            result.errors.append(f"UID {uid}: {type(exc).__name__}: {exc}")
            failed.append(uid)
            continue
        result.stored += 1
        step("stored", uid)
        stored.append((uid, raw_id))
    return stored, (failed[0] if failed else None)


def _enqueue(sink: RawSink, settings: ImapSettings, raw_ids: list[int], result: PollResult) -> None:
    """Hand the stored batch to the processing queue (in one job when the sink can: `enqueue_many`)."""
    many = getattr(sink, "enqueue_many", None)
    try:
        if many is not None:
            many(raw_ids)
            return
        for raw_id in raw_ids:
            sink.enqueue(raw_id)
    except Exception as exc:  # Redis down: the raw rows are committed, the sweeper re-enqueues them
        log.exception("IMAP %s: enqueue of raw messages %s failed", settings.name, raw_ids)
        result.errors.append(f"enqueue of {len(raw_ids)} message(s) failed: {type(exc).__name__}: {exc}")


def _check_acknowledgement_possible(settings: ImapSettings, info: dict[bytes, Any], capabilities: set[str]) -> None:
    """Refuse to start a poll whose acknowledgement step is bound to fail on this server."""
    if settings.moves and not ({"MOVE", "UIDPLUS"} & capabilities):
        # Without UID EXPUNGE the only way to remove a message is a plain EXPUNGE, which would also
        # destroy messages someone else flagged \Deleted: never do that.
        raise imap_error(
            settings,
            "le serveur n'a ni MOVE ni UIDPLUS : mettre after_store: flag",
            "server has neither MOVE nor UIDPLUS: set after_store: flag",
            None,
        )
    # Flag mode needs a keyword: \Seen alone cannot tell handled mail from mail a human has read.
    permanent = set(info.get(b"PERMANENTFLAGS") or ())
    if not settings.moves and not ({b"\\*", PROCESSED_KEYWORD.encode()} & permanent):
        raise imap_error(
            settings,
            f"le serveur refuse le mot-clé {PROCESSED_KEYWORD} : mettre after_store: move",
            f"server refuses keyword {PROCESSED_KEYWORD}: set after_store: move",
            None,
        )


def _new_uids(client: IMAPClient, settings: ImapSettings, last_uid: int) -> list[int]:
    criteria: list[str] = ["UID", f"{last_uid + 1}:*", "NOT", "DELETED"]
    # \Deleted mail is someone's pending deletion (spam cleared in a mail client): not ours to import.
    if not settings.moves:
        criteria += ["NOT", "KEYWORD", PROCESSED_KEYWORD]
    # "N:*" always matches the highest UID, even when it is below N: filter.
    return sorted(uid for uid in client.search(criteria) if uid > last_uid)


def _fetch_batch(client: IMAPClient, settings: ImapSettings, uids: list[int]) -> dict[int, bytes]:
    """The bodies of a batch of UIDs in one UID FETCH (one round trip instead of one per message).

    Memory is bounded by the batch, which is held until its commit anyway. PEEK leaves \\Seen alone, so staff
    reading the same mailbox still see the mail as unread until handled. A UID expunged meanwhile is absent.
    """
    if not uids:
        return {}
    with translate_errors(
        settings,
        f"lecture des messages UID {uids[0]} à {uids[-1]} impossible",
        f"cannot fetch UIDs {uids[0]}-{uids[-1]}",
    ):
        data = client.fetch(uids, ["BODY.PEEK[]"])
    wanted = set(uids)
    bodies: dict[int, bytes] = {}
    for uid, fields in data.items():
        raw = fields.get(b"BODY[]")
        if uid in wanted and raw is not None:
            bodies[uid] = bytes(raw)
    return bodies


def _ensure_folder(client: IMAPClient, folder: str) -> None:
    if client.folder_exists(folder):
        return
    try:
        client.create_folder(folder)
    except IMAPClient.Error:
        if not client.folder_exists(folder):  # another poller may have just created it
            raise
    try:
        client.subscribe_folder(folder)  # so that staff see it in their mail client
    except IMAPClient.Error:
        log.info("IMAP: could not subscribe to %r", folder)


def _acknowledge(client: IMAPClient, settings: ImapSettings, uids: list[int], capabilities: set[str]) -> None:
    if not settings.moves:
        client.add_flags(uids, [SEEN, PROCESSED_KEYWORD.encode()], silent=True)
    elif "MOVE" in capabilities:
        client.move(uids, settings.processed_folder)
    else:
        # COPY first: a crash before the expunge leaves a second copy in the processed folder
        # (the sink still holds one row), never a message that is nowhere.
        client.copy(uids, settings.processed_folder)
        client.add_flags(uids, [DELETED], silent=True)
        client.uid_expunge(uids)  # these UIDs only: a plain EXPUNGE would remove others' \Deleted mail


def wait_for_mail(settings: ImapSettings, *, timeout: float, since_uidnext: int | None = None) -> bool:
    """Block until new mail arrives in the folder (IMAP IDLE) or `timeout` seconds pass.

    Returns True on new mail (EXISTS/RECENT), False on timeout, and False at once when the server
    has no IDLE so that the caller falls back to polling. With `since_uidnext` (PollResult.uidnext)
    mail that arrived between the last poll and now also returns True at once.
    """
    return watch(settings, timeout=timeout, since_uidnext=since_uidnext)[0]


def watch(settings: ImapSettings, *, timeout: float, since_uidnext: int | None = None) -> tuple[bool, int | None]:
    """wait_for_mail, and the folder's UIDNEXT when the watch began: the next watch passes it as
    `since_uidnext`, so that mail arriving between two watches (while reconnecting) is not left to the
    periodic poll."""
    client = connect(settings)
    try:
        with translate_errors(settings, "attente de nouveaux messages (IDLE) interrompue", "IDLE failed"):
            if not client.has_capability("IDLE"):
                return False, None
            info = client.select_folder(settings.folder, readonly=True)
            uidnext = int(info.get(b"UIDNEXT", 0)) or None
            if since_uidnext is not None and uidnext is not None and uidnext > since_uidnext:
                return True, uidnext
            return _idle(client, settings, time.monotonic() + timeout), uidnext
    finally:
        close(client)


def _idle(client: IMAPClient, settings: ImapSettings, deadline: float) -> bool:
    while (remaining := deadline - time.monotonic()) > 0:
        chunk = min(remaining, _IDLE_RENEW_SECONDS)
        client.idle()
        started = time.monotonic()
        responses = client.idle_check(timeout=chunk)
        _text, late = client.idle_done()
        if any(_is_new_mail(response) for response in [*responses, *late]):
            return True
        if not responses and time.monotonic() - started < chunk - 0.5:
            # idle_check returns early with nothing only when the socket hit EOF.
            raise imap_error(settings, "connexion fermée pendant IDLE", "connection closed during IDLE", None)
    return False


def _is_new_mail(response: tuple[object, ...]) -> bool:
    if len(response) < 2 or not isinstance(response[0], int):
        return False
    kind = response[1]
    return kind == b"EXISTS" or (kind == b"RECENT" and response[0] > 0)
