"""SIGTERM or Ctrl-C stops a worker within seconds, without a traceback, leaving no message claimed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import select

from intake.config import Config
from intake.models import RawMessage
from intake.pipeline.rawstore import email_key, store_raw
from intake.pipeline.registry import BaseStage, Context
from intake.runtime import jobs
from intake.runtime.queue import get_queue
from intake.runtime.resources import build_resources
from tests.conftest import ROOT, write_config
from tests.runtime.test_idle import wait_until
from tests.support.mail import citizen_email
from tests.support.procs import Processes, stop


def start_worker(processes: Processes, cfg: Config, tmp_path: Path, name: str = "worker") -> tuple[Any, Path]:
    path = write_config(cfg, tmp_path / "config.yaml")
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = processes.start(
            [sys.executable, "-m", "intake.cli", "worker"],
            cwd=ROOT,
            env={**os.environ, "GUICHET_CONFIG": str(path)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def stop_or_dump(proc: Any, *, sig: int = signal.SIGTERM, timeout: float = 8.0) -> float:
    """stop(), but a worker still running after `timeout` first prints its threads' stacks (faulthandler)."""
    started = time.monotonic()
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(1)
    stop(proc, timeout=2)
    return time.monotonic() - started


def registered(redis: Redis) -> bool:
    return bool(Worker.all(connection=redis))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_worker_stops_at_once(
    make_config: Callable[..., Config], redis_url: str, tmp_path: Path, processes: Processes, sig: int
) -> None:
    redis = Redis.from_url(redis_url)
    proc, log = start_worker(processes, make_config(redis_url=redis_url), tmp_path)
    wait_until(lambda: registered(redis), timeout=60)
    took = stop_or_dump(proc, sig=sig)  # to the whole process group, as Ctrl-C in a terminal
    text = log.read_text(errors="replace")
    assert took < 5, (took, text[-3000:])  # rq 3 + redis-py 8 used to wait 30-60 s for the pubsub thread
    assert proc.returncode == 0 and "Traceback" not in text, text[-3000:]
    assert not registered(redis)


def test_a_busy_worker_stops_within_seconds(
    make_config: Callable[..., Config], redis_url: str, tmp_path: Path, processes: Processes
) -> None:
    redis = Redis.from_url(redis_url)
    proc, log = start_worker(processes, make_config(redis_url=redis_url), tmp_path)
    wait_until(lambda: registered(redis), timeout=60)
    job = get_queue(redis).enqueue_call("time.sleep", args=(120,), timeout=300)
    wait_until(lambda: job.get_status(refresh=True) == "started", timeout=30)
    took = stop(proc, timeout=15)
    text = log.read_text(errors="replace")
    assert took < 5, (took, text[-3000:])
    assert proc.returncode == 0, text[-3000:]


class Interrupted(BaseStage):
    """A stage during which the worker is asked to stop (SIGTERM turned into WorkerStopping in the horse)."""

    name = "file"

    def file(self, ctx: Context) -> None:
        raise jobs.WorkerStopping()


def test_a_stopped_job_gives_its_message_back(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config())
    raw = citizen_email()
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    res.stages = tuple(Interrupted() if s.name == "file" else s for s in res.stages)
    jobs.set_resources(res)
    try:
        with pytest.raises(jobs.WorkerStopping):
            jobs.process_message(raw_id)
    finally:
        jobs.set_resources(None)  # type: ignore[arg-type]
    with res.factory() as session:
        row = session.execute(select(RawMessage).where(RawMessage.id == raw_id)).scalar_one()
    assert (row.status, row.attempts, row.claimed_by) == ("pending", 0, None)  # not claimed, the try not counted


def test_workers_sharing_one_load_are_replaced_when_killed_and_stop_together(
    make_config: Callable[..., Config], redis_url: str, tmp_path: Path, processes: Processes
) -> None:
    """`guichet worker --processes 2`: one process loads, two rq workers are forked from it; one that is SIGKILLed is
    forked again, and SIGTERM to the loader stops them all within seconds, none left behind."""
    redis = Redis.from_url(redis_url)
    path = write_config(make_config(redis_url=redis_url), tmp_path / "config.yaml")
    log = tmp_path / "workers.log"
    with log.open("wb") as out:
        proc = processes.start(
            [sys.executable, "-m", "intake.cli", "worker", "--processes", "2"],
            cwd=ROOT,
            env={**os.environ, "GUICHET_CONFIG": str(path)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def workers() -> set[int]:
        return {w.pid for w in Worker.all(connection=redis) if w.pid is not None}

    def parent_of(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    def both() -> set[int] | None:
        found = workers()
        return found if len(found) == 2 else None

    first = wait_until(both, timeout=90)
    assert proc.pid not in first and {parent_of(pid) for pid in first} == {proc.pid}  # forked from the loader
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(lambda: workers() - first, timeout=60)
    assert {parent_of(pid) for pid in replaced} == {proc.pid}
    took = stop_or_dump(proc)
    text = log.read_text(errors="replace")
    assert took < 5, (took, text[-3000:])
    assert proc.returncode == 0 and "Traceback" not in text, text[-3000:]
    alive = [pid for pid in (first | replaced) - {victim} if Path(f"/proc/{pid}").exists()]
    assert alive == [], text[-3000:]
    assert workers() <= {victim}  # the live ones unregistered themselves (the killed one's entry expires in rq)
