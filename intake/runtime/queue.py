"""Redis and rq plumbing: the queues, enqueueing each job once, leases renewed by a heartbeat, time slots."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from intake.config import Config, ConfigError

QUEUE_NAME = "guichet"
# Sweeps, polls and digests: workers listen to it first, so a backlog of messages never delays them.
HOUSEKEEPING_QUEUE = "guichet-housekeeping"
# Sending (the outbox sender's jobs): served after the housekeeping and before the processing backlog, so that
# confirmations leave while a backlog is filed and sends never wait behind it in one FIFO.
OUTBOX_QUEUE = "guichet-outbox"
PREFIX = "guichet:"
# A job in one of these states is on its way; any other state (finished, failed, stopped...) may be replaced.
LIVE = frozenset({"queued", "started", "scheduled", "deferred", "created", "ready_to_enqueue", "rate_limited"})


def redis_connection(config: Config, **kwargs: Any) -> Redis:
    """Connect to the configured Redis (GUICHET_REDIS_URL or redis_url)."""
    if not config.redis_url:
        raise ConfigError(
            "redis_url: not set (run `guichet up`, which starts a private Redis, or set GUICHET_REDIS_URL)"
        )
    return Redis.from_url(config.redis_url, **kwargs)


def get_queue(redis: Redis) -> Queue:
    """The work queue of Guichet: processing and sending."""
    return Queue(QUEUE_NAME, connection=redis)


def housekeeping_queue(redis: Redis) -> Queue:
    """The queue of periodic work (polls, sweeps, digests), served before the work queue."""
    return Queue(HOUSEKEEPING_QUEUE, connection=redis)


def outbox_queue(redis: Redis) -> Queue:
    """The queue of sends (send_notifications, send_notification), served before the work queue."""
    return Queue(OUTBOX_QUEUE, connection=redis)


def worker_queues(redis: Redis) -> list[Queue]:
    """The queues a worker listens to, in priority order."""
    return [housekeeping_queue(redis), outbox_queue(redis), get_queue(redis)]


def enqueue_once(queue: Queue, func: str, *, job_id: str, args: tuple[Any, ...] = (), **options: Any) -> str | None:
    """Queue `func` under `job_id` unless a job of that id is already on its way.

    Returns None when queued, else the state of the job already there (queued, started, scheduled...).
    A finished or failed job of the same id is replaced: it no longer stands for pending work.
    """
    for _ in range(3):
        try:
            queue.enqueue_call(func, args=args, job_id=job_id, unique=True, **options)
            return None
        except DuplicateJobError:
            job = queue.fetch_job(job_id)
            if job is None:
                continue  # expired between the two calls: try again
            status = str(getattr(job.get_status(refresh=True), "value", job.get_status()) or "")
            if status in LIVE:
                return status
            job.delete()
    return "queued"


def process_job_id(raw_id: int) -> str:
    """The rq job id of the processing of a raw message (one at a time per message)."""
    return f"process-{raw_id}"


def enqueue_process(queue: Queue, raw_id: int, *, timeout: int) -> bool:
    """Queue the processing of a stored raw message unless already queued; True when queued now."""
    return (
        enqueue_once(
            queue,
            "intake.runtime.jobs.process_message",
            job_id=process_job_id(raw_id),
            args=(raw_id,),
            timeout=timeout,
            result_ttl=600,
            failure_ttl=7 * 86400,
            retry=Retry(max=3, interval=[10, 60, 300]),
        )
        is None
    )


# Messages per processing job: one fork of a work horse, one claim, one budgeted child and a few filing commits
# for the whole batch instead of for each message.
PROCESS_BATCH = 50
# A queued message's batch job, by message: the sweeper re-enqueues a message only when that job is gone.
_QUEUED = PREFIX + "queued:"


def queued_key(raw_id: int) -> str:
    """The Redis key naming the batch job that carries `raw_id`."""
    return f"{_QUEUED}{raw_id}"


def enqueue_batch(queue: Queue, raw_ids: list[int], *, timeout: int, size: int = PROCESS_BATCH) -> int:
    """Queue the processing of stored raw messages, `size` per job (process_messages); the number of jobs queued.

    Each message is noted with its job (a key expiring with the job's longest life), so that the sweeper can tell
    a message waiting in a backlog from one whose job Redis lost.
    """
    jobs = 0
    ids = list(dict.fromkeys(raw_ids))
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        job_id = f"process-batch-{chunk[0]}-{secrets.token_hex(4)}"
        with queue.connection.pipeline(transaction=False) as pipe:
            for raw_id in chunk:
                pipe.set(queued_key(raw_id), job_id, ex=7 * 86400)
            pipe.execute()
        queue.enqueue_call(
            "intake.runtime.jobs.process_messages",
            args=(chunk,),
            job_id=job_id,
            timeout=timeout,
            result_ttl=600,
            failure_ttl=7 * 86400,
            retry=Retry(max=3, interval=[10, 60, 300]),
        )
        jobs += 1
    return jobs


def queued_ids(queue: Queue, raw_ids: list[int]) -> set[int]:
    """Those of `raw_ids` whose processing job (their batch's, else their own) is queued, running or scheduled."""
    if not raw_ids:
        return set()
    notes = queue.connection.mget([queued_key(raw_id) for raw_id in raw_ids])
    batches = {raw_id: _text(note) for raw_id, note in zip(raw_ids, notes, strict=True) if note}
    live_batches = _live(queue, set(batches.values()))  # a backlog: a few batch jobs carry thousands of ids
    waiting = {raw_id for raw_id, job_id in batches.items() if job_id in live_batches}
    alone = {process_job_id(raw_id): raw_id for raw_id in raw_ids if raw_id not in waiting}
    return waiting | {alone[job_id] for job_id in _live(queue, set(alone))}


def _live(queue: Queue, job_ids: set[str]) -> set[str]:
    """The ids among `job_ids` of jobs on their way (queued, running, scheduled...)."""
    from rq.job import Job

    if not job_ids:
        return set()
    live = set()
    for job in Job.fetch_many(sorted(job_ids), connection=queue.connection, serializer=queue.serializer):
        status = job.get_status(refresh=False) if job is not None else None
        if job is not None and str(getattr(status, "value", status) or "") in LIVE:
            live.add(job.id)
    return live


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def forget_queued(redis: Redis, raw_ids: list[int], job_id: str) -> None:
    """Drop the notes of a batch job once it ran (only those still naming that job)."""
    keys = [queued_key(raw_id) for raw_id in raw_ids]
    if not keys:
        return
    current = redis.mget(keys)
    stale = [key for key, value in zip(keys, current, strict=True) if value is not None and _text(value) == job_id]
    if stale:
        redis.delete(*stale)


def enqueue_sends(queue: Queue, outbox_ids: list[int], *, timeout: int) -> bool:
    """Queue one job sending these outbox rows (send_notifications) on the outbox queue of `queue`'s Redis; the
    database sweep is the backstop."""
    if not outbox_ids:
        return False
    outbox_queue(queue.connection).enqueue_call(
        "intake.runtime.jobs.send_notifications",
        args=(list(outbox_ids),),
        timeout=timeout,
        result_ttl=0,
        failure_ttl=7 * 86400,
    )
    return True


def enqueue_send(queue: Queue, outbox_id: int, *, timeout: int) -> bool:
    """Queue the sending of an outbox row on the outbox queue of `queue`'s Redis unless already queued (the
    database sweep is the backstop)."""
    return (
        enqueue_once(
            outbox_queue(queue.connection),
            "intake.runtime.jobs.send_notification",
            job_id=f"send-{outbox_id}",
            args=(outbox_id,),
            timeout=timeout,
            result_ttl=600,
            failure_ttl=7 * 86400,
            retry=Retry(max=5, interval=[30, 120, 600, 1800]),
        )
        is None
    )


def poll_again_key(mailbox: str) -> str:
    """Set when a poll was asked for while one was running: the running poll reads the mailbox once more."""
    return PREFIX + f"poll-again:{mailbox}"


def enqueue_poll(queue: Queue, mailbox: str, *, timeout: int) -> bool:
    """Queue a poll of `mailbox` on the housekeeping queue; True when queued.

    When a poll is already running it is told to read the mailbox again once done, so that mail arriving
    during a poll never waits for the next periodic one.
    """
    if queue.name != HOUSEKEEPING_QUEUE:
        queue = housekeeping_queue(queue.connection)
    state = enqueue_once(
        queue,
        "intake.runtime.jobs.poll_mailbox_job",
        job_id=f"poll-{mailbox}",
        args=(mailbox,),
        timeout=timeout,
        result_ttl=0,
        failure_ttl=60,
    )
    if state == "started":
        queue.connection.set(poll_again_key(mailbox), "1", ex=max(60, timeout))
    return state is None


def enqueue_poll_continuation(queue: Queue, mailbox: str, *, timeout: int) -> None:
    """Queue the rest of a bounded poll of `mailbox` (its job still runs, so its own job id cannot be reused).

    Its id is its own: a continuation that finds another poll running is skipped by the poll's lease and leaves
    that poll to read once more, so continuations never pile up.
    """
    housekeeping_queue(queue.connection).enqueue_call(
        "intake.runtime.jobs.poll_mailbox_job",
        args=(mailbox,),
        job_id=f"poll-{mailbox}-more-{secrets.token_hex(4)}",
        timeout=timeout,
        result_ttl=0,
        failure_ttl=60,
    )


def claim_slot(redis: Redis, key: str, *, seconds: int) -> bool:
    """Take a time slot shared by every worker: True for exactly one caller per `seconds`."""
    return bool(redis.set(PREFIX + "slot:" + key, "1", nx=True, ex=max(1, seconds)))


_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class Lease:
    """A lock across hosts owned by a token: renewed and released only by its holder, expiring soon after the
    holder dies (short TTL, renewed by a heartbeat)."""

    def __init__(self, redis: Redis, key: str, *, ttl: float = 30.0) -> None:
        self.redis, self.name, self.ttl = redis, PREFIX + "lock:" + key, ttl
        self.token = secrets.token_hex(8)
        self.held = False

    @property
    def _ms(self) -> int:
        return max(1000, int(self.ttl * 1000))

    def acquire(self) -> bool:
        """Take the lock if free (or already ours); never waits."""
        if self.held and self.renew():
            return True
        self.held = bool(self.redis.set(self.name, self.token, nx=True, px=self._ms))
        return self.held

    def renew(self) -> bool:
        """Extend the lock only if we still hold it; False (and not held) when somebody else has it."""
        self.held = bool(self.redis.eval(_RENEW, 1, self.name, self.token, self._ms))
        return self.held

    def release(self) -> None:
        """Give the lock up if it is still ours (never deletes another holder's lock)."""
        self.held = False
        self.redis.eval(_RELEASE, 1, self.name, self.token)


class Heartbeat(threading.Thread):
    """Renews a lease every third of its TTL until stopped; Redis errors are left to the next beat."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(name=f"guichet-lease-{lease.name}", daemon=True)
        self.lease = lease
        self.stop = threading.Event()

    def run(self) -> None:
        """Beat until stopped."""
        while not self.stop.wait(self.lease.ttl / 3):
            if not self.lease.held:
                continue
            try:
                self.lease.renew()
            except Exception:  # Redis away: the lease may lapse, its holder notices on the next try
                pass


@contextmanager
def exclusive(redis: Redis, key: str, *, ttl: float = 30.0) -> Iterator[bool]:
    """A lock across hosts held as long as the block runs (heartbeat); yields False when somebody else holds it.

    The lock lapses `ttl` seconds after its holder dies, so a killed poller never blocks the next one for long.
    """
    lease = Lease(redis, key, ttl=ttl)
    if not lease.acquire():
        yield False
        return
    beat = Heartbeat(lease)
    beat.start()
    try:
        yield True
    finally:
        beat.stop.set()
        try:
            lease.release()
        except Exception:  # Redis away: the lock lapses by itself within `ttl`
            pass
