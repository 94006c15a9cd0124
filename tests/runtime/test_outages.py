"""Redis or SMTP going away and coming back never ends a worker or an IDLE watcher; nothing waits for good."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import select, update

from intake.config import Config
from intake.models import Outbox, RawMessage, utcnow
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime import jobs
from intake.runtime.queue import PREFIX, enqueue_process, get_queue
from intake.runtime.resources import build_resources
from intake.runtime.scheduler import IdleWatcher
from tests.channels.conftest import dovecot  # noqa: F401  (the real Dovecot fixture)
from tests.conftest import CaughtMail, free_port
from tests.runtime.test_idle import mailbox_config, poll_job_queued, wait_until
from tests.runtime.test_stopping import start_worker
from tests.support.dovecot import DovecotServer
from tests.support.mail import citizen_email
from tests.support.procs import Processes, stop
from tests.support.redis_server import PrivateRedis


def store(res: Any, sender: str) -> int:
    raw = citizen_email(sender=sender)
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    return raw_id


def status(res: Any, raw_id: int) -> str:
    with res.factory() as session:
        return str(session.execute(select(RawMessage.status).where(RawMessage.id == raw_id)).scalar_one())


def test_a_worker_outlives_redis_going_away_mid_job(
    make_config: Callable[..., Config], tmp_path: Path, processes: Processes
) -> None:
    server = PrivateRedis(tmp_path).start()
    try:
        cfg = make_config(redis_url=server.url)
        res = build_resources(cfg)
        proc, log = start_worker(processes, cfg, tmp_path)
        redis = Redis.from_url(server.url)
        wait_until(lambda: Worker.all(connection=redis), timeout=60)
        first = store(res, "avant@example.org")
        enqueue_process(get_queue(redis), first, timeout=60)
        wait_until(lambda: status(res, first) == "processed", timeout=60)
        busy = get_queue(redis).enqueue_call("time.sleep", args=(3,), timeout=60)
        wait_until(lambda: busy.get_status(refresh=True) == "started", timeout=30)
        server.stop()  # Redis goes away while the worker is busy (it used to make busy workers exit for good)
        time.sleep(4)
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        server.start()  # back, empty (no persistence)
        second = store(res, "apres@example.org")
        redis = Redis.from_url(server.url)
        enqueue_process(get_queue(redis), second, timeout=60)
        wait_until(lambda: status(res, second) == "processed", timeout=60)
        assert proc.poll() is None
        took = stop(proc, timeout=10)
        text = log.read_text(errors="replace")
        assert took < 5 and proc.returncode == 0, (took, text[-3000:])
        assert "Traceback" not in text, text[-5000:]
        assert text.count("Redis: unavailable") == 1, text[-5000:]  # one warning for the outage, not one per try
    finally:
        server.stop()


def test_the_idle_watcher_outlives_a_redis_blip(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = PrivateRedis(tmp_path).start()
    cfg = mailbox_config(make_config, dovecot, server.url, monkeypatch)
    redis = Redis.from_url(server.url)
    watcher = IdleWatcher(redis, cfg, "mairie", wait=30, lease_ttl=3)
    watcher.start()
    try:
        wait_until(lambda: redis.get(PREFIX + "lock:idle:mairie"))
        server.stop()
        time.sleep(2)
        dovecot.append(cfg.mailboxes[0].username, citizen_email(sender="pendant@example.org"))  # while Redis is away
        time.sleep(1)
        server.start()
        assert watcher.is_alive()  # it used to die for good on the first Redis error
        wait_until(lambda: poll_job_queued(redis), timeout=30)  # the mail of the outage is read once back
        wait_until(lambda: redis.get(PREFIX + "lock:idle:mairie") == watcher.lease.token.encode(), timeout=10)
    finally:
        watcher.shutdown()
        server.stop()


def smtp_down_config(make_config: Callable[..., Config], port: int, **overrides: Any) -> Config:
    return make_config(smtp={"backend": "smtp", "host": "127.0.0.1", "port": port, "timeout": 2}, **overrides)


def test_confirmations_go_out_once_smtp_is_back_without_redis(make_config: Callable[..., Config]) -> None:
    from aiosmtpd.controller import Controller

    port = free_port()
    cfg = smtp_down_config(make_config, port)  # no Redis at all: the retry jobs are lost, as after a Redis flush
    res = build_resources(cfg)
    caught = CaughtMail()
    controller = Controller(caught, hostname="127.0.0.1", port=port)
    controller.start()
    jobs.set_resources(res)
    try:
        before = store(res, "avant@example.org")
        assert jobs.process_message(before)["status"] == "processed"
        controller.stop()  # SMTP goes away while messages are processed
        raw_ids = [store(res, f"c{i}@example.org") for i in range(3)]
        for raw_id in raw_ids:
            assert jobs.process_message(raw_id)["status"] == "processed"
    finally:
        jobs.set_resources(None)  # type: ignore[arg-type]
    with res.factory() as session:
        rows = session.execute(select(Outbox.status, Outbox.attempts).order_by(Outbox.id)).all()
    assert rows == [("sent", 1)] + [("pending", 1)] * 3
    controller = Controller(caught, hostname="127.0.0.1", port=port)
    controller.start()  # SMTP is back
    try:
        assert jobs.maintain(res)["sent"] == 0  # not due yet: the first retry comes two minutes after the try
        with res.factory() as session, session.begin():  # two minutes later
            session.execute(update(Outbox).values(claimed_at=utcnow() - timedelta(minutes=3)))
        assert jobs.maintain(res)["sent"] == 3
    finally:
        controller.stop()
    assert sorted(m["to"][0] for m in caught.messages) == ["avant@example.org"] + [
        f"c{i}@example.org" for i in range(3)
    ]
    with res.factory() as session:
        assert set(session.execute(select(Outbox.status)).scalars()) == {"sent"}


def test_the_idle_watcher_reads_the_mailbox_soon_after_an_imap_restart(
    make_config: Callable[..., Config],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = DovecotServer(tls=False).start()
    try:
        cfg = mailbox_config(make_config, server, redis_url, monkeypatch, timeout=3)
        redis = Redis.from_url(redis_url)
        watcher = IdleWatcher(redis, cfg, "mairie", wait=30, lease_ttl=3)
        watcher.start()
        try:
            wait_until(lambda: redis.get(PREFIX + "lock:idle:mairie"))
            time.sleep(1)  # in IDLE
            server._terminate()  # a hard restart of the IMAP server
            time.sleep(3)
            assert server._launch()
            server.append(cfg.mailboxes[0].username, citizen_email(sender="retour@example.org"))
            started = time.monotonic()
            wait_until(lambda: poll_job_queued(redis), timeout=30)  # it used to take 338 s in a measured run
            assert time.monotonic() - started < 20 and watcher.is_alive()
        finally:
            watcher.shutdown()
    finally:
        server.stop()
