"""rq on a real Redis: jobs, several workers at once, the shared scheduler; mail caught by a real SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import func, select

from intake.config import Config
from intake.models import Outbox, RawMessage, Report
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.queue import enqueue_process, get_queue, housekeeping_queue
from intake.runtime.resources import build_resources
from intake.runtime.scheduler import tick
from tests.conftest import ROOT, write_config
from tests.support.mail import citizen_email
from tests.support.procs import Processes


def _config(make_config: Callable[..., Config], redis_url: str, smtp: tuple[str, int, Any]) -> Config:
    host, port, _ = smtp
    return make_config(redis_url=redis_url, smtp={"backend": "smtp", "host": host, "port": port})


def _run_workers(cfg_path: Path, n: int, processes: Processes) -> None:
    env = {**os.environ, "GUICHET_CONFIG": str(cfg_path)}
    procs = [
        processes.start(
            [sys.executable, "-m", "intake.cli", "worker", "--burst"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(n)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]


def test_two_workers_process_each_message_exactly_once(
    make_config: Callable[..., Config],
    redis_url: str,
    smtp_server: tuple[str, int, Any],
    tmp_path: Path,
    processes: Processes,
) -> None:
    cfg = _config(make_config, redis_url, smtp_server)
    res = build_resources(cfg)
    queue = get_queue(Redis.from_url(redis_url))
    senders = [f"citoyen{i}@example.org" for i in range(24)]
    for sender in senders:
        raw = citizen_email(sender=sender)
        raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
        # Each message is queued twice, as happens when a poll and the sweeper both hand it over.
        enqueue_process(queue, raw_id, timeout=60)
        enqueue_process(queue, raw_id, timeout=60)
    _run_workers(write_config(cfg, tmp_path / "config.yaml"), 2, processes)
    with res.factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 24
        statuses = s.execute(select(RawMessage.status)).scalars().all()
        assert set(statuses) == {"processed"}
        assert s.execute(select(func.count()).select_from(Outbox).where(Outbox.status == "sent")).scalar_one() == 24
        numbers = s.execute(select(Report.tracking_number)).scalars().all()
    assert len(set(numbers)) == 24
    caught = smtp_server[2].messages
    assert sorted(m["to"][0] for m in caught) == sorted(senders)  # one confirmation each, none twice
    first = caught[0]["message"]
    assert "a bien été reçu" in first["Subject"]
    assert first["Auto-Submitted"] == "auto-replied"


def test_scheduler_tick_queues_each_poll_once(make_config: Callable[..., Config], redis_url: str) -> None:
    mailbox = {"name": "mairie", "host": "127.0.0.1", "username": "u", "password": {"env": "X_PW"}, "poll_interval": 60}
    cfg = make_config(redis_url=redis_url, mailboxes=[mailbox, {**mailbox, "name": "accueil"}])
    redis = Redis.from_url(redis_url)
    first = tick(redis, cfg)
    second = tick(redis, cfg)  # another worker, same moment
    assert sorted(first) == ["poll:accueil", "poll:mairie", "sweep"]
    assert second == []
    queued = [job.func_name for job in housekeeping_queue(redis).jobs]
    assert queued.count("intake.runtime.jobs.poll_mailbox_job") == 2


def test_scheduler_queues_the_twilio_poll_once(
    make_config: Callable[..., Config], redis_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("X_TWILIO_TOKEN", "secret")
    twilio = {
        "enabled": True,
        "poll": True,
        "account_sid": "AC" + "1" * 32,
        "auth_token": {"env": "X_TWILIO_TOKEN"},
        "numbers": ["+33700000000"],
    }
    cfg = make_config(redis_url=redis_url, twilio=twilio)
    redis = Redis.from_url(redis_url)
    assert "poll:twilio" in tick(redis, cfg)
    assert "poll:twilio" not in tick(redis, cfg)
