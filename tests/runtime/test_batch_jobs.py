"""Jobs carry batches: one job per polled batch, the sweeper knows what waits in it, confirmations leave through the
outbox sender, and a batch whose work horse dies is split so that only the message that kills it is parked.

`python -m tests.runtime.test_batch_jobs` (GUICHET_CONFIG set) runs a burst worker whose horses die while filing
the message whose subject says "poison", and only that one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import select, update

from intake.config import Config
from intake.models import Outbox, RawMessage, ReportMessage, utcnow
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime import jobs
from intake.runtime.queue import enqueue_batch, get_queue, outbox_queue, queued_ids
from intake.runtime.resources import build_resources
from tests.conftest import ROOT, write_config
from tests.support.mail import citizen_email
from tests.support.procs import run


def stored(res: Any, subjects: list[str]) -> list[int]:
    ids = []
    for i, subject in enumerate(subjects):
        raw = citizen_email(sender=f"citoyen{i}@example.org", subject=subject)
        ids.append(
            store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)[0]
        )
    return ids


def test_a_batch_is_one_job_the_sweeper_leaves_alone_and_its_mail_goes_through_the_sender(
    make_config: Callable[..., Config],
    redis_url: str,
) -> None:
    cfg = make_config(redis_url=redis_url)
    res = build_resources(cfg)
    redis = Redis.from_url(redis_url)
    queue = get_queue(redis)
    ids = stored(res, [f"Signalement {i}" for i in range(7)])

    assert enqueue_batch(queue, ids, timeout=60, size=5) == 2  # 5 + 2
    carried = sorted(i for job in queue.get_jobs() for i in job.args[0])
    assert carried == sorted(ids)
    assert {job.func_name for job in queue.get_jobs()} == {"intake.runtime.jobs.process_messages"}
    assert queued_ids(queue, ids) == set(ids)
    with res.factory() as session, session.begin():  # a backlog: they have been waiting for minutes
        session.execute(update(RawMessage).values(received_at=utcnow() - timedelta(minutes=10)))
    jobs.set_resources(res)
    try:
        assert jobs.sweep() == {"raw": 0, "already_queued": 7}
        first = queue.get_jobs()[0]
        first.perform()  # what a work horse does with it
        assert {row.status for row in rows(res, first.args[0])} == {"processed"}
        # The sends wait on a queue of their own (served before the processing backlog), not behind the batches.
        assert {job.func_name for job in queue.get_jobs()} == {"intake.runtime.jobs.process_messages"}
        [send] = outbox_queue(redis).get_jobs()
        assert send.func_name == "intake.runtime.jobs.send_notifications"
        with res.factory() as session:  # filed with their confirmation queued, not sent by the filing job
            pending = sorted(session.execute(select(Outbox.id).where(Outbox.status == "pending")).scalars())
        assert sorted(send.args[0]) == pending and len(pending) == 5
        assert set(send.perform().values()) == {"sent"}
        assert len(res.mailer.sent) == 5  # type: ignore[attr-defined]
        queue.empty()  # Redis lost the rest
        assert queued_ids(queue, ids) == set()
        assert jobs.sweep() == {"raw": 2, "already_queued": 0}
    finally:
        jobs.set_resources(None)  # type: ignore[arg-type]


def rows(res: Any, ids: list[int]) -> list[RawMessage]:
    with res.factory() as session:
        return list(session.execute(select(RawMessage).where(RawMessage.id.in_(ids)).order_by(RawMessage.id)).scalars())


def test_a_batch_whose_horse_dies_is_split_and_only_the_culprit_is_parked(
    make_config: Callable[..., Config],
    redis_url: str,
    tmp_path: Path,
) -> None:
    cfg = make_config(redis_url=redis_url, worker={"max_attempts": 1})
    res = build_resources(cfg)
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml"))}
    ids = stored(res, ["Trou rue A", "poison", "Tag rue B"])
    enqueue_batch(get_queue(Redis.from_url(redis_url)), ids, timeout=60)

    proc = run([sys.executable, "-m", "tests.runtime.test_batch_jobs"], cwd=ROOT, env=env, timeout=300)

    assert proc.returncode == 0, proc.stderr[-3000:]  # the worker lives on; its horses died twice
    healthy, poison, other = rows(res, ids)
    # The batch's death cost its messages no try: tried alone, the healthy ones were filed at their first count.
    assert [(r.status, r.attempts) for r in (healthy, other)] == [("processed", 1), ("processed", 1)]
    assert (poison.status, poison.attempts, poison.claimed_by) == ("failed", 1, None)
    assert "a interrompu le worker 1 fois" in (poison.error or "")
    with res.factory() as session:
        assert set(session.execute(select(ReportMessage.raw_message_id)).scalars()) == {healthy.id, other.id}


def _burst_worker_dying_on_poison() -> int:
    from intake.config import load_config
    from intake.pipeline.stages.media import MediaStage
    from worker import run_worker

    plain = MediaStage.file

    def file(self: Any, ctx: Any) -> None:
        if ctx.inbound is not None and "poison" in (ctx.inbound.subject or ""):
            ctx.session.flush()
            os._exit(137)  # like a C library crash or the OOM killer: no cleanup, no commit
        plain(self, ctx)

    MediaStage.file = file  # type: ignore[method-assign]
    run_worker(load_config(), burst=True)
    return 0


if __name__ == "__main__":
    sys.exit(_burst_worker_dying_on_poison())
