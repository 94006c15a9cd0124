"""Periodic work shared by all workers: mailbox polls, sweeps, and IMAP IDLE watchers, never duplicated."""

from __future__ import annotations

import logging
import threading
import time

from redis import Redis
from rq import Retry

from intake.config import Config
from intake.outbox.digest import due_day
from intake.runtime.queue import PREFIX, claim_slot, enqueue_poll, get_queue

log = logging.getLogger(__name__)


def tick(redis: Redis, config: Config) -> list[str]:
    """Queue what is due now; a slot key in Redis makes each due poll happen once across all hosts."""
    queue = get_queue(redis)
    queued = []
    timeout = config.worker.job_timeout
    for mb in config.mailboxes:
        if claim_slot(redis, f"poll:{mb.name}", seconds=mb.poll_interval) and enqueue_poll(
            queue, mb.name, timeout=timeout
        ):
            queued.append(f"poll:{mb.name}")
    twilio = config.twilio
    if twilio.enabled and twilio.poll and claim_slot(redis, "poll:twilio", seconds=twilio.poll_interval):
        queue.enqueue_call("intake.runtime.jobs.poll_twilio_job", timeout=timeout, result_ttl=0, failure_ttl=3600)
        queued.append("poll:twilio")
    if claim_slot(redis, "sweep", seconds=config.worker.sweep_interval):
        queue.enqueue_call("intake.runtime.jobs.sweep", timeout=timeout, result_ttl=60, failure_ttl=3600)
        queued.append("sweep")
    day = due_day(config)  # referents' digest of yesterday, once a day across hosts (the job is idempotent too)
    if day is not None and claim_slot(redis, f"digest:{day.isoformat()}", seconds=3 * 86400):
        queue.enqueue_call("intake.runtime.jobs.send_digests", args=(day.isoformat(),), timeout=timeout,
                           result_ttl=86400, failure_ttl=7 * 86400, retry=Retry(max=3, interval=[60, 600, 3600]))
        queued.append(f"digest:{day.isoformat()}")
    return queued


class Ticker(threading.Thread):
    """Background thread of a worker process calling `tick` every few seconds."""

    def __init__(self, redis: Redis, config: Config, *, every: float = 2.0) -> None:
        super().__init__(name="guichet-ticker", daemon=True)
        self.redis, self.config, self.every = redis, config, every
        self.stop = threading.Event()

    def run(self) -> None:
        """Tick until stopped; Redis errors are logged and retried."""
        while not self.stop.wait(self.every):
            try:
                tick(self.redis, self.config)
            except Exception:  # a Redis outage must not kill the worker; the next tick retries
                log.exception("scheduler tick failed")


class IdleWatcher(threading.Thread):
    """Holds an IMAP IDLE connection on one mailbox (one watcher across hosts) and polls on new mail."""

    def __init__(self, redis: Redis, config: Config, mailbox: str, *, wait: float = 240.0) -> None:
        super().__init__(name=f"guichet-idle-{mailbox}", daemon=True)
        self.redis, self.config, self.mailbox, self.wait = redis, config, mailbox, wait
        self.stop = threading.Event()

    def run(self) -> None:
        """Watch while holding the mailbox's IDLE lock; give up when the server has no IDLE."""
        from intake.channels.imap import wait_for_mail
        from intake.channels.mailboxes import imap_settings

        key = PREFIX + f"lock:idle:{self.mailbox}"
        mb = self.config.mailbox(self.mailbox)
        while not self.stop.is_set():
            try:
                if not self.redis.set(key, "1", nx=True, ex=int(self.wait + 60)):
                    self.stop.wait(30)
                    continue
                started = time.monotonic()
                got_mail = wait_for_mail(imap_settings(mb), timeout=self.wait)
                if got_mail:
                    enqueue_poll(get_queue(self.redis), self.mailbox, timeout=self.config.worker.job_timeout)
                elif time.monotonic() - started < 1.0:
                    log.info("mailbox %s: no IDLE on the server, polling only", self.mailbox)
                    self.redis.delete(key)
                    return
                self.redis.expire(key, int(self.wait + 60))
            except Exception as exc:  # network trouble: back off, the periodic poll still runs
                log.warning("IDLE on %s failed: %s", self.mailbox, exc)
                self.redis.delete(key)
                self.stop.wait(60)
