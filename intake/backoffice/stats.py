"""Statistics of the back office over a chosen period: volumes, delays, and how often agents had to correct.

Definitions (what the "Statistiques" page shows):

- **Volumes** count every report of the period, one per message that opened one (a problem reported three times
  through three doors counts three), and say how many of them are duplicates linked to another report.
- **Time to first action**: from a report's `created_at` to the first event on it whose actor is a person of the
  back office, that is any actor other than the system (``guichet``) and the citizen (``citoyen``): a status
  change, a correction of category or address, a re-routing, a merge, a note... Automatic routing, notifications
  and the citizen's own answers do not count.
- **Time to resolution**: from `created_at` to the first status event to ``resolu`` (a report re-opened later
  keeps its first resolution).
- Both delays are measured on the reports that are not duplicates (a duplicate follows its main report), as
  median and 90th percentile (linear interpolation between ranks); reports still waiting are counted apart,
  never as a delay.
- **Category corrected**: the report's current category differs from the first one proposed (the model's, the
  app's or the staff member's); the first proposal is the `old_value` of its first category correction.
  **Model accuracy** is the share of reports classified by the model whose category agents left as proposed
  (the model proposed it when the "classified" event carries no `source`, or the report still says "model").
- **Address corrected**: an agent placed or moved the report (a `Correction` row of field "address").
- **Precision without review**: the reports the pipeline transmitted to their service with no agent looking
  first (auto_transmit: the model was at least as sure as `classifier.review_threshold` and nothing else needed
  a human), found by their "status" event to ``transmis`` by ``guichet`` with the note `AUTO_TRANSMIT_NOTE`; a
  report transmitted by an agent after review, a duplicate following its main report, or a category chosen in
  an app or by staff does not count. Each counts under the category the model proposed (its first "classified"
  event without `source`); it is **corrected** when an agent changed the category (a category `Correction`) and
  the report no longer has that category; one an agent confirmed, or nobody touched, counts as right.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from intake.backoffice.filters import CHANNELS, ReportFilter, apply
from intake.config import STATUS_CODES, Config
from intake.models import Contact, Correction, Event, Report, as_utc
from intake.reports.routing import AUTO_TRANSMIT_NOTE

SYSTEM_ACTORS = ("guichet", "citoyen")  # events by these are not a person's action
PRESETS = (7, 30, 90, 365)  # the period choices offered, in days ending today
DEFAULT_DAYS = 30
WEEKLY_AFTER_DAYS = 92  # longer periods are drawn per week rather than per day


@dataclass(frozen=True)
class Period:
    """Whole days in the town's time zone, both ends included."""

    since: date
    until: date
    preset: int | None = None  # the preset chosen (7, 30, ...), None for explicit dates

    @property
    def days(self) -> int:
        """Number of days covered."""
        return (self.until - self.since).days + 1

    def label(self) -> str:
        """French wording: "du 01/05/2026 au 30/05/2026"."""
        return f"du {self.since:%d/%m/%Y} au {self.until:%d/%m/%Y}"


def choose_period(
    args: Mapping[str, Any], flt: ReportFilter, *, today: date, default_days: int = DEFAULT_DAYS
) -> tuple[Period, list[str]]:
    """The period asked: `du`/`au` dates (already read into `flt`), else a preset `periode` in days, else the
    last `default_days` days. Returns it with French messages for what could not be used."""
    errors: list[str] = []
    raw = str(args.get("periode") or "").strip()
    preset: int | None = None
    if raw:
        if raw.isdigit() and int(raw) in PRESETS:
            preset = int(raw)
        else:
            errors.append(f"période inconnue ({raw[:20]}) : choisissez 7, 30, 90 ou 365 jours")
    if flt.since or flt.until:
        until = flt.until or today
        since = flt.since or until - timedelta(days=(preset or default_days) - 1)
        return Period(min(since, until), max(since, until)), errors
    days = preset or default_days
    return Period(today - timedelta(days=days - 1), today, preset=days if days in PRESETS else None), errors


def period_filter(flt: ReportFilter, period: Period, args: Mapping[str, Any]) -> ReportFilter:
    """The filter restricted to the period; duplicates are included unless `doublons` was asked explicitly."""
    duplicates = flt.duplicates if args.get("doublons") else "inclus"
    return replace(flt, since=period.since, until=period.until, duplicates=duplicates)


@dataclass(frozen=True)
class Volume:
    """One line of a volume table."""

    code: str | None
    label: str
    count: int
    duplicates: int


@dataclass(frozen=True)
class Delay:
    """How long something took, over the reports where it happened."""

    measured: int
    waiting: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class Accuracy:
    """The model's proposals of one category and how many agents changed."""

    code: str
    label: str
    proposed: int
    corrected: int

    @property
    def precision(self) -> float | None:
        """Share of the proposals kept by agents."""
        return (self.proposed - self.corrected) / self.proposed if self.proposed else None


@dataclass
class Statistics:
    """Everything the statistics page shows for one period and filter."""

    period: Period
    total: int = 0
    duplicates: int = 0
    by_channel: list[Volume] = field(default_factory=list)
    by_category: list[Volume] = field(default_factory=list)
    by_service: list[Volume] = field(default_factory=list)
    by_status: list[Volume] = field(default_factory=list)
    timeline: list[tuple[date, int]] = field(default_factory=list)
    weekly: bool = False
    first_action: Delay = Delay(0, 0, None, None)
    resolution: Delay = Delay(0, 0, None, None)
    category_corrected: int = 0
    model_proposed: int = 0
    model_corrected: int = 0
    address_corrected: int = 0
    without_position: int = 0
    accuracy: list[Accuracy] = field(default_factory=list)
    unreviewed: list[Accuracy] = field(default_factory=list)  # per category, reports transmitted without review
    review_threshold: float = 0.9  # classifier.review_threshold in force now
    recorded_thresholds: list[float] = field(default_factory=list)  # thresholds the transmissions recorded
    reporters: int = 0  # distinct citizens behind the main reports (anonymised ones not counted)
    frequent: list[tuple[str, int]] = field(default_factory=list)  # (keyed pseudonym, main reports), 2 or more

    @property
    def model_accuracy(self) -> float | None:
        """Share of the model's proposals that agents kept."""
        return (self.model_proposed - self.model_corrected) / self.model_proposed if self.model_proposed else None

    @property
    def unreviewed_total(self) -> Accuracy:
        """All the categories of `unreviewed` together."""
        return Accuracy(
            "", "Toutes catégories", sum(a.proposed for a in self.unreviewed), sum(a.corrected for a in self.unreviewed)
        )


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def utc(moment: datetime) -> datetime:
    """A stored moment as aware UTC (raw SQL buckets come back naive)."""
    return as_utc(moment)


def _delay(hours: list[float], population: int) -> Delay:
    return Delay(
        measured=len(hours),
        waiting=population - len(hours),
        median_hours=percentile(hours, 50),
        p90_hours=percentile(hours, 90),
    )


def _volumes(rows: Iterable[Any], labels: Mapping[Any, str], order: Iterable[str] | None = None) -> list[Volume]:
    """Volume lines from (code, count, duplicates) rows, biggest first (or in `order`)."""
    counts = {code: (int(n), int(d)) for code, n, d in rows}
    codes = (
        [c for c in order if c in counts]
        if order is not None
        else sorted(counts, key=lambda c: (-counts[c][0], labels.get(c, c or "")))
    )
    return [Volume(code, labels.get(code, code or "—"), *counts[code]) for code in codes]


class _Scoped:
    """Queries over the reports of the filter (and of the agent's service)."""

    def __init__(self, session: Session, config: Config, flt: ReportFilter, scope: str | None) -> None:
        self.session, self.config, self.flt, self.scope = session, config, flt, scope
        self.dialect = session.get_bind().dialect.name

    def select(self, *columns: Any) -> Select[Any]:
        return apply(select(*columns).select_from(Report), self.flt, self.config, service_scope=self.scope)

    def hours(self, start: Any, end: Any) -> Any:
        """SQL for the hours between two moments (SQLite and PostgreSQL), or None elsewhere."""
        if self.dialect == "sqlite":
            return (func.julianday(end) - func.julianday(start)) * 24.0
        if self.dialect == "postgresql":
            return func.extract("epoch", end - start) / 3600.0
        return None

    def delays(self, *conditions: Any) -> list[float]:
        """Hours from creation to the first event matching `conditions`, for every main report that has one."""
        first = func.min(Event.at)
        hours = self.hours(Report.created_at, first)
        columns = [hours] if hours is not None else [Report.created_at, first]
        query = (
            self.select(*columns)
            .join(Event, Event.report_id == Report.id)
            .where(Report.duplicate_of_id.is_(None), *conditions)
            .group_by(Report.id, Report.created_at)
        )
        if hours is not None:
            return [max(0.0, float(h)) for (h,) in self.session.execute(query)]
        return [max(0.0, (utc(done) - utc(at)).total_seconds() / 3600) for at, done in self.session.execute(query)]

    def hourly(self) -> list[tuple[datetime, int]]:
        """Reports per UTC hour (the town's days are made of them in Python, whatever its time zone)."""
        if self.dialect == "sqlite":
            bucket: Any = func.substr(Report.created_at, 1, 13)  # stored as "YYYY-MM-DD HH:MM:SS…" in UTC
        elif self.dialect == "postgresql":
            bucket = func.to_char(func.timezone("UTC", Report.created_at), "YYYY-MM-DD HH24")
        else:
            return [
                (utc(at).replace(minute=0, second=0, microsecond=0), 1)
                for (at,) in self.session.execute(self.select(Report.created_at))
            ]
        rows = self.session.execute(self.select(bucket, func.count()).group_by(bucket))
        return [(datetime.strptime(str(hour)[:13], "%Y-%m-%d %H").replace(tzinfo=UTC), int(n)) for hour, n in rows]


def compute(
    session: Session,
    config: Config,
    flt: ReportFilter,
    period: Period,
    *,
    service_scope: str | None = None,
    pseudonym: Callable[[str | None], str | None] | None = None,
) -> Statistics:
    """The statistics of the reports matching `flt` (already restricted to `period`, see `period_filter`).

    Counting, grouping and delays run in SQL; only per-hour counts and one number per measured report reach
    Python (a year of 100,000 reports stays well under a second or two).
    """
    stats = Statistics(period=period, review_threshold=config.classifier.review_threshold)
    q = _Scoped(session, config, flt, service_scope)
    dup = Report.duplicate_of_id
    total, duplicates, unplaced = session.execute(
        q.select(func.count(), func.count(dup), func.count(case((Report.lat.is_(None), 1))))
    ).one()
    if not total:
        return stats
    stats.total, stats.duplicates, stats.without_position = int(total), int(duplicates), int(unplaced)
    category_labels: dict[str | None, str] = {c.code: c.label for c in config.categories}
    category_labels[None] = "Sans catégorie"
    service_labels: dict[str | None, str] = {s.code: s.name for s in config.services}
    service_labels[None] = "Sans service"
    status_labels = {c: config.statuses.label(c) for c in STATUS_CODES}

    def volumes(column: Any, labels: Mapping[Any, str], order: Iterable[str] | None = None) -> list[Volume]:
        return _volumes(
            session.execute(q.select(column, func.count(), func.count(dup)).group_by(column)), labels, order
        )

    stats.by_channel = volumes(Report.channel, dict(CHANNELS))
    stats.by_category = volumes(Report.category, category_labels)
    stats.by_service = volumes(Report.service, service_labels)
    stats.by_status = volumes(Report.status, status_labels, STATUS_CODES)
    stats.weekly, stats.timeline = _timeline(config, period, q.hourly())

    main = stats.total - stats.duplicates
    stats.first_action = _delay(q.delays(Event.actor.not_in(SYSTEM_ACTORS)), main)
    stats.resolution = _delay(q.delays(Event.action == "status", Event.detail["to"].as_string() == "resolu"), main)
    _corrections(q, stats, category_labels)
    _unreviewed(q, stats, category_labels)
    _reporters(session, q, stats, pseudonym)
    return stats


FREQUENT = 10  # the most frequent reporters listed


def _reporters(
    session: Session, q: _Scoped, stats: Statistics, pseudonym: Callable[[str | None], str | None] | None
) -> None:
    """How many citizens reported, and who reported most, as keyed pseudonyms (never a name, email or phone)."""
    count = func.count()
    rows = session.execute(
        q.select(Report.author_id, count)
        .where(Report.author_id.is_not(None), Report.duplicate_of_id.is_(None))
        .group_by(Report.author_id)
    ).all()
    stats.reporters = len(rows)
    if pseudonym is None:
        return
    top = sorted(((n, a) for a, n in rows if n >= 2), key=lambda t: (-t[0], t[1]))[:FREQUENT]
    contacts = {
        cid: email or phone
        for cid, email, phone in session.execute(
            select(Contact.id, Contact.email, Contact.phone).where(Contact.id.in_([a for _, a in top] or [-1]))
        )
    }
    stats.frequent = [(alias, n) for n, a in top if (alias := pseudonym(contacts.get(a)))]


def _corrections(q: _Scoped, stats: Statistics, labels: Mapping[str | None, str]) -> None:
    """Categories and addresses agents changed, and the model's proposals they kept.

    A report still marked "model" was classified by the model; one an agent re-classified says "agent" now, and
    its "classified" event (no `source`: the model's) tells. Only corrected reports need that event.
    """
    proposed: Counter[str] = Counter(
        {
            category or "": int(n)
            for category, n in q.session.execute(
                q.select(Report.category, func.count())
                .where(Report.category_source == "model")
                .group_by(Report.category)
            )
        }
    )
    by_model = exists().where(
        Event.report_id == Report.id, Event.action == "classified", Event.detail["source"].as_string().is_(None)
    )
    first: dict[int, tuple[str | None, str | None, str, bool]] = {}  # report → first proposal, now, source, model
    moved: set[int] = set()
    for rid, kind, old, current, source, model in q.session.execute(
        q.select(
            Correction.report_id,
            Correction.field,
            Correction.old_value,
            Report.category,
            Report.category_source,
            case((by_model, 1), else_=0),
        )
        .join(Correction, Correction.report_id == Report.id)
        .order_by(Correction.at, Correction.id)
    ):
        if kind == "category":
            first.setdefault(rid, (old, current, source, bool(model)))
        elif kind == "address":
            moved.add(rid)
    corrected: Counter[str] = Counter()
    for old, current, source, model in first.values():
        changed = old != current
        stats.category_corrected += changed
        if source == "model" or model:
            proposed[current or ""] -= source == "model"  # counted under its current category: move it
            proposed[old or ""] += 1
            corrected[old or ""] += changed
            stats.model_corrected += changed
    stats.model_proposed = sum(proposed.values())
    stats.address_corrected = len(moved)
    order = {c.code: i for i, c in enumerate(q.config.categories)}
    stats.accuracy = [
        Accuracy(code, labels.get(code or None, code or "Sans catégorie"), proposed[code], corrected[code])
        for code in sorted((c for c in proposed if proposed[c] > 0), key=lambda c: (order.get(c, len(order)), c))
    ]


def _auto_transmission(report_id: Any) -> Any:
    """SQL condition on `Event`: the automatic transmission of the report `report_id` (see the module's notes)."""
    return and_(
        Event.report_id == report_id,
        Event.action == "status",
        Event.actor == "guichet",
        Event.detail["to"].as_string() == "transmis",
        Event.detail["note"].as_string() == AUTO_TRANSMIT_NOTE,
    )


def _unreviewed(q: _Scoped, stats: Statistics, labels: Mapping[str | None, str]) -> None:
    """Per category the model proposed, the reports transmitted without review and how many agents corrected."""
    proposal = (
        select(Event.detail["category"].as_string())
        .where(Event.report_id == Report.id, Event.action == "classified", Event.detail["source"].as_string().is_(None))
        .order_by(Event.id)
        .limit(1)
        .correlate(Report)
        .scalar_subquery()
    )
    changed = exists().where(Correction.report_id == Report.id, Correction.field == "category")
    wrong = case((and_(changed, or_(Report.category.is_(None), Report.category != proposal)), 1), else_=0)
    rows = (
        q.select(proposal.label("proposed"), wrong.label("wrong"))
        .where(exists().where(_auto_transmission(Report.id)))
        .subquery()
    )
    counts = q.session.execute(
        select(rows.c.proposed, func.count(), func.sum(rows.c.wrong))
        .where(rows.c.proposed.is_not(None))
        .group_by(rows.c.proposed)
    ).all()
    order = {c.code: i for i, c in enumerate(q.config.categories)}
    stats.unreviewed = [
        Accuracy(code, labels.get(code, code), int(n), int(k or 0))
        for code, n, k in sorted(counts, key=lambda r: (order.get(r[0], len(order)), r[0]))
    ]
    threshold = Event.detail["threshold"].as_float()
    recorded = q.session.execute(
        q.select(threshold).join(Event, _auto_transmission(Report.id)).where(threshold.is_not(None)).distinct()
    )
    stats.recorded_thresholds = sorted(float(t) for (t,) in recorded)


def _timeline(
    config: Config, period: Period, hourly: Iterable[tuple[datetime, int]]
) -> tuple[bool, list[tuple[date, int]]]:
    """Reports per local day (per week, from Monday, for long periods), every day or week of the period listed."""
    weekly = period.days > WEEKLY_AFTER_DAYS

    def bucket(day: date) -> date:
        return day - timedelta(days=day.weekday()) if weekly else day

    counts: dict[date, int] = defaultdict(int)
    for hour, n in hourly:
        counts[bucket(config.town.local(hour).date())] += n
    out, day = [], bucket(period.since)
    while day <= period.until:
        out.append((day, counts.get(day, 0)))
        day += timedelta(days=7 if weekly else 1)
    return weekly, out


def hours_label(hours: float | None) -> str:
    """A delay in French: "45 min", "3 h 20", "2 j 4 h"; "—" when there is none."""
    if hours is None:
        return "—"
    minutes = round(hours * 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        h, m = divmod(minutes, 60)
        return f"{h} h {m:02d}" if m else f"{h} h"
    d, h = divmod(round(hours), 24)
    return f"{d} j {h} h" if h else f"{d} j"
