"""The IMAP IDLE watcher keeps its own lease and hands it over when it dies; a failed poll never blocks the next."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis
from rq import SimpleWorker

from intake.config import Config
from intake.runtime import jobs
from intake.runtime.queue import PREFIX, Lease, enqueue_poll, exclusive, housekeeping_queue, worker_queues
from intake.runtime.resources import build_resources
from intake.runtime.scheduler import IdleWatcher
from tests.channels.conftest import dovecot  # noqa: F401  (the real Dovecot fixture)
from tests.conftest import free_port
from tests.support.dovecot import DovecotServer
from tests.support.mail import citizen_email


def wait_until(condition: Callable[[], Any], *, timeout: float = 20.0, every: float = 0.1) -> Any:
    """Wait for `condition` to be true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"condition not met within {timeout} s")


def mailbox_config(
    make_config: Callable[..., Config],
    server: DovecotServer,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    **overrides: Any,
) -> Config:
    user, password, _ = server.claim_user()
    monkeypatch.setenv("TEST_IMAP_PASSWORD", password)
    mailbox = {
        "name": "mairie",
        "host": server.host,
        "port": server.port,
        "tls": False,
        "username": user,
        "password": {"env": "TEST_IMAP_PASSWORD"},
        "poll_interval": 60,
        **overrides,
    }
    return make_config(redis_url=redis_url, mailboxes=[mailbox])


def poll_job_queued(redis: Redis) -> bool:
    return "poll-mairie" in housekeeping_queue(redis).get_job_ids()


class InProcessWorker(SimpleWorker):
    """rq's SimpleWorker without the pubsub thread, as Guichet's own worker (worker.GuichetWorker): with redis-py 8,
    rq 3 may wait up to 60 s for that thread when a burst ends, and no test sends it rq commands."""

    def subscribe(self) -> None:
        """No pubsub (see the class docstring)."""

    def unsubscribe(self) -> None:
        """No pubsub (see the class docstring)."""


def run_queued_poll(redis: Redis) -> None:
    """What a worker does with the queued poll (rq's SimpleWorker, in this process)."""
    InProcessWorker(worker_queues(redis), connection=redis).work(burst=True)


def test_lease_is_renewed_and_released_only_by_its_holder(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    first, second = Lease(redis, "idle:x", ttl=30), Lease(redis, "idle:x", ttl=30)
    assert first.acquire() and not second.acquire()
    assert first.acquire()  # its own lease: kept, never refused (the old lock refused its own holder)
    assert first.renew() and redis.pttl(PREFIX + "lock:idle:x") > 25_000
    redis.delete(PREFIX + "lock:idle:x")  # as if it had expired while the holder was frozen
    assert second.acquire()
    assert not first.renew() and not first.held  # someone else's now: not extended...
    first.release()  # ...nor deleted
    assert redis.get(PREFIX + "lock:idle:x") == second.token.encode()


def test_a_dead_holder_hands_over_within_the_ttl(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    with exclusive(redis, "poll:x", ttl=1.0) as first:
        assert first
        time.sleep(1.6)  # the heartbeat keeps it while its holder lives
        with exclusive(redis, "poll:x", ttl=1.0) as second:
            assert not second
    dead = Lease(redis, "poll:y", ttl=1.0)
    assert dead.acquire()  # then the process is killed: nobody renews or releases it
    started = time.monotonic()
    wait_until(lambda: Lease(redis, "poll:y", ttl=1.0).acquire(), timeout=5, every=0.05)
    assert time.monotonic() - started < 2.0


def test_idle_watcher_queues_a_poll_for_every_new_mail(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = mailbox_config(make_config, dovecot, redis_url, monkeypatch)
    redis = Redis.from_url(redis_url)
    jobs.set_resources(build_resources(cfg))
    watcher = IdleWatcher(redis, cfg, "mairie", wait=30, lease_ttl=3)
    watcher.start()
    try:
        wait_until(lambda: redis.get(PREFIX + "lock:idle:mairie") == watcher.lease.token.encode())
        time.sleep(2)  # IDLE started (mail appended before it would wait for the periodic poll)
        for i in range(3):  # the old watcher locked itself out after the first mail
            dovecot.append(cfg.mailboxes[0].username, citizen_email(sender=f"idle{i}@example.org"))
            wait_until(lambda: poll_job_queued(redis), timeout=10)
            run_queued_poll(redis)
            assert not poll_job_queued(redis)
        time.sleep(3.5)  # longer than the lease's TTL: the heartbeat keeps it
        assert redis.get(PREFIX + "lock:idle:mairie") == watcher.lease.token.encode()
        assert watcher.is_alive()
    finally:
        watcher.shutdown()
        jobs.set_resources(None)  # type: ignore[arg-type]
    assert redis.get(PREFIX + "lock:idle:mairie") is None  # handed over at once


def test_a_second_watcher_takes_over_when_the_first_dies(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = mailbox_config(make_config, dovecot, redis_url, monkeypatch)
    redis = Redis.from_url(redis_url)
    first = Lease(redis, "idle:mairie", ttl=2)
    assert first.acquire()  # a watcher on another host, which then dies without releasing
    watcher = IdleWatcher(redis, cfg, "mairie", wait=30, lease_ttl=2)
    watcher.start()
    try:
        wait_until(lambda: redis.get(PREFIX + "lock:idle:mairie") == watcher.lease.token.encode(), timeout=10)
    finally:
        watcher.shutdown()


def test_a_failed_poll_is_tried_again_at_the_next_interval(
    make_config: Callable[..., Config], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "x")
    mailbox = {
        "name": "mairie",
        "host": "127.0.0.1",
        "port": free_port(),
        "tls": False,
        "username": "u",
        "password": {"env": "TEST_IMAP_PASSWORD"},
        "poll_interval": 5,
        "timeout": 2,
    }
    cfg = make_config(redis_url=redis_url, mailboxes=[mailbox])
    redis = Redis.from_url(redis_url)
    jobs.set_resources(build_resources(cfg))
    try:
        for _ in range(2):  # the IMAP server is down: each poll fails, and the next one is queued all the same
            assert enqueue_poll(housekeeping_queue(redis), "mairie", timeout=60)
            run_queued_poll(redis)
            assert not poll_job_queued(redis)
        assert not housekeeping_queue(redis).failed_job_registry.get_job_ids()  # nothing left to block a poll
        assert redis.keys(PREFIX + "lock:poll:*") == []
    finally:
        jobs.set_resources(None)  # type: ignore[arg-type]


def test_a_poll_asked_for_during_a_poll_reads_the_mailbox_again(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intake.channels import mailboxes

    cfg = mailbox_config(make_config, dovecot, redis_url, monkeypatch)
    redis = Redis.from_url(redis_url)
    res = build_resources(cfg)
    jobs.set_resources(res)
    real_poll, calls = mailboxes.poll_once, []

    def poll_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # mail arrives while the first poll runs, and the IDLE watcher asks for a poll
            dovecot.append(cfg.mailboxes[0].username, citizen_email(sender="pendant@example.org"))
            assert not enqueue_poll(housekeeping_queue(redis), "mairie", timeout=60)
        return real_poll(*args, **kwargs)

    monkeypatch.setattr(mailboxes, "poll_once", poll_once)
    try:
        assert enqueue_poll(housekeeping_queue(redis), "mairie", timeout=60)
        run_queued_poll(redis)
    finally:
        jobs.set_resources(None)  # type: ignore[arg-type]
    assert len(calls) == 2
    assert dovecot.folder_count(cfg.mailboxes[0].username, "INBOX") == 0


def test_a_poll_job_is_bounded_and_hands_the_rest_of_a_full_folder_to_its_continuation(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import func, select

    from intake.models import RawMessage

    cfg = mailbox_config(make_config, dovecot, redis_url, monkeypatch, batch_size=2)
    user = cfg.mailboxes[0].username
    for i in range(7):
        dovecot.append(user, citizen_email(sender=f"flot{i}@example.org"))
    redis = Redis.from_url(redis_url)
    res = build_resources(cfg)
    jobs.set_resources(res)
    # 4 messages per IMAP session, and no time for a second session: the job reads 4 and stops (a 20,000-message
    # folder is read the same way, 1,000 per session, without ever reaching the job timeout).
    monkeypatch.setattr(jobs, "POLL_MESSAGES", 4)
    monkeypatch.setattr(jobs, "POLL_TIME_SHARE", 0.0)
    housekeeping = housekeeping_queue(redis)
    try:
        first = jobs.poll_mailbox_job("mairie")
        assert first["stored"] == 4 and first["more"] is True
        assert dovecot.folder_count(user, "INBOX") == 3
        continuations = [job_id for job_id in housekeeping.get_job_ids() if job_id.startswith("poll-mairie-more-")]
        assert len(continuations) == 1
        assert redis.keys(PREFIX + "lock:poll:*") == []  # released before the continuation was queued
        InProcessWorker([housekeeping], connection=redis).work(burst=True)  # the continuation, then no other
    finally:
        jobs.set_resources(None)  # type: ignore[arg-type]
    assert dovecot.folder_count(user, "INBOX") == 0 and housekeeping.get_job_ids() == []
    with res.factory() as session:
        assert session.execute(select(func.count()).select_from(RawMessage)).scalar_one() == 7
