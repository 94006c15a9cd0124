"""Daily digest to referents: the town's day, the right reports, once per day and referent, scheduled once."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import select, update

from intake.config import Config
from intake.models import Event, Outbox, Report, utcnow
from intake.outbox.digest import day_bounds, due_day, parse_day, run_digests
from intake.outbox.notify import ConsoleMailer
from intake.outbox.referents import notify_referents
from intake.runtime.queue import housekeeping_queue
from intake.runtime.resources import Resources, build_resources
from intake.runtime.scheduler import tick
from tests.conftest import CaughtMail, write_config
from tests.support.cli import run_guichet
from tests.support.mail import citizen_email
from tests.test_routing import NORTH_LITTER, ROUTED, with_notify
from tests.test_understanding import ingest

DAY = date(2026, 3, 13)  # a Friday in winter time (UTC+1 in Paris)
REFERENTS = ["proprete-nord@mairie.localhost", "chef-secteur-nord@mairie.localhost"]


def digest_config(make_config: Callable[..., Config], **overrides: Any) -> Config:
    """The shipped configuration with the north sector's cleaning team on a daily digest, two referents."""
    services = [
        {**s, "notify": "digest", "emails": REFERENTS} if s["code"] == "proprete-nord" else s
        for s in with_notify(make_config(), "proprete-nord", "digest")
    ]
    return make_config(services=services, **overrides)


def test_due_day_follows_the_town_clock(make_config: Callable[..., Config]) -> None:
    cfg = digest_config(make_config)
    assert due_day(cfg, datetime(2026, 3, 14, 6, 29, tzinfo=UTC)) is None  # 07:29 in Paris
    assert due_day(cfg, datetime(2026, 3, 14, 6, 30, tzinfo=UTC)) == DAY  # 07:30 in Paris
    assert due_day(cfg, datetime(2026, 3, 14, 22, 59, tzinfo=UTC)) == DAY  # 23:59 in Paris
    assert due_day(cfg, datetime(2026, 3, 14, 23, 30, tzinfo=UTC)) is None  # 00:30 the 15th: not yet
    assert due_day(make_config(), datetime(2026, 3, 14, 12, 0, tzinfo=UTC)) is None  # no digest service
    start, end = day_bounds(cfg, date(2026, 3, 29))  # summer time starts: a 23-hour day
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC) and end - start == timedelta(hours=23)
    assert parse_day("2026-03-13", cfg) == DAY
    with pytest.raises(ValueError, match="jour invalide"):
        parse_day("13/03/2026", cfg)


def _report(res: Resources, *, service: str, at: datetime, label: str) -> str:
    """A transmitted report for `service`, announced (for the digest) at `at`; returns its tracking number."""
    number = f"2026-{uuid.uuid4().int % 100000:05d}"
    with res.factory() as s, s.begin():
        row = Report(
            tracking_number=number,
            public_token=uuid.uuid4().hex,
            channel="email",
            category="proprete",
            service=service,
            status="transmis",
            address_label=label,
            description="Dépôt sauvage",
            created_at=at,
        )
        s.add(row)
        s.flush()
        notify_referents(s, res.config, row)
        s.execute(update(Event).where(Event.report_id == row.id).values(at=at))
    return number


def test_digest_lists_the_days_reports_once_per_referent(
    make_config: Callable[..., Config], smtp_server: tuple[str, int, CaughtMail]
) -> None:
    host, port, caught = smtp_server
    cfg = digest_config(make_config, smtp={"backend": "smtp", "host": host, "port": port})
    res = build_resources(cfg)
    morning = _report(res, service="proprete-nord", at=datetime(2026, 3, 13, 7, 0, tzinfo=UTC), label="1 Avenue Junot")
    late = _report(res, service="proprete-nord", at=datetime(2026, 3, 13, 22, 30, tzinfo=UTC), label="2 Avenue Junot")
    next_day = _report(res, service="proprete-nord", at=datetime(2026, 3, 13, 23, 30, tzinfo=UTC), label="Rue X")
    moved = _report(res, service="proprete-nord", at=datetime(2026, 3, 13, 9, 0, tzinfo=UTC), label="Rue Y")
    other = _report(res, service="proprete", at=datetime(2026, 3, 13, 9, 0, tzinfo=UTC), label="Rue Z")
    with res.factory() as s, s.begin():
        s.execute(update(Report).where(Report.tracking_number == moved).values(service="voirie"))

    run = run_digests(res.factory, cfg, res.mailer, DAY)
    assert len(run.queued) == 2 and run.sent == 2 and run.deferred == []
    assert sorted(m["to"][0] for m in caught.messages) == sorted(REFERENTS)
    message = caught.messages[0]["message"]
    text = message.get_content()
    assert message["Subject"] == "[Propreté — secteur nord] 2 signalement(s) transmis le 13/03/2026"
    assert morning in text and late in text and text.index(morning) < text.index(late)
    assert next_day not in text and moved not in text and other not in text  # 00:30 the 14th in Paris: next day
    assert f"http://localhost:8000/signalements/{morning}" in text and "1 Avenue Junot" in text

    again = run_digests(res.factory, cfg, res.mailer, DAY)  # the CLI after the scheduler, or a retried job
    assert again.queued == [] and again.sent == 0 and len(caught.messages) == 2
    with res.factory() as s:
        kinds = s.execute(
            select(Outbox.kind, Outbox.report_id, Outbox.status).where(Outbox.kind.like("digest:%"))
        ).all()
    assert sorted(kinds) == [("digest:proprete-nord:2026-03-13", None, "sent")] * 2

    assert run_digests(res.factory, cfg, res.mailer, date(2026, 3, 12)).queued == []  # nothing that day: no mail
    following = run_digests(res.factory, cfg, res.mailer, date(2026, 3, 14))
    assert following.sent == 2 and next_day in caught.messages[-1]["message"].get_content()


def test_report_from_the_pipeline_is_in_the_days_digest(make_config: Callable[..., Config]) -> None:
    cfg = digest_config(make_config, routing=ROUTED)
    res = build_resources(cfg, mailer=ConsoleMailer())
    report = ingest(res, citizen_email(subject="Propreté", body=NORTH_LITTER))
    assert (report.service, report.status) == ("proprete-nord", "transmis")
    today = cfg.town.local(utcnow()).date()
    run = run_digests(res.factory, cfg, res.mailer, today)
    assert run.sent == 2
    assert isinstance(res.mailer, ConsoleMailer)
    bodies = [m.get_payload(decode=True).decode() for m in res.mailer.sent if m["To"] in REFERENTS]
    assert len(bodies) == 2 and all(report.tracking_number in b and "Avenue Junot" in b for b in bodies)
    assert all("jeanne.martin" not in b for b in bodies)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_guichet(args, env=env)


def test_cli_digest_sends_once(make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = digest_config(make_config)
    res = build_resources(cfg, mailer=ConsoleMailer())
    number = _report(res, service="proprete-nord", at=datetime(2026, 3, 13, 10, 0, tzinfo=UTC), label="Rue A")
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml"))}
    first = _cli(env, "digest", "--day", "2026-03-13")
    assert first.returncode == 0, first.stderr
    assert "récapitulatifs du 13/03/2026 : 2 nouveau(x), 2 envoyé(s)" in first.stdout
    second = _cli(env, "digest", "--day", "2026-03-13")
    assert second.returncode == 0 and "0 nouveau(x), 0 envoyé(s)" in second.stdout
    with res.factory() as s:
        rows = s.execute(select(Outbox.recipient, Outbox.body)).all()
    assert sorted(r for r, _ in rows) == sorted(REFERENTS) and all(number in body for _, body in rows)
    bad = _cli(env, "digest", "--day", "13/03/2026")
    assert bad.returncode == 2 and "jour invalide" in bad.stderr and "Traceback" not in bad.stderr


def test_scheduler_queues_the_digest_once_a_day(
    make_config: Callable[..., Config], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import intake.runtime.jobs as jobs

    cfg = digest_config(make_config, redis_url=redis_url, routing={"digest_time": "00:00"})
    redis = Redis.from_url(redis_url)
    yesterday = cfg.town.local(utcnow()).date() - timedelta(days=1)
    first, second = tick(redis, cfg), tick(redis, cfg)  # two workers at the same moment
    assert f"digest:{yesterday.isoformat()}" in first and not any(q.startswith("digest:") for q in second)
    jobs_queued = [job for job in housekeeping_queue(redis).jobs if job.func_name == "intake.runtime.jobs.send_digests"]
    assert [job.args for job in jobs_queued] == [(yesterday.isoformat(),)]
    assert not any(q.startswith("digest:") for q in tick(redis, make_config(redis_url=redis_url)))  # no digest service

    res = build_resources(cfg, mailer=ConsoleMailer())
    number = _report(
        res,
        service="proprete-nord",
        at=datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12),
        label="Rue B",
    )
    monkeypatch.setattr(jobs, "_RESOURCES", res)
    assert jobs.send_digests(yesterday.isoformat()) == {"day": yesterday.isoformat(), "queued": 2, "sent": 2}
    assert jobs.send_digests(yesterday.isoformat())["queued"] == 0
    assert isinstance(res.mailer, ConsoleMailer) and len(res.mailer.sent) == 2
    assert all(number in m.get_payload(decode=True).decode() for m in res.mailer.sent)
