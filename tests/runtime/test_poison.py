"""A message that kills its worker every time is parked as failed; the sweeper re-enqueues only what is lost."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import select, update

from intake.config import Config
from intake.models import RawMessage, utcnow
from intake.runtime import jobs
from intake.runtime.queue import enqueue_process, get_queue, housekeeping_queue, process_job_id, worker_queues
from intake.runtime.resources import build_resources
from intake.runtime.scheduler import tick
from tests.conftest import ROOT, write_config
from tests.runtime.test_outages import store
from tests.support.cli import run_guichet
from tests.support.procs import run


def row(res: Any, raw_id: int) -> RawMessage:
    with res.factory() as session:
        return session.execute(select(RawMessage).where(RawMessage.id == raw_id)).scalar_one()


def test_a_message_killing_its_worker_every_time_is_parked_after_max_attempts(
    make_config: Callable[..., Config],
    redis_url: str,
    tmp_path: Path,
) -> None:
    cfg = make_config(redis_url=redis_url, worker={"max_attempts": 2})
    res = build_resources(cfg)
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml"))}
    redis = Redis.from_url(redis_url)
    raw_id = store(res, "poison@example.org")
    healthy = store(res, "sain@example.org")
    enqueue_process(get_queue(redis), raw_id, timeout=60)
    for attempt in (1, 2):
        proc = run([sys.executable, "-m", "tests.support.crashing_worker"], cwd=ROOT, env=env, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]  # the worker itself lives on; only its horse dies
        found = row(res, raw_id)
        if attempt == 1:  # given back at once (not left `processing` until its claim goes stale)
            assert (found.status, found.attempts, found.claimed_by) == ("pending", 1, None)
            Job.fetch(process_job_id(raw_id), connection=redis).delete()  # rq's retry lost, as in a Redis flush
            with res.factory() as session, session.begin():
                session.execute(update(RawMessage).values(received_at=utcnow() - timedelta(minutes=5)))
            jobs.set_resources(res)
            try:
                assert jobs.sweep()["raw"] == 2  # the sweeper hands both over again
            finally:
                jobs.set_resources(None)  # type: ignore[arg-type]
    found = row(res, raw_id)
    assert found.status == "failed" and found.claimed_by is None
    assert "a interrompu le worker 2 fois" in (found.error or "") and "Relancez-le" in (found.error or "")
    assert process_job_id(raw_id) not in get_queue(redis).scheduled_job_registry.get_job_ids()  # rq stops too
    other = row(res, healthy)  # this worker kills every horse: the other message has one try left
    assert (other.status, other.attempts) == ("pending", 1)


def test_the_sweep_parks_stale_claims_with_no_tries_left(make_config: Callable[..., Config]) -> None:
    cfg = make_config(worker={"max_attempts": 3})
    res = build_resources(cfg)
    exhausted, retryable, live = (store(res, f"c{i}@example.org") for i in range(3))
    with res.factory() as session, session.begin():  # workers that died with these messages in hand
        for raw_id, attempts, ago in ((exhausted, 3, 3600), (retryable, 1, 3600), (live, 3, 5)):
            session.execute(
                update(RawMessage)
                .where(RawMessage.id == raw_id)
                .values(
                    status="processing",
                    attempts=attempts,
                    claimed_by="host:1",
                    claimed_at=utcnow() - timedelta(seconds=ago),
                )
            )
    assert jobs.maintain(res, send=False)["parked"] == 1
    assert row(res, exhausted).status == "failed" and "3 fois" in (row(res, exhausted).error or "")
    assert row(res, retryable).status == "processing"  # the sweeper re-enqueues it (tries left)
    assert row(res, live).status == "processing"  # its worker is alive: left alone


def test_guichet_retry_takes_messages_of_dead_workers(make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = make_config()
    res = build_resources(cfg)
    dead, live = store(res, "mort@example.org"), store(res, "vivant@example.org")
    with res.factory() as session, session.begin():
        for raw_id, ago in ((dead, 3600), (live, 5)):
            session.execute(
                update(RawMessage)
                .where(RawMessage.id == raw_id)
                .values(
                    status="processing", attempts=5, claimed_by="host:1", claimed_at=utcnow() - timedelta(seconds=ago)
                )
            )
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml"))}
    proc = run_guichet(["retry", "--inline"], env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"message {dead} : processed" in proc.stdout and f"message {live}" not in proc.stdout
    assert row(res, dead).status == "processed" and row(res, live).status == "processing"


def test_the_sweeper_leaves_queued_messages_alone(make_config: Callable[..., Config], redis_url: str) -> None:
    cfg = make_config(redis_url=redis_url)
    res = build_resources(cfg)
    redis = Redis.from_url(redis_url)
    ids = [store(res, f"c{i}@example.org") for i in range(5)]
    for raw_id in ids:
        enqueue_process(get_queue(redis), raw_id, timeout=60)
    with res.factory() as session, session.begin():  # a backlog: they have been waiting for minutes
        session.execute(update(RawMessage).values(received_at=utcnow() - timedelta(minutes=10)))
    jobs.set_resources(res)
    try:
        assert jobs.sweep() == {"raw": 0, "already_queued": 5}
        assert jobs.sweep() == {"raw": 0, "already_queued": 5}  # it used to queue each pending message again
        assert get_queue(redis).count == 5
        get_queue(redis).empty()  # Redis lost them
        assert jobs.sweep() == {"raw": 5, "already_queued": 0}
        [batch] = get_queue(redis).get_jobs()  # one job carries the five again
        assert batch.func_name == "intake.runtime.jobs.process_messages" and sorted(batch.args[0]) == sorted(ids)
        assert jobs.sweep() == {"raw": 0, "already_queued": 5}  # the batch job is known to be on its way
    finally:
        jobs.set_resources(None)  # type: ignore[arg-type]


def test_housekeeping_is_served_before_a_backlog(make_config: Callable[..., Config], redis_url: str) -> None:
    cfg = make_config(redis_url=redis_url)
    redis = Redis.from_url(redis_url)
    for raw_id in range(1, 201):
        enqueue_process(get_queue(redis), raw_id, timeout=60)
    assert "sweep" in tick(redis, cfg)
    job, queue = Queue.dequeue_any(worker_queues(redis), None, connection=redis)  # what a free worker takes
    assert queue.name == housekeeping_queue(redis).name and job.func_name == "intake.runtime.jobs.sweep"
