"""Email intake end to end: a real Dovecot, the real database, real SMTP, rq workers on real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from intake.config import Config
from intake.models import Outbox, RawMessage, Report, ReportMessage, utcnow
from intake.pipeline.process import process_raw
from intake.runtime.resources import build_resources
from tests.channels.conftest import dovecot  # noqa: F401  (the real Dovecot fixture)
from tests.conftest import ROOT, write_config
from tests.support import crasher
from tests.support.cli import run_guichet, run_in_child
from tests.support.dovecot import DovecotServer
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.procs import Processes, stop
from tests.test_processing import FORWARDED_OUTLOOK_FR

STEPS = ("fetched", "stored", "acknowledged", "cursor")


def _mailbox_config(
    make_config: Callable[..., Config], server: DovecotServer, tmp_path: Path, **overrides: Any
) -> tuple[Config, Path, dict[str, str]]:
    user, password, _ = server.claim_user()
    mailbox = {
        "name": "mairie",
        "host": server.host,
        "port": server.port,
        "tls": False,
        "username": user,
        "password": {"env": "TEST_IMAP_PASSWORD"},
        "batch_size": 2,
        "poll_interval": 5,
    }
    cfg = make_config(mailboxes=[mailbox], **overrides)
    path = write_config(cfg, tmp_path / "config.yaml")
    env = {**os.environ, "GUICHET_CONFIG": str(path), "TEST_IMAP_PASSWORD": password}
    return cfg, path, env


def _guichet(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_guichet(args, env=env, timeout=timeout)


def _count(cfg: Config, model: Any, *where: Any) -> int:
    res = build_resources(cfg)
    with res.factory() as s:
        value = int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())
    res.dispose()
    return value


def test_mailbox_to_reports_with_confirmations_and_threaded_reply(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    smtp_server: tuple[str, int, Any],
    tmp_path: Path,
) -> None:
    host, port, caught = smtp_server
    cfg, _, env = _mailbox_config(make_config, dovecot, tmp_path, smtp={"backend": "smtp", "host": host, "port": port})
    user = cfg.mailboxes[0].username
    dovecot.append(
        user,
        citizen_email(
            sender="Sophie <sophie@mairie.localhost>",
            subject="TR: Dépôt sauvage",
            body=FORWARDED_OUTLOOK_FR,
            attachments=[("gravats.jpg", "image/jpeg", jpeg_with_gps(48.86, 2.37))],
        ),
    )
    dovecot.append(user, citizen_email(sender="Léa Petit <lea@example.org>", subject="Tag sur l'école"))
    dovecot.append(
        user,
        citizen_email(
            sender="lea@example.org", subject="Absence du bureau", headers={"Auto-Submitted": "auto-replied"}
        ),
    )
    proc = _guichet(env, "poll", "--inline")
    assert proc.returncode == 0, proc.stderr
    assert "mairie : 3 message(s) enregistré(s)" in proc.stdout
    assert dovecot.folder_count(user, "INBOX") == 0
    assert dovecot.folder_count(user, "Traités") == 3
    assert _count(cfg, Report) == 2
    recipients = sorted(m["to"][0] for m in caught.messages)
    assert recipients == ["lea@example.org", "paul.durand@exemple.fr"]  # the citizen, not the staff member
    lea_confirmation = next(m["message"] for m in caught.messages if m["to"] == ["lea@example.org"])
    number = lea_confirmation["Subject"].split("n° ")[1].split()[0]

    reply_to = lea_confirmation["Message-ID"].strip("<>")
    dovecot.append(
        user,
        citizen_email(
            sender="lea@example.org",
            subject=f"Re: {lea_confirmation['Subject']}",
            body="J'ajoute : le tag est sur le mur côté rue.",
            in_reply_to=reply_to,
        ),
    )
    assert _guichet(env, "poll", "--inline").returncode == 0
    assert _count(cfg, Report) == 2
    res = build_resources(cfg)
    with res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        roles = (
            s.execute(select(ReportMessage.role).where(ReportMessage.report_id == report.id).order_by(ReportMessage.id))
            .scalars()
            .all()
        )
        forwarded = s.execute(select(Report).where(Report.forwarded_by_email.is_not(None))).scalar_one()
    assert roles == ["original", "follow_up"]
    assert forwarded.location_source == "exif" and forwarded.lat == pytest.approx(48.86, abs=1e-4)
    assert len(caught.messages) == 2  # the reply got no second confirmation


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_each_step_loses_and_duplicates_nothing(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    tmp_path: Path,
    step: str,
) -> None:
    cfg, _, env = _mailbox_config(make_config, dovecot, tmp_path)
    user = cfg.mailboxes[0].username
    total = 5
    for i in range(total):
        dovecot.append(user, citizen_email(sender=f"c{i}@example.org", subject=f"Signalement {i}"))
    kills = 0
    for nth in (1, 2, 1, 3, 1, 2, 1, 1):  # many kills, at different messages of the batch
        proc = run_in_child(crasher.main, ["poll", "mairie", step, str(nth)], env=env)
        if proc.returncode == 137:
            kills += 1
        else:
            assert proc.returncode == 0, proc.stderr
    assert kills >= 3
    assert _guichet(env, "poll", "--inline").returncode == 0
    res = build_resources(cfg)
    with res.factory() as s:
        pending = list(s.execute(select(RawMessage.id).where(RawMessage.status == "pending")).scalars())
    for raw_id in pending:  # messages stored by the killed polls: what the sweeper hands to workers
        process_raw(res, raw_id)
    assert _count(cfg, RawMessage) == total
    assert _count(cfg, Report) == total
    assert dovecot.folder_count(user, "INBOX") == 0
    assert dovecot.folder_count(user, "Traités") == total


def test_killed_while_processing_rolls_back_and_is_retried(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intake.channels.mailboxes import poll_once

    cfg, _, env = _mailbox_config(make_config, dovecot, tmp_path)
    monkeypatch.setenv("TEST_IMAP_PASSWORD", env["TEST_IMAP_PASSWORD"])
    dovecot.append(cfg.mailboxes[0].username, citizen_email())
    res = build_resources(cfg)
    assert poll_once(res, "mairie", enqueue=lambda _rid: None).stored == 1
    with res.factory() as s:
        raw_id = s.execute(select(RawMessage.id)).scalar_one()
    proc = run_in_child(crasher.main, ["process", str(raw_id)], env=env)
    assert proc.returncode == 137, proc.stderr
    assert _count(cfg, Report) == 0  # the half-done transaction died with the process
    assert process_raw(res, raw_id).status == "skipped"  # claimed by the dead worker, not yet stale
    with res.factory() as s, s.begin():
        s.execute(update(RawMessage).values(claimed_at=utcnow() - timedelta(hours=1)))
    assert process_raw(res, raw_id).status == "processed"
    assert _count(cfg, Report) == 1 and _count(cfg, Outbox) == 1


def test_worker_schedules_polls_and_files_new_mail(
    make_config: Callable[..., Config],
    dovecot: DovecotServer,  # noqa: F811
    smtp_server: tuple[str, int, Any],
    redis_url: str,
    tmp_path: Path,
    processes: Processes,
) -> None:
    host, port, caught = smtp_server
    cfg, _, env = _mailbox_config(
        make_config, dovecot, tmp_path, redis_url=redis_url, smtp={"backend": "smtp", "host": host, "port": port}
    )
    logs = [(tmp_path / f"worker{i}.log").open("w+") for i in range(2)]
    workers = [
        processes.start(
            [sys.executable, "-m", "intake.cli", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        for log in logs
    ]
    for i in range(4):
        dovecot.append(cfg.mailboxes[0].username, citizen_email(sender=f"w{i}@example.org"))
    # A give-up bound, not a measure: two workers loading the model on a loaded 2-core machine took over 90 s.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(caught.messages) < 4:
        time.sleep(0.5)
    took = [stop(w, timeout=10) for w in workers]
    for log in logs:
        log.close()
    errors = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert len(caught.messages) == 4, errors
    assert sorted(m["to"][0] for m in caught.messages) == [f"w{i}@example.org" for i in range(4)]
    assert _count(cfg, Report) == 4
    assert max(took) < 5, took  # SIGTERM stops a worker within seconds
    assert all(w.returncode == 0 for w in workers), errors
    assert not any("Traceback" in e for e in errors), errors


def test_guichet_retry_reprocesses_parked_messages(
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    from intake.pipeline.rawstore import email_key, store_raw

    cfg = make_config()
    path = write_config(cfg, tmp_path / "config.yaml")
    res = build_resources(cfg)
    raw = citizen_email()
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    with res.factory() as s, s.begin():  # as left by a failure an agent has since fixed
        s.execute(update(RawMessage).values(status="failed", error="RuntimeError: panne", attempts=5))
    env = {**os.environ, "GUICHET_CONFIG": str(path)}
    proc = _guichet(env, "retry", "--inline")
    assert proc.returncode == 0, proc.stderr
    assert f"message {raw_id} : processed 20" in proc.stdout
    assert _count(cfg, Report) == 1
    again = _guichet(env, "retry", "--inline")
    assert "aucun message à reprendre" in again.stdout
