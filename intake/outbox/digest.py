"""Daily digest to the referents of "digest" services: the reports transmitted to them on one day."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.models import Event, Report, as_utc, utcnow
from intake.outbox.enqueue import enqueue
from intake.outbox.notify import Mailer, template
from intake.outbox.referents import DIGEST_EVENT, outbox_kind, report_values
from intake.outbox.send import send_outbox_row

log = logging.getLogger(__name__)


@dataclass
class DigestRun:
    """What one run did: the outbox rows it queued and how many left now."""

    day: date
    queued: list[int] = field(default_factory=list)
    sent: int = 0
    deferred: list[int] = field(default_factory=list)  # not sent now: the retry job or the sweeper sends them


def digest_services(config: Config) -> list[str]:
    """Codes of the services whose referents get a daily digest."""
    return [s.code for s in config.services if s.notify == "digest" and s.emails]


def day_bounds(config: Config, day: date) -> tuple[datetime, datetime]:
    """The town's local day as a UTC interval [start, end)."""
    tz = ZoneInfo(config.town.timezone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def due_day(config: Config, now: datetime | None = None) -> date | None:
    """Yesterday (town time) once today's digest_time has passed, when some service takes digests; else None."""
    if not digest_services(config):
        return None
    local = config.town.local(now or utcnow())
    hour, minute = (int(x) for x in config.routing.digest_time.split(":"))
    if local.time() < time(hour, minute):
        return None
    return local.date() - timedelta(days=1)


def reports_for(session: Session, config: Config, service: str, day: date) -> list[Report]:
    """Reports marked for `service`'s digest during `day` and still routed to it, in order of arrival."""
    start, end = day_bounds(config, day)
    rows = session.execute(
        select(Event.report_id, Event.detail, Event.at).where(
            Event.action == DIGEST_EVENT, Event.at >= start - timedelta(days=1), Event.at < end + timedelta(days=1)
        )
    ).all()
    # The window is widened then checked in Python: SQLite hands back naive UTC, PostgreSQL aware values.
    ids = sorted(
        {rid for rid, detail, at in rows if (detail or {}).get("service") == service and start <= as_utc(at) < end}
    )
    if not ids:
        return []
    reports = session.execute(select(Report).where(Report.id.in_(ids)).order_by(Report.id)).scalars().all()
    return [r for r in reports if r.service == service]


def build_digests(session: Session, config: Config, day: date) -> list[int]:
    """Queue one digest per referent of each digest service that got reports on `day`; returns new outbox ids.

    Idempotent: a (service, day, referent) digest exists once (unique outbox row without a report).
    """
    ids: list[int] = []
    for code in digest_services(config):
        service = config.service(code)
        assert service is not None
        reports = reports_for(session, config, code, day)
        if not reports:
            continue
        values = {
            "service": service.name,
            "day": day.strftime("%d/%m/%Y"),
            "reports": [report_values(config, r) for r in reports],
        }
        subject = " ".join(template(config.templates.digest_subject).render(values).split())[:500]
        body = template(config.templates.digest_body).render(values)
        kind = outbox_kind("digest", code, f":{day.isoformat()}")
        for recipient in dict.fromkeys(e.strip() for e in service.emails if e.strip()):
            try:
                with session.begin_nested():  # another host queuing the same digest at once: theirs stands
                    row_id = enqueue(
                        session,
                        config,
                        report_id=None,
                        kind=kind,
                        channel="email",
                        recipient=recipient,
                        subject=subject,
                        body=body,
                    )
            except IntegrityError:
                row_id = None
            if row_id is not None:
                ids.append(row_id)
    return ids


def run_digests(
    factory: sessionmaker[Session],
    config: Config,
    mailer: Mailer,
    day: date,
    *,
    on_failure: Callable[[int], None] | None = None,
) -> DigestRun:
    """Queue the digests of `day` in one transaction, then send them; a failed send is handed to `on_failure`."""
    run = DigestRun(day)
    with factory() as session, session.begin():
        run.queued = build_digests(session, config, day)
    for outbox_id in run.queued:
        try:
            status = send_outbox_row(factory, config, outbox_id, mailer)
        except Exception as exc:  # transient (SMTP down): the row stays pending for a retry
            log.warning("digest %s not sent now (%s)", outbox_id, exc)
            status = "pending"
        if status == "sent":
            run.sent += 1
        else:
            run.deferred.append(outbox_id)
            if on_failure is not None and status == "pending":
                on_failure(outbox_id)
    return run


def parse_day(value: str | None, config: Config) -> date:
    """A YYYY-MM-DD day, or yesterday in the town's time zone; ValueError (French) when malformed."""
    if not value:
        return config.town.local(utcnow()).date() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"jour invalide : {value!r} (attendu AAAA-MM-JJ, par exemple 2026-03-14)") from None
