"""Redis and rq plumbing: the queue, enqueueing jobs, and per-mailbox locks and schedules."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from intake.config import Config, ConfigError

QUEUE_NAME = "guichet"
PREFIX = "guichet:"


def redis_connection(config: Config) -> Redis:
    """Connect to the configured Redis (GUICHET_REDIS_URL or redis_url)."""
    if not config.redis_url:
        raise ConfigError(
            "redis_url: not set (run `guichet up`, which starts a private Redis, or set GUICHET_REDIS_URL)"
        )
    return Redis.from_url(config.redis_url)


def get_queue(redis: Redis) -> Queue:
    """The single work queue of Guichet."""
    return Queue(QUEUE_NAME, connection=redis)


def enqueue_process(queue: Queue, raw_id: int, *, timeout: int) -> None:
    """Queue the processing of a stored raw message (idempotent job)."""
    queue.enqueue_call(
        "intake.runtime.jobs.process_message", args=(raw_id,), timeout=timeout, result_ttl=600, failure_ttl=7 * 86400,
        retry=Retry(max=3, interval=[10, 60, 300]),
    )


def enqueue_send(queue: Queue, outbox_id: int, *, timeout: int) -> None:
    """Queue the sending of an outbox row (idempotent job, retried on transient errors)."""
    queue.enqueue_call(
        "intake.runtime.jobs.send_notification", args=(outbox_id,), timeout=timeout, result_ttl=600,
        failure_ttl=7 * 86400, retry=Retry(max=5, interval=[30, 120, 600, 1800, 3600]),
    )


def enqueue_poll(queue: Queue, mailbox: str, *, timeout: int) -> bool:
    """Queue a poll of `mailbox` unless one is already queued; True when queued."""
    try:
        queue.enqueue_call(
            "intake.runtime.jobs.poll_mailbox_job", args=(mailbox,), timeout=timeout, job_id=f"poll-{mailbox}",
            unique=True, result_ttl=0, failure_ttl=300,
        )
    except DuplicateJobError:
        return False
    return True


def claim_slot(redis: Redis, key: str, *, seconds: int) -> bool:
    """Take a time slot shared by every worker: True for exactly one caller per `seconds`."""
    return bool(redis.set(PREFIX + "slot:" + key, "1", nx=True, ex=max(1, seconds)))


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@contextmanager
def exclusive(redis: Redis, key: str, *, ttl: int) -> Iterator[bool]:
    """A lock across hosts; yields False (without waiting) when somebody else holds it."""
    token = secrets.token_hex(8)
    name = PREFIX + "lock:" + key
    acquired = bool(redis.set(name, token, nx=True, ex=max(1, ttl)))
    try:
        yield acquired
    finally:
        if acquired:
            redis.eval(_RELEASE, 1, name, token)
