"""Retention and anonymisation (issue 12, RGPD 1): durations from config.yaml, applied daily by the workers and
by `guichet purge [--dry-run]`, logged, idempotent, counted on the health page; statistics and hotspots still
count what was anonymised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from intake.backoffice.filters import parse_filter
from intake.backoffice.hotspots import find_hotspots
from intake.backoffice.stats import Period, compute, period_filter
from intake.config import Config
from intake.models import Attachment, AuditLog, Contact, Event, RawMessage, Report, utcnow
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.reports.statuses import change_status
from intake.runtime.housekeeping import daily_purge
from intake.runtime.resources import Resources, build_resources
from tests.conftest import write_config
from tests.support.cli import run_guichet
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.web import signed_in
from web import create_app

ROQUETTE = (48.8537, 2.3734)


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(), mailer=ConsoleMailer())


def report_of(res: Resources, n: int, *, closed_days_ago: int | None, created_days_ago: int) -> int:
    """A citizen's mail with a photo, filed; then backdated, and resolved `closed_days_ago` (None: left open)."""
    raw = citizen_email(
        sender=f"Habitant {n} <habitant{n}@example.org>",
        subject="Dépôt sauvage",
        body=f"Dépôt sauvage devant le 24 rue de la Roquette. Signé Habitant{n}, digicode 12{n}B.",
        attachments=[("photo.jpg", "image/jpeg", jpeg_with_gps(ROQUETTE[0], ROQUETTE[1] + n * 1e-5))],
    )
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    now = utcnow()
    with res.factory() as s, s.begin():
        report = s.get(Report, outcome.report_id)
        assert report is not None
        report.category, report.service, report.duplicate_of_id = "proprete", "proprete", None
        report.created_at = now - timedelta(days=created_days_ago)
        if closed_days_ago is not None:
            change_status(s, res.config, report, "resolu", actor="agent", notify=False, note=f"vu Habitant{n}")
            s.flush()
            s.execute(
                update(Event)
                .where(Event.report_id == report.id, Event.action == "status")
                .values(at=now - timedelta(days=closed_days_ago))
            )
        s.execute(
            update(RawMessage).where(RawMessage.id == raw_id).values(received_at=now - timedelta(days=created_days_ago))
        )
    return int(outcome.report_id)


def town_figures(res: Resources) -> tuple[Any, ...]:
    """What the statistics and the hotspots say over the last 450 days (hotspots of resolved reports: the open
    one's status depends on the classifier's confidence, auto-transmitted or left for review)."""
    cfg = res.config
    today = date.today()
    period = Period(today - timedelta(days=450), today)
    with res.factory() as s:
        stats = compute(s, cfg, period_filter(parse_filter({}, cfg), period, {}), period)
        spots = find_hotspots(s, cfg, parse_filter({"statut": "resolu"}, cfg), period, min_reports=3, radius_m=150)
    return (
        stats.total,
        [(v.label, v.count) for v in stats.by_category],
        [(v.label, v.count) for v in stats.by_status],
        [(h.count, h.label) for h in spots.hotspots],
    )


@pytest.fixture
def town(res: Resources) -> dict[str, Any]:
    """Three reports closed 13 months ago, one closed 7 months ago, one still open from 13 months ago, a failed
    message of 7 months, and audit entries of 13 months and of today."""
    old = [report_of(res, n, closed_days_ago=395, created_days_ago=400) for n in range(3)]
    recent = report_of(res, 3, closed_days_ago=210, created_days_ago=215)
    still_open = report_of(res, 4, closed_days_ago=None, created_days_ago=400)
    failed, _ = store_raw(
        res.factory,
        channel="email",
        source="mairie",
        external_key="mid:illisible@x",
        payload=b"From: perdu@example.org\r\n\r\nillisible",
    )
    now = utcnow()
    with res.factory() as s, s.begin():
        s.execute(
            update(RawMessage)
            .where(RawMessage.id == failed)
            .values(status="failed", received_at=now - timedelta(days=200))
        )
        s.add(AuditLog(username="agent", action="queue.report", at=now - timedelta(days=400)))
        s.add(AuditLog(username="agent", action="queue.report", at=now))
    return {"old": old, "recent": recent, "open": still_open, "failed": failed}


def snapshot(res: Resources) -> dict[str, Any]:
    with res.factory() as s:
        return {
            "anonymised": set(s.execute(select(Report.id).where(Report.anonymised_at.is_not(None))).scalars()),
            "purged": set(s.execute(select(RawMessage.id).where(RawMessage.purged_at.is_not(None))).scalars()),
            "attachments": set(s.execute(select(Attachment.report_id)).scalars()),
            "contacts": sorted(e or "" for e in s.execute(select(Contact.email)).scalars()),
            "audit": s.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all(),
        }


def test_purge_applies_each_duration_once_and_keeps_the_figures(
    res: Resources, town: dict[str, Any], tmp_path: Path
) -> None:
    figures = town_figures(res)
    assert figures[3] and figures[3][0][0] == 4  # three old and one recent at the same place
    config = write_config(res.config, tmp_path / "config.yaml")
    before = snapshot(res)
    dry = run_guichet(["--config", str(config), "purge", "--dry-run"], cwd=Path.cwd())
    assert dry.returncode == 0, dry.stderr
    assert (
        "simulation : 5 message(s) reçu(s) et 4 pièce(s) jointe(s) seraient supprimés, 3 signalement(s) et "
        "3 contact(s) seraient anonymisés, 1 entrée(s) du journal d'audit seraient supprimées"
    ) in dry.stdout
    assert snapshot(res) == before  # a dry run changes nothing

    from intake.privacy.retention import purge

    done = purge(res.factory, res.config, res.file_store, batch=2)  # several short transactions
    assert (
        done.raw_messages,
        done.attachments,
        done.reports_anonymised,
        done.contacts_anonymised,
        done.audit_entries,
    ) == (5, 4, 3, 3, 1)
    after = snapshot(res)
    assert after["anonymised"] == set(town["old"])
    with res.factory() as s:
        raw_of = dict(
            s.execute(
                select(Report.id, RawMessage.id)
                .join(Event, (Event.report_id == Report.id) & (Event.action == "created"))
                .join(RawMessage, RawMessage.id == Event.detail["raw_message_id"].as_integer())
            ).all()
        )
        payloads = {r.id: r.payload for r in s.execute(select(RawMessage)).scalars()}
        texts = " ".join(r.description + (r.address_label or "") for r in s.execute(select(Report)).scalars())
    assert after["purged"] == {raw_of[i] for i in [*town["old"], town["recent"]]} | {town["failed"]}
    assert all(payloads[i] == b"" for i in after["purged"]) and payloads[raw_of[town["open"]]] != b""
    assert after["attachments"] == {town["open"]}  # photos of the open report stay
    assert after["contacts"] == ["", "", "", "habitant3@example.org", "habitant4@example.org"]
    assert "Habitant0" not in texts and "Habitant4" in texts and "Habitant3" in texts
    assert after["audit"][0] == "queue.report" and after["audit"][-1] == "rgpd_purge" and len(after["audit"]) == 2
    assert town_figures(res) == figures  # statistics and hotspots count the anonymised reports as before

    again = purge(res.factory, res.config, res.file_store)
    assert again.total == 0  # idempotent


def test_workers_purge_once_a_day_and_the_health_page_counts_it(res: Resources, town: dict[str, Any]) -> None:
    first = daily_purge(res.factory, res.config, res.file_store)
    assert first is not None and first.reports_anonymised == 3
    assert daily_purge(res.factory, res.config, res.file_store) is None  # done today
    tomorrow = utcnow() + timedelta(hours=25)
    later = daily_purge(res.factory, res.config, res.file_store, now=tomorrow)
    assert later is not None and later.total == 0
    page = signed_in(create_app(res.config, resources=res), "admin").get("/sante-des-canaux").get_data(as_text=True)
    assert "Conservation des données (RGPD)" in page
    assert "3 signalement(s) anonymisé(s), 3 contact(s) anonymisé(s), 5 message(s) reçu(s) supprimé(s)" in page


def test_retention_durations_are_checked(make_config: Callable[..., Config]) -> None:
    from intake.config import ConfigError

    with pytest.raises((ConfigError, ValueError), match="raw_months"):
        make_config(privacy={"retention": {"raw_months": 24, "identity_months": 12}})
