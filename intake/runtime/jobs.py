"""rq job functions: primitive ids in, idempotent, using the resources the worker loaded before forking."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from rq import Retry
from sqlalchemy import select, update

from intake.config import load_config
from intake.models import Outbox, utcnow
from intake.outbox.notify import send_outbox_row
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import pending_ids
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


def worker_name() -> str:
    """Who claims a message: host and process, for the audit of stuck claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_message(raw_id: int) -> dict[str, Any]:
    """Process one stored raw message, then send the notifications it produced (queued again on failure)."""
    from intake.runtime.queue import enqueue_send

    res = resources()
    outcome = process_raw(res, raw_id, worker=worker_name())
    for outbox_id in outcome.outbox_ids:
        # Sending right away saves a job per message; a transient failure hands it to a retried job.
        try:
            send_outbox_row(res.factory, res.config, outbox_id, res.mailer)
        except Exception as exc:
            log.warning("outbox %s not sent now (%s): queued for retry", outbox_id, exc)
            enqueue_send(_queue(), outbox_id, timeout=res.config.worker.job_timeout)
    if outcome.status == "processed" and res.config.twilio.delete_media:
        # Only after the commit: the photos are on our disk before they leave Twilio.
        _queue().enqueue_call("intake.runtime.jobs.delete_twilio_media", args=(raw_id,),
                              timeout=res.config.worker.job_timeout, result_ttl=0, failure_ttl=7 * 86400,
                              retry=Retry(max=3, interval=[60, 600, 3600]))
    return {"raw_id": raw_id, "status": outcome.status, "tracking_number": outcome.tracking_number,
            "error": outcome.error}


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
    return send_outbox_row(res.factory, res.config, outbox_id, res.mailer)


def send_digests(day: str | None = None) -> dict[str, Any]:
    """Queue and send the referents' digests of `day` (YYYY-MM-DD, default yesterday); idempotent."""
    from intake.outbox.digest import parse_day, run_digests
    from intake.runtime.queue import enqueue_send

    res = resources()
    chosen = parse_day(day, res.config)
    run = run_digests(res.factory, res.config, res.mailer, chosen,
                      on_failure=lambda oid: enqueue_send(_queue(), oid, timeout=res.config.worker.job_timeout))
    return {"day": chosen.isoformat(), "queued": len(run.queued), "sent": run.sent}


def poll_mailbox_job(name: str) -> dict[str, Any]:
    """Poll one mailbox under a cross-host lock, so that no two workers read it at once."""
    from intake.channels.mailboxes import poll_once
    from intake.runtime.queue import enqueue_process, exclusive

    res = resources()
    queue = _queue()
    timeout = res.config.worker.job_timeout
    with exclusive(queue.connection, f"poll:{name}", ttl=timeout) as acquired:
        if not acquired:
            return {"mailbox": name, "skipped": "poll already running"}
        result = poll_once(res, name, enqueue=lambda rid: enqueue_process(queue, rid, timeout=timeout))
    return {"mailbox": name, "stored": result.stored, "errors": result.errors}


def poll_twilio_job() -> dict[str, Any]:
    """Poll the Twilio REST API for inbound messages (towns without a public URL), one poller at a time."""
    from intake.channels.twilio_poll import poll_twilio
    from intake.runtime.queue import enqueue_process, exclusive

    res = resources()
    queue = _queue()
    timeout = res.config.worker.job_timeout
    with exclusive(queue.connection, "poll:twilio", ttl=timeout) as acquired:
        if not acquired:
            return {"skipped": "poll already running"}
        report = poll_twilio(res.config.twilio, res.factory)
    for raw_id in report.new_ids:
        enqueue_process(queue, raw_id, timeout=timeout)
    return {"seen": report.seen, "stored": report.stored}


def sweep() -> dict[str, int]:
    """Re-queue what Redis may have lost: pending messages, claims of dead workers, unsent mail."""
    from intake.runtime.queue import enqueue_process, enqueue_send

    res = resources()
    cfg = res.config.worker
    now = utcnow()
    stale = now - timedelta(seconds=cfg.stale_claim_seconds)
    ids = pending_ids(res.factory, older_than=now - timedelta(seconds=30), stale_before=stale,
                      max_attempts=cfg.max_attempts)
    for raw_id in ids:
        enqueue_process(_queue(), raw_id, timeout=cfg.job_timeout)
    with res.factory() as session, session.begin():
        # A worker that died while sending: send again (a rare duplicate beats a lost confirmation).
        session.execute(update(Outbox).where(Outbox.status == "sending", Outbox.claimed_at < stale)
                        .values(status="pending"))
        outbox = list(session.execute(
            select(Outbox.id).where(Outbox.status == "pending", Outbox.created_at < now - timedelta(seconds=60),
                                    Outbox.attempts < cfg.max_attempts)
        ).scalars())
    for outbox_id in outbox:
        enqueue_send(_queue(), outbox_id, timeout=cfg.job_timeout)
    return {"raw": len(ids), "outbox": len(outbox)}
