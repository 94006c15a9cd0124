"""The filters agents apply to reports (queue, map, exports, statistics): parsed from a URL, applied in SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, false, func, or_, select

from intake.channels.registry import LABELS
from intake.config import STATUS_CODES, Config
from intake.models import Attachment, Report

DuplicateMode = Literal["masques", "inclus", "seuls"]
CHANNELS = LABELS  # every channel a report can come from, with its French label (the channels registry)
OPEN_STATUSES = ("nouveau", "a_qualifier", "transmis", "en_cours")
MAX_TEXT = 200
_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class ReportFilter:
    """What an agent asked to see. Empty tuples mean "any"."""

    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    to_review: bool = False
    with_photo: bool = False
    open_only: bool = False
    duplicates: DuplicateMode = "masques"
    text: str = ""
    numbers: tuple[str, ...] = ()  # tracking numbers ticked in the queue (actions on a selection)
    errors: tuple[str, ...] = field(default=(), compare=False)

    def args(self) -> dict[str, Any]:
        """The URL query arguments that give back this filter (for links, pagination, exports)."""
        out: dict[str, Any] = {}
        for key, values in (
            ("statut", self.statuses),
            ("categorie", self.categories),
            ("service", self.services),
            ("canal", self.channels),
            ("zone", self.zones),
        ):
            if values:
                out[key] = list(values)
        if self.since:
            out["du"] = self.since.isoformat()
        if self.until:
            out["au"] = self.until.isoformat()
        for key, on in (("a_qualifier", self.to_review), ("photo", self.with_photo), ("ouverts", self.open_only)):
            if on:
                out[key] = "1"
        if self.duplicates != "masques":
            out["doublons"] = self.duplicates
        if self.text:
            out["q"] = self.text
        if self.numbers:
            out["n"] = list(self.numbers)
        return out

    @property
    def active(self) -> bool:
        """Whether anything beyond the defaults is asked."""
        return bool(self.args())


def _many(args: Mapping[str, Any], key: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    values = getlist(key) if getlist else ([args[key]] if key in args else [])
    return [v.strip() for raw in values for v in str(raw).split(",") if v.strip()][:50]


def _day(args: Mapping[str, Any], key: str, label: str, errors: list[str]) -> date | None:
    raw = str(args.get(key) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        errors.append(f"date {label} illisible ({raw[:20]}) : format AAAA-MM-JJ attendu")
        return None


def parse_filter(args: Mapping[str, Any], config: Config) -> ReportFilter:
    """Read the filter from query arguments; unknown values are dropped with a French message in `errors`."""
    errors: list[str] = []

    def known(key: str, allowed: set[str], label: str) -> tuple[str, ...]:
        values = _many(args, key)
        bad = [v for v in values if v not in allowed]
        if bad:
            errors.append(f"{label} inconnu(e) : {', '.join(b[:40] for b in bad)}")
        return tuple(dict.fromkeys(v for v in values if v in allowed))

    since, until = _day(args, "du", "de début", errors), _day(args, "au", "de fin", errors)
    if since and until and since > until:
        errors.append("la date de début est après la date de fin")
        since, until = until, since
    duplicates = str(args.get("doublons") or "masques")
    if duplicates not in ("masques", "inclus", "seuls"):
        errors.append("choix des doublons inconnu")
        duplicates = "masques"
    zones = _many(args, "zone")
    return ReportFilter(
        statuses=known("statut", set(STATUS_CODES), "statut"),
        categories=known("categorie", {c.code for c in config.categories}, "catégorie"),
        services=known("service", {s.code for s in config.services}, "service"),
        channels=known("canal", set(CHANNELS), "canal"),
        zones=tuple(z[:60] for z in zones),
        since=since,
        until=until,
        to_review=str(args.get("a_qualifier") or "") in ("1", "on", "oui"),
        with_photo=str(args.get("photo") or "") in ("1", "on", "oui"),
        open_only=str(args.get("ouverts") or "") in ("1", "on", "oui"),
        duplicates=duplicates,  # type: ignore[arg-type]
        text=" ".join(str(args.get("q") or "").split())[:MAX_TEXT],
        numbers=tuple(dict.fromkeys(n[:16] for n in _many(args, "n"))),
        errors=tuple(errors),
    )


def _start(day: date, config: Config) -> datetime:
    # in UTC: SQLite stores UTC wall times and would compare a Paris wall time as if it were UTC
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(config.town.timezone)).astimezone(UTC)


def apply(query: _Q, flt: ReportFilter, config: Config, *, service_scope: str | None = None) -> _Q:
    """Add the filter's conditions to a query over Report; `service_scope` limits an agent to their service."""
    conditions: list[Any] = []
    if service_scope is not None:
        conditions.append(Report.service == service_scope)
    if flt.statuses:
        conditions.append(Report.status.in_(flt.statuses))
    if flt.open_only:
        conditions.append(Report.status.in_(OPEN_STATUSES))
    if flt.to_review:
        conditions.append(Report.status == "a_qualifier")
    if flt.categories:
        conditions.append(Report.category.in_(flt.categories))
    if flt.services:
        conditions.append(Report.service.in_(flt.services))
    if flt.channels:
        conditions.append(Report.channel.in_(flt.channels))
    if flt.zones:
        conditions.append(Report.zone.in_(flt.zones))
    if flt.since:
        conditions.append(Report.created_at >= _start(flt.since, config))
    if flt.until:
        conditions.append(Report.created_at < _start(flt.until + timedelta(days=1), config))
    if flt.with_photo:
        conditions.append(exists().where(Attachment.report_id == Report.id, Attachment.is_image.is_(True)))
    if flt.duplicates == "masques":
        conditions.append(Report.duplicate_of_id.is_(None))
    elif flt.duplicates == "seuls":
        conditions.append(Report.duplicate_of_id.is_not(None))
    if flt.text:
        conditions.append(_text_condition(flt.text))
    if flt.numbers:
        conditions.append(Report.tracking_number.in_(flt.numbers))
    return query.where(and_(*conditions)) if conditions else query


def _text_condition(text: str) -> Any:
    """Every word in the tracking number, subject, description or address (case-insensitive)."""
    words = [w for w in text.split() if w][:8]
    if not words:
        return false()
    per_word = []
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        per_word.append(
            or_(
                *(
                    func.lower(col).like(func.lower(pattern), escape="\\")
                    for col in (
                        Report.tracking_number,
                        Report.subject,
                        Report.description,
                        Report.address_label,
                        Report.address_voie,
                    )
                )
            )
        )
    return and_(*per_word)


def select_reports(flt: ReportFilter, config: Config, *, service_scope: str | None = None) -> Select[Any]:
    """SELECT Report filtered, newest first (callers add paging)."""
    return apply(select(Report), flt, config, service_scope=service_scope).order_by(Report.id.desc())


def without(flt: ReportFilter, **changes: Any) -> ReportFilter:
    """A copy with some fields changed (e.g. the per-status counts ignore the status filter)."""
    return replace(flt, **changes)
