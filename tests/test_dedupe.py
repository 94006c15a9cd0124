"""Duplicates: matching rules, the pipeline stage, unlink/merge, and resolution telling every reporter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.geocoding.spatial import distance_m
from intake.models import Contact, Event, Outbox, Report
from intake.outbox.notify import ConsoleMailer
from intake.reports.dedupe import box, closest, find_duplicate, merge, unlink
from intake.reports.statuses import change_status
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email
from tests.test_understanding import ISSUE_EXAMPLE, ingest

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LAT, LON = 48.8538, 2.4059  # 72 rue des Pyrénées


def north(metres: float) -> float:
    """Latitude `metres` north of LAT."""
    return LAT + metres / 111_195.0


def add(
    s: Session,
    *,
    lat: float = LAT,
    lon: float = LON,
    category: str = "eclairage",
    status: str = "nouveau",
    age_days: float = 1,
    email: str | None = None,
) -> Report:
    author = Contact(email=email) if email else None
    n = uuid.uuid4().hex
    row = Report(
        tracking_number=n[:16],
        public_token=n,
        channel="email",
        category=category,
        status=status,
        lat=lat,
        lon=lon,
        created_at=NOW - timedelta(days=age_days),
        author=author,
    )
    s.add(row)
    s.flush()
    return row


def test_distance_and_box() -> None:
    assert distance_m(LAT, LON, north(40), LON) == pytest.approx(40, abs=0.1)
    lat_min, lat_max, lon_min, lon_max = box(LAT, LON, 50)
    assert lat_min < north(-50) and north(50) < lat_max
    assert lon_min < LON - 50 / 73_000 and LON + 50 / 73_000 < lon_max  # ~73 km per degree of longitude here


def test_closest_wins_and_ties_go_to_the_oldest() -> None:
    old, young = NOW - timedelta(days=3), NOW - timedelta(days=1)
    assert closest(LAT, LON, [("far", north(40), LON, old), ("near", north(10), LON, young)], radius_m=50) == (
        "near",
        pytest.approx(10, abs=0.1),
    )
    found = closest(LAT, LON, [("young", north(10), LON, young), ("old", north(-10), LON, old)], radius_m=50)
    assert found is not None and found[0] == "old"
    assert closest(LAT, LON, [("far", north(60), LON, old)], radius_m=50) is None


def test_match_within_radius_and_window(session: Session, cfg: Config) -> None:
    main = add(session, lat=north(40), age_days=5)
    add(session, lat=north(45), age_days=2)  # farther
    new = add(session, age_days=0)
    assert find_duplicate(session, new, rules=cfg.dedupe) is main


@pytest.mark.parametrize(
    "other",
    [
        {"lat": north(60)},  # outside eclairage's 50 m
        {"category": "graffitis"},  # other category
        {"status": "resolu"},
        {"status": "rejete"},  # closed
        {"age_days": 15},  # outside the 14-day window
    ],
)
def test_not_duplicates(session: Session, cfg: Config, other: dict[str, object]) -> None:
    add(session, **other)  # type: ignore[arg-type]
    new = add(session, age_days=0)
    assert find_duplicate(session, new, rules=cfg.dedupe) is None


def test_radius_per_category_and_duplicates_are_not_mains(session: Session, cfg: Config) -> None:
    dumped = add(session, category="objets_abandonnes", lat=north(140))
    assert find_duplicate(session, add(session, category="objets_abandonnes", age_days=0), rules=cfg.dedupe) is dumped
    first = add(session, age_days=3)
    second = add(session, age_days=2)
    second.duplicate_of_id = first.id
    first.status = "resolu"
    assert find_duplicate(session, add(session, age_days=0), rules=cfg.dedupe) is None


def test_disabled(session: Session, make_config: Callable[..., Config]) -> None:
    add(session)
    rules = make_config(dedupe={"enabled": False}).dedupe
    assert find_duplicate(session, add(session, age_days=0), rules=rules) is None


def test_unlink_and_merge_leave_events(session: Session) -> None:
    main, dup, other = add(session, age_days=3), add(session, age_days=2), add(session, age_days=1)
    merge(session, dup, main, "agent.martin")
    assert dup.duplicate_of_id == main.id
    assert merge(session, other, dup, "agent.martin") is main  # followed to the main report: no chains
    assert unlink(session, dup, "agent.martin") is main and dup.duplicate_of_id is None
    assert unlink(session, dup, "agent.martin") is None
    session.flush()
    actions = [(e.report_id, e.action, e.actor) for e in session.execute(select(Event).order_by(Event.id)).scalars()]
    assert (dup.id, "duplicate_of", "agent.martin") in actions and (main.id, "duplicate_of", "agent.martin") in actions
    assert (dup.id, "duplicate_unlinked", "agent.martin") in actions
    assert (main.id, "duplicate_unlinked", "agent.martin") in actions
    with pytest.raises(ValueError):
        merge(session, main, other, "agent.martin")  # other is main's duplicate: main into itself


def test_resolution_notifies_the_duplicate_author_too(session: Session, cfg: Config) -> None:
    main = add(session, age_days=3, email="premier@example.org")
    dup = add(session, age_days=1, email="second@example.org")
    merge(session, dup, main, "agent")
    change_status(session, cfg, main, "resolu", actor="agent")
    session.flush()
    sent = session.execute(select(Outbox.recipient).where(Outbox.kind == "status_resolu")).scalars().all()
    assert sorted(sent) == ["premier@example.org", "second@example.org"]


def test_second_email_about_the_same_lamp_is_a_duplicate(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(), mailer=ConsoleMailer())
    first = ingest(
        res, citizen_email(sender="Jeanne Martin <jeanne.martin@example.org>", subject="Lampadaire", body=ISSUE_EXAMPLE)
    )
    body = "Bonjour, le lampadaire en face du 72 rue des Pyrénées est éteint depuis plusieurs jours. Merci"
    second = ingest(res, citizen_email(sender="Paul Durand <paul.durand@example.net>", subject="Éclairage", body=body))
    assert first.id != second.id and first.duplicate_of_id is None
    assert second.duplicate_of_id == first.id and second.category == "eclairage"
    with res.factory() as s:
        confirmed = s.execute(select(Outbox.report_id, Outbox.recipient).where(Outbox.kind == "confirmation")).all()
        events = s.execute(select(Event.report_id).where(Event.action == "duplicate_of")).scalars().all()
    assert sorted(confirmed) == [(first.id, "jeanne.martin@example.org"), (second.id, "paul.durand@example.net")]
    assert sorted(events) == [first.id, second.id]
