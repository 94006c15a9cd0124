"""rq job functions: primitive ids in, idempotent, using the resources the worker loaded before forking."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from typing import Any

from rq import Retry
from sqlalchemy import case, update

from intake.config import load_config
from intake.models import utcnow
from intake.outbox.send import send_outbox_row
from intake.pipeline.process import process_batch
from intake.pipeline.rawstore import pending_rows
from intake.runtime.resources import Resources, build_resources

log = logging.getLogger(__name__)
_RESOURCES: Resources | None = None


def set_resources(res: Resources) -> None:
    """Install the process-wide resources (worker.py does it before forking)."""
    global _RESOURCES
    _RESOURCES = res


def resources() -> Resources:
    """The process-wide resources, built from GUICHET_CONFIG on first use."""
    global _RESOURCES
    if _RESOURCES is None:
        _RESOURCES = build_resources(load_config())
    return _RESOURCES


def _queue() -> Any:
    from intake.runtime.queue import get_queue, redis_connection

    res = resources()
    if "queue" not in res.extra:
        res.extra["queue"] = get_queue(redis_connection(res.config))
    return res.extra["queue"]


def _discard(_value: object) -> None:
    """Drop a result (callbacks typed to return None)."""


def worker_name() -> str:
    """Who claims a message: host and process, for the audit of stuck claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerStopping(BaseException):  # a stop request, not an error: `except Exception` lets it through
    """Raised in a work horse asked to stop (SIGTERM): the message in hand goes back to pending."""


def release_claim(factory: Any, raw_id: int, *, worker: str) -> bool:
    """Give a claimed message back (pending, the try not counted) when its worker is asked to stop."""
    from intake.models import RawMessage

    with factory() as session, session.begin():
        done = session.execute(
            update(RawMessage)
            .where(RawMessage.id == raw_id, RawMessage.status == "processing", RawMessage.claimed_by == worker)
            .values(
                status="pending",
                claimed_by=None,
                claimed_at=None,
                attempts=case((RawMessage.attempts > 0, RawMessage.attempts - 1), else_=0),
            )
            .execution_options(synchronize_session=False)
        )
    return bool(getattr(done, "rowcount", 0))


def process_message(raw_id: int) -> dict[str, Any]:
    """Process one stored raw message (the job of a message queued alone: a door's webhook, a retry)."""
    return process_messages([raw_id])[0]


def process_messages(raw_ids: list[int]) -> list[dict[str, Any]]:
    """Process a batch of stored raw messages, then queue the notifications they produced for the outbox sender.

    One claim, one budgeted child and a few filing commits for the whole batch; what was filed is handed to
    send_notifications (one job), so that no SMTP exchange holds up the next batch.
    """
    res = resources()
    me = worker_name()
    try:
        outcomes = process_batch(res, list(raw_ids), worker=me)
    except WorkerStopping:
        for raw_id in raw_ids:
            release_claim(res.factory, raw_id, worker=me)
        raise
    _forget(raw_ids)  # after a failure the notes stay: rq's retry of this job still carries the batch
    outbox_ids = [outbox_id for outcome in outcomes for outbox_id in outcome.outbox_ids]
    _hand_to_sender(res, outbox_ids)
    if res.config.twilio.delete_media:
        for outcome in outcomes:
            if outcome.status == "processed":
                # Only after the commit: the photos are on our disk before they leave Twilio.
                _queue().enqueue_call(
                    "intake.runtime.jobs.delete_twilio_media",
                    args=(outcome.raw_id,),
                    timeout=res.config.worker.job_timeout,
                    result_ttl=0,
                    failure_ttl=7 * 86400,
                    retry=Retry(max=3, interval=[60, 600, 3600]),
                )
    return [
        {"raw_id": o.raw_id, "status": o.status, "tracking_number": o.tracking_number, "error": o.error}
        for o in outcomes
    ]


def _forget(raw_ids: list[int]) -> None:
    """Drop the sweeper's notes of this batch job (best effort: stale notes name a finished job anyway)."""
    from rq import get_current_job

    from intake.runtime.queue import forget_queued

    job = get_current_job()
    if job is None:
        return
    try:
        forget_queued(job.connection, list(raw_ids), job.id)
    except Exception as exc:  # Redis away: the notes name a finished job, which the sweeper ignores
        log.info("notes of job %s not dropped (%s)", job.id, exc)


def _hand_to_sender(res: Resources, outbox_ids: list[int]) -> None:
    """Queue the sending of new outbox rows in one job; without a queue (Redis away, none configured) send here,
    and what fails is left to the database sweep of every worker."""
    from intake.runtime.queue import enqueue_sends

    if not outbox_ids:
        return
    try:
        enqueue_sends(_queue(), outbox_ids, timeout=res.config.worker.job_timeout)
        return
    except Exception as exc:
        log.warning("outbox %s not queued (%s): sent by this job", outbox_ids, exc)
    send_notifications(outbox_ids)


def delete_twilio_media(raw_id: int) -> int:
    """Delete on Twilio the media of a processed SMS/WhatsApp message (towns that keep no copy there)."""
    from intake.channels.twilio_media import delete_stored_media
    from intake.models import RawMessage

    res = resources()
    with res.factory() as session:
        raw = session.get(RawMessage, raw_id)
        if raw is None or raw.channel != "sms" or raw.status != "processed":
            return 0
        payload = raw.payload
    return delete_stored_media(res.config, payload)


def send_notification(outbox_id: int) -> str:
    """Send one outbox row (no-op when already sent)."""
    res = resources()
    return send_outbox_row(res.factory, res.config, outbox_id, res.mailer, notifiers=res.notifiers)


def send_notifications(outbox_ids: list[int]) -> dict[str, str]:
    """The outbox sender: send these rows (each once), claimed and recorded a batch at a time; a row that cannot go
    now is left pending to the database sweep, which tries it again when its retry time comes."""
    from intake.outbox.sender import send_outbox_rows

    res = resources()
    done = send_outbox_rows(res.factory, res.config, list(outbox_ids), res.mailer, notifiers=res.notifiers)
    return {str(outbox_id): status for outbox_id, status in done.items()}


def send_digests(day: str | None = None) -> dict[str, Any]:
    """Queue and send the referents' digests of `day` (YYYY-MM-DD, default yesterday); idempotent."""
    from intake.outbox.digest import parse_day, run_digests
    from intake.runtime.queue import enqueue_send

    res = resources()
    chosen = parse_day(day, res.config)
    timeout = res.config.worker.job_timeout
    run = run_digests(
        res.factory,
        res.config,
        res.mailer,
        chosen,
        on_failure=lambda oid: _discard(enqueue_send(_queue(), oid, timeout=timeout)),
    )
    return {"day": chosen.isoformat(), "queued": len(run.queued), "sent": run.sent}


# A poll reads at most this many messages per IMAP session, and goes on with another session only while its job
# has used less than POLL_TIME_SHARE of its timeout; then a new poll job takes over, so that a folder of 20,000
# messages never reaches the job timeout, and the processing jobs it queued meanwhile are not kept waiting on it.
POLL_MESSAGES = 1000
POLL_TIME_SHARE = 0.25


def poll_mailbox_job(name: str) -> dict[str, Any]:
    """Poll one mailbox under a cross-host lease, again while polls were asked for meanwhile; never fails (a
    failed poll is recorded on the mailbox and tried again at the next interval).

    Bounded: each IMAP session reads at most POLL_MESSAGES messages (committed and queued a batch at a time);
    when mail remains once the job has used its share of time, the job queues its continuation and returns.
    """
    from intake.channels.mailboxes import poll_once
    from intake.runtime.queue import enqueue_batch, enqueue_poll_continuation, exclusive, poll_again_key

    res = resources()
    queue = _queue()
    redis = queue.connection
    timeout = res.config.worker.job_timeout
    stop_after = time.monotonic() + timeout * POLL_TIME_SHARE
    stored, errors, more = 0, [], False
    with exclusive(redis, f"poll:{name}") as acquired:
        if not acquired:
            redis.set(poll_again_key(name), "1", ex=max(60, timeout))  # the running poll reads once more
            return {"mailbox": name, "skipped": "poll already running"}
        for _ in range(20):  # bounded: a mailbox flooded with triggers still lets the worker do other work
            redis.delete(poll_again_key(name))
            try:  # a mailbox no longer configured is a failed poll too (logged)
                max_batches = max(1, POLL_MESSAGES // res.config.mailbox(name).batch_size)
                result = poll_once(
                    res,
                    name,
                    max_batches=max_batches,
                    enqueue_many=lambda ids: _discard(enqueue_batch(queue, ids, timeout=timeout)),
                )
            except Exception as exc:
                log.warning("poll of %s failed: %s: %s", name, type(exc).__name__, exc)
                errors.append(f"{type(exc).__name__}: {exc}")
                more = False
                break
            stored += result.stored
            errors.extend(result.errors)
            more = result.more and not result.errors  # a message that failed to store waits for the next poll
            if more and time.monotonic() < stop_after:
                continue
            if more or not redis.exists(poll_again_key(name)):
                break
    if more:  # after the lease is released, so that the continuation can take it
        try:
            enqueue_poll_continuation(queue, name, timeout=timeout)
        except Exception as exc:  # Redis away: the next periodic poll reads the rest
            log.warning("continuation of the poll of %s not queued: %s: %s", name, type(exc).__name__, exc)
    return {"mailbox": name, "stored": stored, "errors": errors, "more": more}


def poll_twilio_job() -> dict[str, Any]:
    """Poll the Twilio REST API for inbound messages (towns without a public URL), one poller at a time."""
    from intake.channels.twilio_poll import poll_twilio
    from intake.runtime.queue import enqueue_batch, exclusive

    res = resources()
    queue = _queue()
    timeout = res.config.worker.job_timeout
    with exclusive(queue.connection, "poll:twilio") as acquired:
        if not acquired:
            return {"skipped": "poll already running"}
        report = poll_twilio(res.config.twilio, res.factory)
    enqueue_batch(queue, list(report.new_ids), timeout=timeout)
    return {"seen": report.seen, "stored": report.stored}


def poll_transcripts_job() -> dict[str, Any]:
    """Fetch voicemail transcripts that were not called back in time, and queue them (one poller at a time)."""
    from intake.channels.transcript_poll import poll_transcripts
    from intake.runtime.queue import enqueue_batch, exclusive

    res = resources()
    queue = _queue()
    with exclusive(queue.connection, "poll:transcripts") as acquired:
        if not acquired:
            return {"skipped": "poll already running"}
        report = poll_transcripts(res.config, res.factory)
    enqueue_batch(queue, report.stored + report.retried, timeout=res.config.worker.job_timeout)
    return {
        "checked": report.checked,
        "stored": len(report.stored),
        "retried": len(report.retried),
        "abandoned": report.abandoned,
    }


def sweep() -> dict[str, int]:
    """Re-queue what Redis lost: pending messages and claims of dead workers with no job on its way.

    A message whose job (its own or its batch's) is queued, running or scheduled for a retry is left alone, so a
    backlog never doubles. Pending messages go back in batches; claims of a worker that died go back one per job,
    since one of them may be what killed it (alone, it is parked after worker.max_attempts without the others).
    The database upkeep (sends, poison messages) runs in each worker's own loop (maintain), Redis or not.
    """
    from intake.runtime.queue import enqueue_batch, enqueue_process, queued_ids

    res = resources()
    cfg = res.config.worker
    now = utcnow()
    stale = now - timedelta(seconds=cfg.stale_claim_seconds)
    rows = pending_rows(
        res.factory, older_than=now - timedelta(seconds=30), stale_before=stale, max_attempts=cfg.max_attempts
    )
    queue = _queue()
    waiting = queued_ids(queue, [raw_id for raw_id, _ in rows])
    lost = [(raw_id, status) for raw_id, status in rows if raw_id not in waiting]
    enqueue_batch(queue, [raw_id for raw_id, status in lost if status == "pending"], timeout=cfg.job_timeout)
    for raw_id, status in lost:
        if status != "pending":
            enqueue_process(queue, raw_id, timeout=cfg.job_timeout)
    return {"raw": len(lost), "already_queued": len(rows) - len(lost)}


def maintain(res: Resources, *, send: bool = True) -> dict[str, int]:
    """The database-only upkeep of a worker's own loop: park poison messages, restart stale sends, send due ones."""
    from intake.pipeline.spool import drain, spool_folder
    from intake.runtime.housekeeping import daily_purge, park_poison_messages, sweep_outbox

    cfg = res.config.worker
    stale = utcnow() - timedelta(seconds=cfg.stale_claim_seconds)
    spooled = drain(spool_folder(res.config), res.factory)  # stored as pending: the sweep queues them
    parked = park_poison_messages(res.factory, max_attempts=cfg.max_attempts, stale_before=stale)
    outbox = sweep_outbox(res.factory, res.config, res.mailer, send=send)
    # once a day (RGPD retention), never in the worker's first minutes
    purged = daily_purge(res.factory, res.config, res.file_store, first_after=timedelta(minutes=10))
    return {
        "spooled": spooled,
        "parked": len(parked),
        "restarted_sends": len(outbox.restarted),
        "failed_sends": len(outbox.parked),
        "sent": sum(1 for status in outbox.sent.values() if status == "sent"),
        "purged": purged.total if purged is not None else 0,
    }
