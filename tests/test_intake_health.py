"""Intake health: each door's state, backlog and failures, the silence rule, the work queue, and retrying."""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import select

from intake.backoffice.health import Clock, Door, Snapshot, collect, percentile, queue_info, retry_message
from intake.config import Config, ConfigError, load_config
from intake.models import ChannelState, MailboxState, Outbox, RawMessage, Report, ReportMessage
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.queue import QUEUE_NAME
from intake.runtime.resources import Resources, build_resources
from tests.conftest import free_port
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.rows import add_raw

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
MAILBOX = {
    "name": "mairie",
    "host": "127.0.0.1",
    "port": 10143,
    "tls": False,
    "username": "mairie",
    "password": {"env": "HEALTH_TEST_IMAP_PASSWORD"},
    "poll_interval": 60,
}
TWILIO = {
    "enabled": True,
    "account_sid": "AC" + "1" * 32,
    "auth_token": {"env": "HEALTH_TEST_TWILIO_TOKEN"},
    "numbers": ["+33100000001"],
    "whatsapp_number": "+33100000002",
    "poll": True,
    "poll_interval": 60,
}
ALWAYS = {"quiet_hours": "", "quiet_weekends": False}  # a clock counting every hour, for exact thresholds


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)  # type: ignore[misc]


def resources(make_config: Callable[..., Config], **overrides: object) -> Resources:
    return build_resources(make_config(**overrides), mailer=ConsoleMailer())


# --- the clock and the percentile -------------------------------------------------------------------------------


def test_clock_skips_nights_and_week_ends_in_town_time(make_config: Callable[..., Config]) -> None:
    clock = Clock.of(make_config())  # shipped rule: 21:00-07:00 and week-ends not counted
    friday_evening, monday_morning = paris(2026, 3, 13, 20, 0), paris(2026, 3, 16, 8, 0)
    assert clock.seconds(friday_evening, monday_morning) == 2 * 3600  # Friday 20-21 h and Monday 07-08 h
    assert clock.seconds(paris(2026, 3, 17, 22, 0), paris(2026, 3, 18, 6, 0)) == 0  # one night
    assert clock.seconds(monday_morning, friday_evening) == 0


def test_clock_counts_real_hours_on_a_daylight_saving_day(make_config: Callable[..., Config]) -> None:
    # 29 March 2026, clocks go from 02:00 to 03:00 in Paris: the local day lasts 23 hours.
    clock = Clock.of(make_config(health={"quiet_hours": "01:00-04:00", "quiet_weekends": False}))
    day_start, day_end = paris(2026, 3, 29, 0, 0), paris(2026, 3, 30, 0, 0)
    assert (day_end - day_start) == timedelta(hours=23)
    assert clock.seconds(day_start, day_end) == 21 * 3600  # the quiet 01:00-04:00 lasted two real hours


def test_percentile_matches_the_inclusive_quantile() -> None:
    values = [3.0, 1.0, 40.0, 7.0, 7.5, 2.0, 11.0, 0.0, 25.0, 4.0, 9.0]
    assert percentile(values, 95) == pytest.approx(statistics.quantiles(values, n=100, method="inclusive")[94])
    assert percentile([5.0], 95) == 5.0


def test_bad_quiet_hours_are_named_in_the_error(tmp_path: Path) -> None:
    import yaml

    from tests.conftest import base_config_data

    data = base_config_data()
    data["health"] = {"quiet_hours": "07:00-07:00"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="health.quiet_hours"):
        load_config(path)
    data["health"] = {"quiet_hours": "25:00-07:00"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="health.quiet_hours"):
        load_config(path)


# --- the silence rule on real rows -----------------------------------------------------------------------------


def door(snapshot: Snapshot, key: str) -> Door:
    return next(d for d in snapshot.doors if d.key == key)


def test_silence_warning_appears_and_disappears_at_the_threshold(make_config: Callable[..., Config]) -> None:
    res = resources(make_config, mailboxes=[MAILBOX], health=ALWAYS)
    start = NOW - timedelta(days=10)
    gaps = [10] * 19 + [30]  # hours; the 95th percentile of these 20 gaps is 11 h
    at = start
    add_raw(res.factory, at=at)
    for hours in gaps:
        at += timedelta(hours=hours)
        add_raw(res.factory, at=at)
    usual = statistics.quantiles([g * 3600.0 for g in gaps], n=100, method="inclusive")[94]
    assert usual == 11 * 3600
    before = collect(res.factory, res.config, now=at + timedelta(hours=11) - timedelta(minutes=1))
    after = collect(res.factory, res.config, now=at + timedelta(hours=11) + timedelta(minutes=1))
    for snapshot, state in ((before, "normal"), (after, "alerte")):
        mailbox = door(snapshot, "email:mairie")
        assert mailbox.silence.state == state
        assert mailbox.silence.threshold == pytest.approx(usual) and mailbox.silence.gaps == 20
    # A new message resets the silence.
    add_raw(res.factory, at=at + timedelta(hours=11, minutes=2))
    again = collect(res.factory, res.config, now=at + timedelta(hours=11, minutes=3))
    assert door(again, "email:mairie").silence.state == "normal"


def test_floor_and_unknown_rhythm_and_never_used(make_config: Callable[..., Config]) -> None:
    res = resources(
        make_config,
        mailboxes=[MAILBOX, {**MAILBOX, "name": "accueil"}],
        open311={"api_keys": [{"name": "appli", "key": {"env": "HEALTH_TEST_KEY"}}]},
        health=ALWAYS,
    )
    for hour in range(12):  # a busy door: one message an hour, so its threshold is the 6 h floor
        add_raw(res.factory, at=NOW - timedelta(hours=30 - hour))
    for days in (20, 12, 5):  # an app used three times: too few gaps to know its rhythm
        add_raw(res.factory, channel="open311", source="appli", at=NOW - timedelta(days=days))
    snapshot = collect(res.factory, res.config, now=NOW)
    busy = door(snapshot, "email:mairie").silence
    assert busy.threshold == 6 * 3600 and busy.state == "alerte" and "plancher" in busy.basis
    rare = door(snapshot, "open311:appli").silence
    assert rare.gaps == 2 and rare.threshold == 30 * 86400 and rare.state == "normal"
    assert door(snapshot, "email:accueil").silence.state == "jamais"
    assert door(snapshot, "staff").silence.state == "jamais"


def test_a_door_dead_for_months_still_alarms(make_config: Callable[..., Config]) -> None:
    res = resources(make_config, mailboxes=[MAILBOX], health=ALWAYS)
    for day in range(20):  # daily mail until 90 days ago, then nothing
        add_raw(res.factory, at=NOW - timedelta(days=110 - day))
    mailbox = door(collect(res.factory, res.config, now=NOW), "email:mairie")
    assert mailbox.silence.state == "alerte" and mailbox.silence.threshold == 86400


def test_nights_and_week_ends_do_not_raise_the_alarm(make_config: Callable[..., Config]) -> None:
    res = resources(make_config, mailboxes=[MAILBOX])  # shipped rule: nights and week-ends not counted
    day = datetime(2026, 2, 23).date()  # a Monday; three working weeks of mail every two hours, 08:00-20:00
    last = None
    for offset in range(19):
        current = day + timedelta(days=offset)
        if current.weekday() < 5:
            for hour in range(8, 21, 2):
                last = paris(current.year, current.month, current.day, hour, 0)
                add_raw(res.factory, at=last)
    assert last == paris(2026, 3, 13, 20, 0)  # a Friday evening
    monday_early = collect(res.factory, res.config, now=paris(2026, 3, 16, 7, 30))
    mailbox = door(monday_early, "email:mairie").silence
    assert mailbox.state == "normal" and mailbox.counted == 1.5 * 3600  # 59.5 h by the wall clock
    monday_noon = collect(res.factory, res.config, now=paris(2026, 3, 16, 14, 0))
    assert door(monday_noon, "email:mairie").silence.state == "alerte"


# --- each door's state, backlog and failures -------------------------------------------------------------------


def test_each_door_shows_its_state_backlog_and_failures(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_TEST_TWILIO_TOKEN", "secret")
    res = resources(
        make_config,
        mailboxes=[MAILBOX, {**MAILBOX, "name": "accueil", "role": "reception"}],
        twilio=TWILIO,
        open311={"api_keys": [{"name": "appli", "key": {"env": "HEALTH_TEST_KEY"}}]},
    )
    with res.factory() as session, session.begin():
        session.add(
            MailboxState(
                name="mairie",
                last_uid=3,
                last_poll_at=NOW - timedelta(seconds=30),
                last_success_at=NOW - timedelta(seconds=30),
            )
        )
        session.add(
            MailboxState(
                name="accueil",
                last_uid=0,
                last_poll_at=NOW - timedelta(minutes=1),
                last_success_at=NOW - timedelta(hours=2),
                last_error="connexion refusée",
            )
        )
        session.add(
            ChannelState(
                name=f"twilio:{TWILIO['account_sid']}",
                last_poll_at=NOW - timedelta(seconds=40),
                last_success_at=NOW - timedelta(seconds=40),
            )
        )
    add_raw(res.factory, at=NOW - timedelta(hours=3))
    add_raw(res.factory, at=NOW - timedelta(minutes=20), status="pending", attempts=0)
    add_raw(res.factory, at=NOW - timedelta(minutes=5), status="pending", attempts=0)
    failed_id = add_raw(
        res.factory, at=NOW - timedelta(hours=1), status="failed", error="ValueError: en-tête illisible"
    )
    add_raw(res.factory, channel="sms", source="+33100000001", at=NOW - timedelta(hours=2))
    add_raw(res.factory, channel="voice", source="+33100000001", at=NOW - timedelta(minutes=50))
    whatsapp_id = add_raw(
        res.factory,
        channel="sms",
        source="whatsapp:+33100000002",
        at=NOW - timedelta(hours=4),
        status="failed",
        error="KeyError: 'Body'",
    )
    add_raw(res.factory, channel="accueil", source="back-office", at=NOW - timedelta(hours=6))
    add_raw(res.factory, channel="email", source="ancienne-boite", at=NOW - timedelta(days=2))
    stuck_id = add_raw(
        res.factory,
        at=NOW - timedelta(hours=8),
        status="pending",
        attempts=res.config.worker.max_attempts,
        error="erreur temporaire : database is locked",
    )

    snapshot = collect(res.factory, res.config, now=NOW)
    keys = [d.key for d in snapshot.doors]
    assert keys == [
        "email:mairie",
        "email:accueil",
        "sms:+33100000001",
        "sms:whatsapp:+33100000002",
        "open311:appli",
        "staff",
        "email:ancienne-boite",
    ]
    mairie, accueil, number, whatsapp, app, staff, other = snapshot.doors
    assert mairie.last_success_at == NOW - timedelta(seconds=30) and not mairie.poll_late
    assert mairie.backlog == 3 and mairie.counts == {"pending": 3, "failed": 1}
    assert mairie.oldest_pending == NOW - timedelta(hours=8)
    assert accueil.poll_late and accueil.last_error == "connexion refusée" and accueil.silence.state == "jamais"
    assert "relève API Twilio" in number.mode and not number.poll_late
    assert number.counts == {} and number.silence.last == NOW - timedelta(minutes=50)  # SMS and voicemail
    assert whatsapp.counts == {"failed": 1}
    assert app.silence.state == "jamais" and app.backlog == 0
    assert staff.silence.state == "non_surveille" and staff.silence.last == NOW - timedelta(hours=6)
    assert other.label.endswith("ancienne-boite") and not other.watched
    assert snapshot.oldest_pending == NOW - timedelta(hours=8)
    assert snapshot.stuck == 1
    listed = {row.id: row for row in snapshot.failed}
    assert set(listed) == {failed_id, stuck_id, whatsapp_id}
    assert listed[failed_id].error == "ValueError: en-tête illisible"


def test_outgoing_notifications_backlog_and_failures(make_config: Callable[..., Config]) -> None:
    res = resources(make_config)
    with res.factory() as session, session.begin():
        rows = [
            Outbox(
                kind="confirmation",
                channel="email",
                recipient="a@example.org",
                message_id="<1@g>",
                status="sent",
                sent_at=NOW - timedelta(minutes=3),
                created_at=NOW - timedelta(minutes=4),
            ),
            Outbox(
                kind="confirmation",
                channel="email",
                recipient="b@example.org",
                message_id="<2@g>",
                status="pending",
                created_at=NOW - timedelta(minutes=30),
            ),
            Outbox(
                kind="confirmation",
                channel="email",
                recipient="c@example.org",
                message_id="<3@g>",
                status="failed",
                reason="550 boîte inexistante",
                created_at=NOW - timedelta(hours=1),
            ),
            Outbox(
                kind="confirmation",
                channel="sms",
                recipient="+33612345678",
                message_id="<4@g>",
                status="suppressed",
                reason="désinscrit (STOP)",
                created_at=NOW - timedelta(hours=2),
            ),
        ]
        session.add_all(rows)
    snapshot = collect(res.factory, res.config, now=NOW)
    email, sms = snapshot.sendings
    assert email.counts == {"sent": 1, "pending": 1, "failed": 1}
    assert email.oldest_pending == NOW - timedelta(minutes=30)
    assert email.last_sent_at == NOW - timedelta(minutes=3)
    assert sms.counts == {"suppressed": 1} and sms.last_sent_at is None
    assert [(p.status, p.reason) for p in snapshot.send_problems] == [
        ("suppressed", "désinscrit (STOP)"),
        ("failed", "550 boîte inexistante"),
    ]


# --- the work queue ----------------------------------------------------------------------------------------------


def test_queue_length_and_workers_from_real_redis(make_config: Callable[..., Config], redis_url: str) -> None:
    from intake.runtime.queue import enqueue_process

    cfg = make_config(redis_url=redis_url)
    redis = Redis.from_url(redis_url)
    queue = Queue(QUEUE_NAME, connection=redis)
    for raw_id in (101, 102):
        enqueue_process(queue, raw_id, timeout=60)
    worker = Worker([queue], connection=redis, name="test-sante-worker")
    worker.register_birth()
    try:
        info = queue_info(cfg)
        assert info.configured and info.error is None and info.length == 2
        assert [w["name"] for w in info.workers] == ["test-sante-worker"]
        assert info.workers[0]["queues"] == QUEUE_NAME
    finally:
        worker.register_death()
        redis.close()
    assert queue_info(make_config()).configured is False


def test_redis_down_is_reported_not_raised(make_config: Callable[..., Config]) -> None:
    info = queue_info(make_config(redis_url=f"redis://127.0.0.1:{free_port()}/9"), timeout=0.5)
    assert info.configured and info.length is None and info.error and "onnect" in info.error


# --- retrying ----------------------------------------------------------------------------------------------------


def failing_email(res: Resources, root: Path) -> int:
    """An email with a photo, processed while the storage root is not a folder: it fails, nothing is filed."""
    shutil.rmtree(root)
    root.write_text("pas un dossier")
    raw = citizen_email(attachments=[("trou.jpg", "image/jpeg", jpeg_with_gps(48.85, 2.35))])
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "failed" and "NotADirectoryError" in (outcome.error or "")
    return raw_id


def test_retry_turns_a_failed_message_into_a_report_once_fixed(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    res = resources(make_config)
    raw_id = failing_email(res, tmp_path / "storage")
    assert retry_message(res, raw_id, actor="agent-test").status == "failed"  # not fixed yet: fails again
    with res.factory() as session:
        assert session.get(RawMessage, raw_id).status == "failed"  # type: ignore[union-attr]
    (tmp_path / "storage").unlink()  # the fix
    outcome = retry_message(res, raw_id, actor="agent-test")
    assert outcome.status == "processed" and outcome.created and outcome.tracking_number
    with res.factory() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw is not None and raw.status == "processed" and raw.error is None
        report = session.execute(
            select(Report)
            .join(ReportMessage, ReportMessage.report_id == Report.id)
            .where(ReportMessage.raw_message_id == raw_id)
        ).scalar_one()
        assert report.tracking_number == outcome.tracking_number and len(report.attachments) == 1
    assert retry_message(res, raw_id, actor="agent-test").status == "refused"  # processed: nothing to retry
    assert retry_message(res, raw_id + 999, actor="agent-test").status == "missing"


def test_retry_with_redis_resets_and_queues(make_config: Callable[..., Config], redis_url: str) -> None:
    res = resources(make_config, redis_url=redis_url)
    raw_id = add_raw(res.factory, at=NOW, status="failed", error="RuntimeError: boum", attempts=5)
    assert retry_message(res, raw_id, actor="admin-test").status == "queued"
    with res.factory() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw is not None and raw.status == "pending" and raw.attempts == 0
    redis = Redis.from_url(redis_url)
    try:
        jobs = Queue(QUEUE_NAME, connection=redis).jobs
        assert [(j.func_name, j.args) for j in jobs] == [("intake.runtime.jobs.process_message", (raw_id,))]
    finally:
        redis.close()


def test_retry_with_redis_down_keeps_the_message_pending(make_config: Callable[..., Config]) -> None:
    res = resources(make_config, redis_url=f"redis://127.0.0.1:{free_port()}/9")
    raw_id = add_raw(res.factory, at=NOW, status="failed", error="RuntimeError: boum")
    assert retry_message(res, raw_id, actor="admin-test").status == "pending"
    with res.factory() as session:
        assert session.get(RawMessage, raw_id).status == "pending"  # type: ignore[union-attr]
