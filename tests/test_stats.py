"""Statistics: volumes, delays (median, 90th percentile), corrections and the period, on a known dataset."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.backoffice.filters import parse_filter
from intake.backoffice.stats import (
    Period,
    choose_period,
    compute,
    hours_label,
    percentile,
    period_filter,
)
from intake.config import Config
from intake.models import Correction, Event, Report
from intake.reports.corrections import reclassify
from intake.reports.routing import dispatch
from intake.reports.statuses import change_status

TODAY = date(2024, 6, 15)
JUNE = Period(date(2024, 6, 1), TODAY)
_numbers = itertools.count(1)


def at(day: int, hour: float = 10.0, month: int = 6) -> datetime:
    """A UTC moment in 2024."""
    return datetime(2024, month, day, tzinfo=UTC) + timedelta(hours=hour)


def make_report(
    session: Session,
    *,
    created: datetime,
    channel: str = "email",
    category: str | None = "voirie",
    service: str | None = None,
    status: str = "nouveau",
    source: str = "model",
    lat: float | None = 48.8566,
    lon: float | None = 2.3522,
    voie: str | None = None,
    duplicate_of: Report | None = None,
    config: Config | None = None,
    **more: Any,
) -> Report:
    """One report row as the pipeline leaves it, with its "created" and "classified" events."""
    if service is None and config is not None and category is not None:
        service = {c.code: c.service for c in config.categories}[category]
    n = next(_numbers)
    report = Report(
        tracking_number=f"{created.year}-{n:05d}",
        public_token=uuid.uuid4().hex,
        channel=channel,
        category=category,
        service=service,
        status=status,
        category_source=source,
        lat=lat,
        lon=lon,
        address_voie=voie,
        address_label=f"{n} {voie}" if voie else None,
        duplicate_of_id=duplicate_of.id if duplicate_of else None,
        created_at=created,
        updated_at=created,
        **more,
    )
    session.add(report)
    session.flush()
    session.add(Event(report_id=report.id, at=created, actor="guichet", action="created", detail={}))
    detail: dict[str, Any] = {"category": category, "confidence": 0.9}
    if source != "model":
        detail["source"] = source
    session.add(Event(report_id=report.id, at=created, actor="guichet", action="classified", detail=detail))
    return report


def event(
    session: Session, report: Report, after_hours: float, action: str, actor: str = "agent.dupont", **detail: Any
) -> None:
    """An event `after_hours` after the report's creation."""
    session.add(
        Event(
            report_id=report.id,
            at=report.created_at + timedelta(hours=after_hours),
            actor=actor,
            action=action,
            detail=detail,
        )
    )


def correct(
    session: Session,
    report: Report,
    after_hours: float,
    field: str,
    old: str | None,
    new: str | None,
    actor: str = "agent.dupont",
) -> None:
    """An agent's correction, with its event."""
    moment = report.created_at + timedelta(hours=after_hours)
    session.add(Correction(report_id=report.id, field=field, old_value=old, new_value=new, actor=actor, at=moment))
    session.add(
        Event(
            report_id=report.id,
            at=moment,
            actor=actor,
            action="reclassified" if field == "category" else "located",
            detail={"to": new},
        )
    )


def known_dataset(s: Session, cfg: Config) -> dict[str, Report]:
    """Seven reports in June (one duplicate), one in May; every delay and correction is known."""
    r: dict[str, Report] = {}
    r["r1"] = make_report(s, config=cfg, created=at(2), channel="email", category="voirie", status="resolu")
    event(s, r["r1"], 0.02, "status", actor="guichet", to="transmis")  # automatic routing: not an action
    event(s, r["r1"], 0.5, "notification_sent", actor="guichet")
    event(s, r["r1"], 2, "status", to="en_cours")
    event(s, r["r1"], 48, "status", to="resolu")
    event(s, r["r1"], 60, "status", to="en_cours")
    event(s, r["r1"], 70, "status", to="resolu")  # re-opened, resolved again: the first resolution counts

    r["r2"] = make_report(
        s, config=cfg, created=at(3, 8), channel="sms", category="voirie", status="transmis", source="agent"
    )
    s.get(Event, s.query(Event.id).filter_by(report_id=r["r2"].id, action="classified").scalar()).detail = {
        "category": "eclairage",
        "confidence": 0.7,
    }  # the model said eclairage; the agent changed it
    correct(s, r["r2"], 0.5, "category", "eclairage", "voirie")

    r["r3"] = make_report(
        s, config=cfg, created=at(4), channel="open311", category="proprete", source="app", status="resolu"
    )
    event(s, r["r3"], 10, "status", to="resolu")
    event(s, r["r3"], 3, "located", actor="citoyen")  # the citizen's pin: not an agent's action

    r["r4"] = make_report(
        s, config=cfg, created=at(2, 12), channel="email", category="voirie", status="resolu", duplicate_of=r["r1"]
    )
    event(s, r["r4"], 1, "status", to="resolu")  # follows its main report: no delay of its own

    r["r5"] = make_report(s, config=cfg, created=at(5), channel="telephone", category="eau", source="agent")
    correct(s, r["r5"], 1, "address", None, "3 rue de Rivoli")

    r["r6"] = make_report(s, config=cfg, created=at(10), channel="email", category="eau", lat=None, lon=None)

    r["r8"] = make_report(s, config=cfg, created=at(11), channel="email", category="graffitis", status="en_cours")
    correct(s, r["r8"], 4, "category", "graffitis", "proprete")
    correct(s, r["r8"], 5, "category", "proprete", "graffitis")  # back to the model's: the model was right

    r["old"] = make_report(s, config=cfg, created=at(20, month=5), channel="sms", category="voirie")
    event(s, r["old"], 24 * 14, "status", to="resolu")
    correct(s, r["old"], 24 * 14, "category", "eclairage", "voirie")
    s.commit()
    return r


def test_numbers_on_a_known_dataset(session: Session, cfg: Config) -> None:
    known_dataset(session, cfg)
    flt = period_filter(parse_filter({}, cfg), JUNE, {})
    stats = compute(session, cfg, flt, JUNE)

    assert (stats.total, stats.duplicates, stats.without_position) == (7, 1, 1)
    assert [(v.code, v.count, v.duplicates) for v in stats.by_channel] == [
        ("email", 4, 1),
        ("open311", 1, 0),
        ("sms", 1, 0),
        ("telephone", 1, 0),
    ]
    assert [v.label for v in stats.by_channel][:2] == ["Courriel", "Application"]
    assert [(v.code, v.count) for v in stats.by_category] == [
        ("voirie", 3),
        ("eau", 2),
        ("graffitis", 1),
        ("proprete", 1),
    ]
    assert [(v.code, v.count, v.duplicates) for v in stats.by_status] == [
        ("nouveau", 2, 0),
        ("transmis", 1, 0),
        ("en_cours", 1, 0),
        ("resolu", 3, 1),
    ]
    services = {c.code: c.service for c in cfg.categories}
    expected_services: dict[str | None, int] = {}
    for category, n in (("voirie", 3), ("eau", 2), ("graffitis", 1), ("proprete", 1)):
        expected_services[services[category]] = expected_services.get(services[category], 0) + n
    assert {v.code: v.count for v in stats.by_service} == expected_services

    # first action, main reports only: r1 2 h, r2 0.5 h, r3 10 h (the citizen's pin at 3 h does not count),
    # r5 1 h, r8 4 h; r6 still waiting. Sorted 0.5, 1, 2, 4, 10: median 2, p90 at rank 3.6 → 4 + 0.6 × 6 = 7.6
    assert stats.first_action.measured == 5 and stats.first_action.waiting == 1
    assert stats.first_action.median_hours == pytest.approx(2)
    assert stats.first_action.p90_hours == pytest.approx(7.6)
    # resolution: r1 48 h (first time), r3 10 h; four still open. median 29, p90 10 + 0.9 × 38 = 44.2
    assert (stats.resolution.measured, stats.resolution.waiting) == (2, 4)
    assert stats.resolution.median_hours == pytest.approx(29)
    assert stats.resolution.p90_hours == pytest.approx(44.2)

    # categories: r2 changed (eclairage → voirie); r8 went back to the model's proposal
    assert stats.category_corrected == 1
    assert (stats.model_proposed, stats.model_corrected) == (5, 1)  # r1, r2, r4, r6, r8 (r3 app, r5 staff)
    assert stats.model_accuracy == pytest.approx(0.8)
    assert [(a.code, a.proposed, a.corrected) for a in stats.accuracy] == [
        ("voirie", 2, 0),
        ("eclairage", 1, 1),
        ("graffitis", 1, 0),
        ("eau", 1, 0),
    ]
    assert stats.address_corrected == 1


def test_filters_and_an_agents_service_scope(session: Session, cfg: Config) -> None:
    known_dataset(session, cfg)
    voirie = compute(session, cfg, period_filter(parse_filter({}, cfg), JUNE, {}), JUNE, service_scope="voirie")
    assert voirie.total == 5 and voirie.duplicates == 1  # r1, r2, r4 and the two "eau" ones (r5, r6)
    assert {v.code for v in voirie.by_service} == {"voirie"}
    nobody = compute(session, cfg, period_filter(parse_filter({}, cfg), JUNE, {}), JUNE, service_scope="")
    assert nobody.total == 0 and nobody.first_action.measured == 0

    emails = compute(session, cfg, period_filter(parse_filter({"canal": "email"}, cfg), JUNE, {}), JUNE)
    assert emails.total == 4 and emails.first_action.measured == 2  # r1, r8 (r4 duplicate, r6 waiting)
    hidden = period_filter(parse_filter({"doublons": "masques"}, cfg), JUNE, {"doublons": "masques"})
    assert compute(session, cfg, hidden, JUNE).total == 6

    may = Period(date(2024, 5, 1), date(2024, 5, 31))
    stats = compute(session, cfg, period_filter(parse_filter({}, cfg), may, {}), may)
    assert stats.total == 1 and stats.resolution.median_hours == pytest.approx(24 * 14)
    assert stats.category_corrected == 1 and stats.by_category[0].code == "voirie"


def test_an_empty_period_has_no_numbers(session: Session, cfg: Config) -> None:
    known_dataset(session, cfg)
    empty = Period(date(2023, 1, 1), date(2023, 1, 31))
    stats = compute(session, cfg, period_filter(parse_filter({}, cfg), empty, {}), empty)
    assert stats.total == 0 and stats.by_channel == [] and stats.model_accuracy is None
    assert stats.first_action.median_hours is None


def test_timeline_counts_local_days(session: Session, cfg: Config) -> None:
    make_report(session, config=cfg, created=datetime(2024, 6, 4, 22, 30, tzinfo=UTC))  # 5 June 00:30 in Paris
    make_report(session, config=cfg, created=datetime(2024, 6, 4, 21, 30, tzinfo=UTC))  # 4 June 23:30
    session.commit()
    week = Period(date(2024, 6, 1), date(2024, 6, 7))
    stats = compute(session, cfg, period_filter(parse_filter({}, cfg), week, {}), week)
    assert not stats.weekly
    assert stats.timeline == [(date(2024, 6, d), 1 if d in (4, 5) else 0) for d in range(1, 8)]
    year = Period(date(2023, 6, 16), date(2024, 6, 15))
    weekly = compute(session, cfg, period_filter(parse_filter({}, cfg), year, {}), year)
    assert weekly.weekly and weekly.timeline[0][0] == date(2023, 6, 12)  # the Monday of the first week
    assert dict(weekly.timeline)[date(2024, 6, 3)] == 2 and sum(n for _, n in weekly.timeline) == 2


def test_period_choices() -> None:
    none = parse_filter({}, _config_without_db())
    assert choose_period({}, none, today=TODAY) == (Period(date(2024, 5, 17), TODAY, preset=30), [])
    assert choose_period({"periode": "7"}, none, today=TODAY)[0] == Period(date(2024, 6, 9), TODAY, preset=7)
    assert choose_period({"periode": "365"}, none, today=TODAY)[0].days == 365
    period, errors = choose_period({"periode": "12"}, none, today=TODAY)
    assert period.days == 30 and errors == ["période inconnue (12) : choisissez 7, 30, 90 ou 365 jours"]

    cfg = _config_without_db()
    dates = parse_filter({"du": "2024-03-01", "au": "2024-03-31"}, cfg)
    assert choose_period({"periode": "7"}, dates, today=TODAY)[0] == Period(date(2024, 3, 1), date(2024, 3, 31))
    only_start = parse_filter({"du": "2024-06-10"}, cfg)
    assert choose_period({}, only_start, today=TODAY)[0] == Period(date(2024, 6, 10), TODAY)
    only_end = parse_filter({"au": "2024-02-29"}, cfg)
    assert choose_period({"periode": "7"}, only_end, today=TODAY)[0] == Period(date(2024, 2, 23), date(2024, 2, 29))
    bad = parse_filter({"du": "hier"}, cfg)
    assert bad.errors == ("date de début illisible (hier) : format AAAA-MM-JJ attendu",)
    assert choose_period({}, bad, today=TODAY)[0].preset == 30
    assert Period(date(2024, 6, 1), TODAY).label() == "du 01/06/2024 au 15/06/2024"


def _config_without_db() -> Config:
    from intake.config import parse_config
    from tests.conftest import base_config_data

    return parse_config(base_config_data())


def test_percentiles_and_delay_wording() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 0.5, 4.0, 1.0, 2.0], 90) == pytest.approx(7.6)
    assert [hours_label(h) for h in (None, 0.25, 1, 3 + 1 / 3, 47.99, 50, 72)] == [
        "—",
        "15 min",
        "1 h",
        "3 h 20",
        "47 h 59",
        "2 j 2 h",
        "3 j",
    ]


def routed(session: Session, cfg: Config, report: Report) -> Report:
    """Route the report as the pipeline's last stage does (with cfg's auto_transmit and review threshold)."""
    session.flush()
    dispatch(session, cfg, report)
    session.flush()
    return report


def unreviewed_dataset(s: Session, cfg: Config, older: Config) -> dict[str, Report]:
    """Reports transmitted without review (and others that must not count) in June 2024; `cfg` and `older`
    transmit automatically, `older` with a lower review threshold."""
    assert cfg.routing.auto_transmit and older.routing.auto_transmit
    r: dict[str, Report] = {}
    r["kept"] = routed(s, cfg, make_report(s, config=cfg, created=at(2), category="voirie"))
    r["changed"] = routed(s, cfg, make_report(s, config=cfg, created=at(3), category="eclairage"))
    reclassify(s, cfg, r["changed"], "voirie", actor="agent.dupont")  # the model was wrong
    r["confirmed"] = routed(s, cfg, make_report(s, config=cfg, created=at(4), category="voirie"))
    reclassify(s, cfg, r["confirmed"], "voirie", actor="agent.dupont")  # an agent confirmed: right
    r["back"] = routed(s, cfg, make_report(s, config=cfg, created=at(5), category="graffitis"))
    reclassify(s, cfg, r["back"], "proprete", actor="agent.dupont")
    reclassify(s, cfg, r["back"], "graffitis", actor="agent.martin")  # back to the model's: right
    r["older"] = routed(s, older, make_report(s, config=older, created=at(6), category="proprete"))
    # Not transmitted without review: unsure, then qualified and transmitted by an agent (and corrected)...
    r["reviewed"] = routed(s, cfg, make_report(s, config=cfg, created=at(7), category="voirie", status="a_qualifier"))
    reclassify(s, cfg, r["reviewed"], "eclairage", actor="agent.dupont")
    change_status(s, cfg, r["reviewed"], "transmis", actor="agent.dupont", notify=False)
    # ...chosen in the app, not by the model...
    r["app"] = routed(
        s, cfg, make_report(s, config=cfg, created=at(8), channel="open311", category="eau", source="app")
    )
    # ...a duplicate, which follows its main report...
    r["duplicate"] = routed(
        s, cfg, make_report(s, config=cfg, created=at(9), category="voirie", duplicate_of=r["kept"])
    )
    change_status(s, cfg, r["kept"], "en_cours", actor="agent.dupont", notify=False)
    reclassify(s, cfg, r["duplicate"], "eclairage", actor="agent.dupont")
    # ...and a report of May.
    r["may"] = routed(s, cfg, make_report(s, config=cfg, created=at(20, month=5), category="eau"))
    reclassify(s, cfg, r["may"], "voirie", actor="agent.dupont")
    s.commit()
    return r


def test_precision_of_the_reports_transmitted_without_review(make_config: Any) -> None:
    from intake.runtime.db import make_engine, make_sessionmaker

    cfg = make_config(routing={"auto_transmit": True}, classifier={"review_threshold": 0.9})  # in force today
    older = make_config(routing={"auto_transmit": True}, classifier={"review_threshold": 0.8})
    with make_sessionmaker(make_engine(cfg.sqlalchemy_url))() as s:
        r = unreviewed_dataset(s, cfg, older)
        transmitted = {
            rid
            for (rid,) in s.execute(
                select(Event.report_id).where(Event.action == "status", Event.detail["to"].as_string() == "transmis")
            )
        }
        assert {
            r[k].id for k in ("kept", "changed", "confirmed", "back", "older", "reviewed", "app", "may")
        } <= transmitted  # all transmitted, only some without review
        stats = compute(s, cfg, period_filter(parse_filter({}, cfg), JUNE, {}), JUNE)
        assert [(a.code, a.proposed, a.corrected) for a in stats.unreviewed] == [
            ("voirie", 2, 0),
            ("eclairage", 1, 1),
            ("proprete", 1, 0),
            ("graffitis", 1, 0),
        ]
        assert [a.label for a in stats.unreviewed][:2] == ["Voirie et espace public", "Éclairage public"]
        assert stats.unreviewed[1].precision == 0.0 and stats.unreviewed[0].precision == 1.0
        total = stats.unreviewed_total
        assert (total.proposed, total.corrected, total.precision) == (5, 1, pytest.approx(0.8))
        assert stats.review_threshold == 0.9 and stats.recorded_thresholds == [0.8, 0.9]
        # the same rows through the existing measure: every model proposal, reviewed or not
        assert ("voirie", 4, 2) in [(a.code, a.proposed, a.corrected) for a in stats.accuracy]

        may = Period(date(2024, 5, 1), date(2024, 5, 31))
        in_may = compute(s, cfg, period_filter(parse_filter({}, cfg), may, {}), may)
        assert [(a.code, a.proposed, a.corrected) for a in in_may.unreviewed] == [("eau", 1, 1)]
        scoped = compute(s, cfg, period_filter(parse_filter({}, cfg), JUNE, {}), JUNE, service_scope="proprete")
        assert [(a.code, a.proposed) for a in scoped.unreviewed] == [("proprete", 1), ("graffitis", 1)]
        empty = Period(date(2023, 1, 1), date(2023, 1, 31))
        nothing = compute(s, cfg, period_filter(parse_filter({}, cfg), empty, {}), empty)
        assert nothing.unreviewed == [] and nothing.unreviewed_total.precision is None


def test_the_pipelines_own_transmissions_are_the_ones_counted(make_config: Any) -> None:
    from intake.models import utcnow
    from intake.outbox.notify import ConsoleMailer
    from intake.runtime.resources import build_resources
    from tests.support.mail import citizen_email
    from tests.test_understanding import ISSUE_EXAMPLE, ingest

    cfg = make_config(routing={"auto_transmit": True})
    res = build_resources(cfg, mailer=ConsoleMailer())
    sure = ingest(res, citizen_email(subject="Lampadaire", body=ISSUE_EXAMPLE))
    unsure = ingest(res, citizen_email(subject="Problème", body="Il y a un souci, pouvez-vous passer ?"))
    assert (sure.category, sure.status, unsure.status) == ("eclairage", "transmis", "a_qualifier")
    with res.factory() as s, s.begin():
        row = s.get(Report, unsure.id)
        assert row is not None
        reclassify(s, cfg, row, "voirie", actor="agent.dupont")
        change_status(s, cfg, row, "transmis", actor="agent.dupont", notify=False)
    today = cfg.town.local(utcnow()).date()
    period = Period(today - timedelta(days=1), today)
    with res.factory() as s:
        stats = compute(s, cfg, period_filter(parse_filter({}, cfg), period, {}), period)
        assert [(a.code, a.proposed, a.corrected) for a in stats.unreviewed] == [("eclairage", 1, 0)]
        assert stats.recorded_thresholds == [cfg.classifier.review_threshold]
    with res.factory() as s, s.begin():
        row = s.get(Report, sure.id)
        assert row is not None
        reclassify(s, cfg, row, "mobilier_urbain", actor="agent.dupont")
    with res.factory() as s:
        again = compute(s, cfg, period_filter(parse_filter({}, cfg), period, {}), period)
        assert [(a.code, a.proposed, a.corrected) for a in again.unreviewed] == [("eclairage", 1, 1)]
