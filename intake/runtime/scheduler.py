"""Periodic work shared by all workers: mailbox polls, sweeps, IMAP IDLE watchers and the database upkeep."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq import Retry

from intake.config import Config
from intake.outbox.digest import due_day
from intake.runtime.outage import Outage
from intake.runtime.queue import Heartbeat, Lease, claim_slot, enqueue_poll, housekeeping_queue

log = logging.getLogger(__name__)


def tick(redis: Redis, config: Config) -> list[str]:
    """Queue what is due now on the housekeeping queue; a slot key makes each happen once across all hosts."""
    queue = housekeeping_queue(redis)
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
    transcription = config.transcription
    if transcription.engine != "none" and claim_slot(
        redis, "poll:transcripts", seconds=max(30, transcription.poll_after_seconds // 2)
    ):
        queue.enqueue_call("intake.runtime.jobs.poll_transcripts_job", timeout=timeout, result_ttl=0, failure_ttl=3600)
        queued.append("poll:transcripts")
    if claim_slot(redis, "sweep", seconds=config.worker.sweep_interval):
        queue.enqueue_call("intake.runtime.jobs.sweep", timeout=timeout, result_ttl=60, failure_ttl=3600)
        queued.append("sweep")
    day = due_day(config)  # referents' digest of yesterday, once a day across hosts (the job is idempotent too)
    if day is not None and claim_slot(redis, f"digest:{day.isoformat()}", seconds=3 * 86400):
        queue.enqueue_call(
            "intake.runtime.jobs.send_digests",
            args=(day.isoformat(),),
            timeout=timeout,
            result_ttl=86400,
            failure_ttl=7 * 86400,
            retry=Retry(max=3, interval=[60, 600, 3600]),
        )
        queued.append(f"digest:{day.isoformat()}")
    return queued


class Loop(threading.Thread):
    """A daemon thread calling `step` every `every` seconds until stopped; failures are one warning per outage."""

    def __init__(self, name: str, step: Callable[[], Any], *, every: float) -> None:
        super().__init__(name=name, daemon=True)
        self.step, self.every = step, every
        self.stop = threading.Event()
        self.outage = Outage(log, name)

    def run(self) -> None:
        """Step until stopped."""
        wait = 0.0
        while not self.stop.wait(wait):
            try:
                self.step()
            except Exception as exc:  # a dependency away must not kill the worker: try again later
                wait = max(self.every, self.outage.failed(exc))
                continue
            self.outage.ok()
            wait = self.every

    def shutdown(self) -> None:
        """Ask the thread to stop (it is a daemon: the process never waits for it)."""
        self.stop.set()


class Ticker(Loop):
    """Calls `tick` every few seconds (Redis)."""

    def __init__(self, redis: Redis, config: Config, *, every: float = 2.0) -> None:
        super().__init__("guichet-ticker", lambda: tick(redis, config), every=every)


class Housekeeper(Loop):
    """The database upkeep of this worker (due sends, stale claims, poison messages), whether Redis is up or not."""

    def __init__(self, res: Any, *, every: float) -> None:
        from intake.runtime.jobs import maintain

        super().__init__("guichet-housekeeper", lambda: maintain(res), every=every)


class IdleWatcher(threading.Thread):
    """Holds an IMAP IDLE connection on one mailbox (one watcher across hosts) and queues a poll on new mail.

    The watcher keeps its lease (a token-owned Redis key with a short TTL renewed by a heartbeat) for as long
    as it lives, so it never locks itself out, and another worker takes over within the TTL once it dies.
    IMAP or Redis trouble is retried with backoff (one warning per outage) and ends with a poll, since mail
    may have arrived while nobody watched.
    """

    def __init__(
        self, redis: Redis, config: Config, mailbox: str, *, wait: float = 240.0, lease_ttl: float = 30.0
    ) -> None:
        super().__init__(name=f"guichet-idle-{mailbox}", daemon=True)
        self.redis, self.config, self.mailbox, self.wait = redis, config, mailbox, wait
        self.stop = threading.Event()
        self.lease = Lease(redis, f"idle:{mailbox}", ttl=lease_ttl)
        self.outage = Outage(log, f"IDLE on mailbox {mailbox}")

    def _poll(self) -> None:
        enqueue_poll(housekeeping_queue(self.redis), self.mailbox, timeout=self.config.worker.job_timeout)

    def run(self) -> None:
        """Watch while holding the mailbox's lease; give up when the server has no IDLE."""
        from intake.channels.imap import watch
        from intake.channels.mailboxes import imap_settings

        uidnext: int | None = None  # where the previous watch began: mail arriving between two watches counts
        beat = Heartbeat(self.lease)
        beat.start()
        try:
            while not self.stop.is_set():
                try:
                    if not self.lease.acquire():
                        self.stop.wait(self.lease.ttl / 3)  # another worker watches; take over if it dies
                        continue
                    if self.outage.down:
                        self._poll()  # back from an outage: read what arrived meanwhile
                    settings = imap_settings(self.config.mailbox(self.mailbox), var=self.config.resolve_path("var"))
                    started = time.monotonic()
                    got_mail, uidnext = watch(settings, timeout=self.wait, since_uidnext=uidnext)
                    if got_mail:
                        self._poll()
                    elif time.monotonic() - started < 1.0 and not self._idle_supported(settings):
                        log.info("mailbox %s: no IDLE on the server, polling only", self.mailbox)
                        return
                    self.outage.ok()
                except Exception as exc:  # network, IMAP or Redis trouble: back off, the periodic poll still runs
                    self.stop.wait(self.outage.failed(exc))
        finally:
            beat.stop.set()
            self._release()

    def _idle_supported(self, settings: Any) -> bool:
        from intake.channels.imap_auth import close, connect

        client = connect(settings)
        try:
            return bool(client.has_capability("IDLE"))
        finally:
            close(client)

    def _release(self) -> None:
        try:
            self.lease.release()
        except Exception:  # Redis away: the lease lapses by itself within its TTL
            log.info("IDLE lease of %s not released (Redis away): it lapses by itself", self.mailbox)

    def shutdown(self) -> None:
        """Stop watching and hand the lease over now (the thread may sit in IDLE: it is a daemon)."""
        self.stop.set()
        self._release()
