"""Intake health: for each door (mailbox, Twilio number, app, back office) when it last worked, its backlog, its
failures and whether it has been silent for unusually long; the work queue; outgoing notifications; retrying.

The silence rule (also shown on the page): time is counted on a clock that stops during quiet hours and week-ends
(``health.quiet_hours``, ``health.quiet_weekends``, town time). The door's usual gap is the ``health.percentile``
of the counted gaps between its consecutive messages over the ``health.history_days`` before its last message
(before the last one, not before now: a door dead for months still has a history to compare with). The door is
silent when the counted time since its last message exceeds that gap and ``health.floor_hours``. With fewer than
``health.min_gaps`` gaps the rhythm is unknown and the threshold is the counted time of the whole history. A door
that never received anything is "jamais utilisé", not an alarm; doors fed by staff are not watched.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config, Health
from intake.models import AuditLog, ChannelState, MailboxState, Outbox, RawMessage, Report, as_utc, utcnow
from intake.pipeline.spool import broken, spool_folder, waiting

log = logging.getLogger(__name__)
STAFF_SOURCE = "back-office"
STAFF_CHANNELS = ("telephone", "accueil", "courrier")
RETRYABLE = ("failed", "held")
BACKLOG = ("pending", "processing")
OPEN = (*BACKLOG, *RETRYABLE)  # the statuses counted per door
HISTORY_ROWS = 5_000  # a very busy door: its 5,000 latest gaps are plenty for a percentile


def aware(moment: datetime | None) -> datetime | None:
    """A stored moment as aware UTC (None stays None)."""
    return None if moment is None else as_utc(moment)


@dataclass(frozen=True)
class Clock:
    """Counts seconds outside quiet hours and (optionally) week-ends, in the town's time zone."""

    tz: ZoneInfo
    quiet: tuple[time, time] | None
    weekends: bool

    @classmethod
    def of(cls, config: Config) -> Clock:
        """The clock of the configured rule."""
        rule: Health = config.health
        quiet = None
        if rule.quiet_hours:
            start, end = (time.fromisoformat(part) for part in rule.quiet_hours.split("-"))
            quiet = (start, end)
        return cls(ZoneInfo(config.town.timezone), quiet, rule.quiet_weekends)

    def _windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        return _day_windows(self.tz, self.quiet, self.weekends, day)

    def seconds(self, start: datetime, end: datetime) -> float:
        """Counted seconds between two moments (0 when end is not after start)."""
        if end <= start:
            return 0.0
        if self.quiet is None and not self.weekends:
            return (end - start).total_seconds()
        total = 0.0
        day = start.astimezone(self.tz).date()
        while day <= end.astimezone(self.tz).date():
            for a, b in self._windows(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


@lru_cache(maxsize=4096)
def _day_windows(
    tz: ZoneInfo, quiet: tuple[time, time] | None, weekends: bool, day: date
) -> tuple[tuple[datetime, datetime], ...]:
    """The counted spans of one local day, in UTC (converted one by one, so DST days are right)."""
    if weekends and day.weekday() >= 5:
        return ()
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    if quiet is None:
        spans = [(start, end)]
    else:
        q_from, q_until = (datetime.combine(day, t, tz) for t in quiet)
        spans = [(q_until, q_from)] if q_from > q_until else [(start, q_from), (q_until, end)]
    return tuple((a.astimezone(UTC), b.astimezone(UTC)) for a, b in spans if b > a)


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (like numpy's default) of a non-empty list."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Silence:
    """How long a door has been quiet, against its own usual rhythm."""

    state: str  # jamais | normal | alerte | non_surveille
    last: datetime | None = None
    counted: float = 0.0  # counted seconds since the last message
    threshold: float | None = None
    gaps: int = 0
    basis: str = ""  # French: how the threshold was found


def silence(clock: Clock, rule: Health, times: list[datetime], now: datetime, *, watched: bool = True) -> Silence:
    """Judge a door from the times of its messages (ascending, the last one included)."""
    if not times:
        return Silence("jamais")
    last = times[-1]
    counted = clock.seconds(last, now)
    if not watched:
        return Silence("non_surveille", last, counted)
    start = last - timedelta(days=rule.history_days)
    recent = [t for t in times if t >= start]
    gaps = [clock.seconds(a, b) for a, b in zip(recent, recent[1:], strict=False)]
    floor = rule.floor_hours * 3600
    if len(gaps) >= rule.min_gaps:
        usual = percentile(gaps, rule.percentile)
        basis = f"{rule.percentile:g}e centile de {len(gaps)} intervalles"
    else:
        usual = clock.seconds(start, last)
        basis = f"rythme inconnu ({len(gaps)} intervalle(s)) : toute la période de {rule.history_days} j"
    if usual < floor:
        usual, basis = floor, f"plancher de {rule.floor_hours:g} h ({basis})"
    return Silence("alerte" if counted > usual else "normal", last, counted, usual, len(gaps), basis)


@dataclass
class Door:
    """One way messages come in, with what the page says about it."""

    key: str
    label: str
    mode: str
    channels: tuple[str, ...]
    source: str
    watched: bool = True
    poll_interval: int | None = None  # seconds, for polled doors
    state_table: str | None = None  # mailbox | channel
    state_name: str | None = None
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    poll_late: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # open statuses only (OPEN)
    oldest_pending: datetime | None = None
    silence: Silence = Silence("jamais")
    key_collisions: int = 0  # messages stored under a key already seen with other content (rawstore.store_raw)

    @property
    def backlog(self) -> int:
        """Messages stored but not processed yet."""
        return self.counts.get("pending", 0) + self.counts.get("processing", 0)


def configured_doors(config: Config) -> list[Door]:
    """The doors config.yaml opens, in the order a person reads them."""
    doors = [
        Door(
            f"email:{m.name}",
            f"Boîte mail « {m.name} »" + (" (accueil)" if m.role == "reception" else ""),
            f"relève IMAP toutes les {m.poll_interval} s" + (" et IDLE" if m.idle else ""),
            ("email",),
            m.name,
            poll_interval=m.poll_interval,
            state_table="mailbox",
            state_name=m.name,
        )
        for m in config.mailboxes
    ]
    tw = config.twilio
    if tw.enabled:
        mode = f"relève API Twilio toutes les {tw.poll_interval} s" if tw.poll else "webhook Twilio"
        polled: dict[str, Any] = {}
        if tw.poll:
            from intake.channels.twilio_poll import state_name

            polled = {"poll_interval": tw.poll_interval, "state_table": "channel", "state_name": state_name(tw)}
        for number in tw.numbers:
            doors.append(
                Door(
                    f"sms:{number}", f"Numéro {number} (SMS, messages vocaux)", mode, ("sms", "voice"), number, **polled
                )
            )
        if tw.whatsapp_number:
            wa = tw.whatsapp_number if tw.whatsapp_number.startswith("whatsapp:") else f"whatsapp:{tw.whatsapp_number}"
            doors.append(Door(f"sms:{wa}", f"WhatsApp {wa.removeprefix('whatsapp:')}", mode, ("sms",), wa, **polled))
    if config.transcription.engine != "none":  # voicemails' transcripts, stored under their own source
        from intake.channels.transcript_poll import SOURCE

        mode = (
            "webhook Conversational Intelligence et relève"
            if config.transcription.engine == "twilio"
            else f"moteur {config.transcription.engine}"
        )
        doors.append(
            Door("voice:transcription", "Transcriptions des messages vocaux", mode, ("voice",), SOURCE, watched=False)
        )
    doors += [
        Door(f"open311:{k.name}", f"Application « {k.name} »", "API Open311", ("open311",), k.name)
        for k in config.open311.api_keys
    ]
    doors.append(
        Door(
            "staff",
            "Saisie par les agents (téléphone, accueil, courrier)",
            "formulaire du back office",
            STAFF_CHANNELS,
            STAFF_SOURCE,
            watched=False,
        )
    )
    return doors


@dataclass
class Sending:
    """Outgoing notifications of one channel (email or SMS): a door too, the other way."""

    channel: str
    counts: dict[str, int] = field(default_factory=dict)
    oldest_pending: datetime | None = None
    last_sent_at: datetime | None = None


@dataclass
class Snapshot:
    """Everything the health page shows, read in one short session."""

    now: datetime
    doors: list[Door]
    failed: list[Any]
    sendings: list[Sending]
    send_problems: list[Any]
    oldest_pending: datetime | None
    stale_claims: int
    stuck: int  # pending rows the sweeper gave up on (attempts at the maximum)
    spooled: int = 0  # received while the database was down, waiting for the next sweep (pipeline/spool.py)
    spool_broken: int = 0  # spooled files that could not be read back, moved aside for an administrator

    @property
    def key_collisions(self) -> int:
        """Messages kept apart although their Message-ID, SID or token had been seen with other content."""
        return sum(door.key_collisions for door in self.doors)


def _owner(doors: list[Door], channel: str, source: str) -> Door:
    for door in doors:
        if channel in door.channels and source == door.source:
            return door
    door = Door(
        f"{channel}:{source}",
        f"{channel} — {source}",
        "source absente de la configuration",
        (channel,),
        source,
        watched=False,
    )
    doors.append(door)
    return door


def collect(
    factory: sessionmaker[Session], config: Config, *, now: datetime | None = None, failed_limit: int = 100
) -> Snapshot:
    """Read the state of every door, the backlog, the failures and the outgoing notifications."""
    now = (now or utcnow()).astimezone(UTC)
    clock, doors = Clock.of(config), configured_doors(config)
    stale = now - timedelta(seconds=config.worker.stale_claim_seconds)
    with factory() as session:
        mailboxes = {s.name: s for s in session.execute(select(MailboxState)).scalars()}
        channels = {s.name: s for s in session.execute(select(ChannelState)).scalars()}
        # Two cheap queries rather than one grouping of every row by status: the open statuses are few and
        # indexed, and the latest arrival per (channel, source) walks the unique key's index in order.
        last: dict[str, datetime] = {}
        for channel, source, newest_at in session.execute(
            select(RawMessage.channel, RawMessage.source, func.max(RawMessage.received_at)).group_by(
                RawMessage.channel, RawMessage.source
            )
        ).all():
            door, newest = _owner(doors, channel, source), aware(newest_at)
            if newest is not None:
                last[door.key] = max(newest, last.get(door.key, newest))
        for channel, source, status, count, first_at in session.execute(
            select(
                RawMessage.channel, RawMessage.source, RawMessage.status, func.count(), func.min(RawMessage.received_at)
            )
            .where(RawMessage.status.in_(OPEN))
            .group_by(RawMessage.channel, RawMessage.source, RawMessage.status)
        ).all():
            door, first = _owner(doors, channel, source), aware(first_at)
            door.counts[status] = door.counts.get(status, 0) + count
            if status in BACKLOG and first is not None:
                door.oldest_pending = min(first, door.oldest_pending or first)
        for channel, source, count in session.execute(
            select(RawMessage.channel, RawMessage.source, func.count())
            .where(RawMessage.key_collision)
            .group_by(RawMessage.channel, RawMessage.source)
        ).all():
            _owner(doors, channel, source).key_collisions += count
        for door in doors:
            state = (mailboxes if door.state_table == "mailbox" else channels).get(door.state_name or "")
            if door.state_table and state is not None:
                door.last_poll_at, door.last_error = aware(state.last_poll_at), state.last_error
                door.last_success_at = aware(state.last_success_at)
            if door.poll_interval:
                late_after = timedelta(seconds=max(3 * door.poll_interval, 300))
                door.poll_late = door.last_success_at is None or now - door.last_success_at > late_after
            times: list[datetime] = []
            if door.key in last:
                since = last[door.key] - timedelta(days=config.health.history_days)
                found = session.execute(
                    select(RawMessage.received_at)
                    .where(
                        RawMessage.channel.in_(door.channels),
                        RawMessage.source == door.source,
                        RawMessage.received_at >= since,
                    )
                    .order_by(RawMessage.received_at.desc())
                    .limit(HISTORY_ROWS)
                ).scalars()
                times = sorted(t for t in map(aware, found) if t is not None)
            door.silence = silence(clock, config.health, times, now, watched=door.watched)
        failed = session.execute(
            select(
                RawMessage.id,
                RawMessage.channel,
                RawMessage.source,
                RawMessage.received_at,
                RawMessage.status,
                RawMessage.error,
                RawMessage.attempts,
                RawMessage.processed_at,
            )
            .where(_retryable(config.worker.max_attempts))
            .order_by(RawMessage.id.desc())
            .limit(failed_limit)
        ).all()
        stale_claims = session.execute(
            select(func.count())
            .select_from(RawMessage)
            .where(RawMessage.status == "processing", RawMessage.claimed_at < stale)
        ).scalar_one()
        stuck = session.execute(
            select(func.count())
            .select_from(RawMessage)
            .where(RawMessage.status == "pending", RawMessage.attempts >= config.worker.max_attempts)
        ).scalar_one()
        sendings = _sendings(session)
        problems = session.execute(
            select(
                Outbox.id,
                Report.tracking_number,
                Outbox.kind,
                Outbox.channel,
                Outbox.recipient,
                Outbox.status,
                Outbox.reason,
                Outbox.attempts,
                Outbox.created_at,
            )
            .outerjoin(Report, Report.id == Outbox.report_id)
            .where(Outbox.status.in_(("failed", "suppressed")), Outbox.created_at >= now - timedelta(days=30))
            .order_by(Outbox.id.desc())
            .limit(50)
        ).all()
    pending = [d.oldest_pending for d in doors if d.oldest_pending is not None]
    folder = spool_folder(config)
    return Snapshot(
        now,
        doors,
        list(failed),
        sendings,
        list(problems),
        min(pending, default=None),
        stale_claims,
        stuck,
        spooled=waiting(folder),
        spool_broken=broken(folder),
    )


def _sendings(session: Session) -> list[Sending]:
    by_channel: dict[str, Sending] = {c: Sending(c) for c in ("email", "sms")}
    for channel, status, count, first, newest_sent in session.execute(
        select(
            Outbox.channel, Outbox.status, func.count(), func.min(Outbox.created_at), func.max(Outbox.sent_at)
        ).group_by(Outbox.channel, Outbox.status)
    ).all():
        sending = by_channel.setdefault(channel, Sending(channel))
        sending.counts[status] = count
        if status == "pending":
            sending.oldest_pending = aware(first)
        if status == "sent":
            sending.last_sent_at = aware(newest_sent)
    return list(by_channel.values())


@dataclass
class QueueInfo:
    """The rq queue as Redis sees it; `error` says why it could not be read."""

    configured: bool
    error: str | None = None
    length: int | None = None
    started: int | None = None
    failed_jobs: int | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)


def queue_info(config: Config, *, timeout: float = 2.0) -> QueueInfo:
    """Length of the work queue and the workers seen; never raises (Redis down is something to show)."""
    if not config.redis_url:
        return QueueInfo(False)
    from redis import Redis
    from rq import Worker

    from intake.runtime.queue import get_queue

    redis = None
    try:
        redis = Redis.from_url(config.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
        queue = get_queue(redis)
        info = QueueInfo(
            True,
            length=queue.count,
            started=queue.started_job_registry.count,
            failed_jobs=queue.failed_job_registry.count,
        )
        for worker in Worker.all(connection=redis):
            info.workers.append(
                {
                    "name": worker.name,
                    "state": str(worker.get_state()),
                    "heartbeat": aware(worker.last_heartbeat),
                    "queues": ", ".join(worker.queue_names()),
                    "job": worker.get_current_job_id(),
                }
            )
        info.workers.sort(key=lambda w: w["name"])
        return info
    except Exception as exc:  # any failure of Redis is shown, never a 500
        log.warning("health page: Redis not readable: %s", exc)
        return QueueInfo(True, error=f"{type(exc).__name__} : {exc}"[:300])
    finally:
        if redis is not None:
            redis.close()


@dataclass(frozen=True)
class RetryOutcome:
    """What a retry did: queued | pending (Redis down) | busy (database) | processed | discarded | held | failed |
    skipped | refused | missing."""

    raw_id: int
    status: str
    tracking_number: str | None = None
    created: bool = False
    error: str | None = None


def _retryable(max_attempts: int) -> Any:
    """Failed or held messages, and pending ones the sweeper gave up on."""
    return RawMessage.status.in_(RETRYABLE) | ((RawMessage.status == "pending") & (RawMessage.attempts >= max_attempts))


def reset_for_retry(factory: sessionmaker[Session], raw_id: int, *, max_attempts: int) -> str | None:
    """Put a failed or held message, or a pending one the sweeper gave up on, back to pending with no attempts.

    Returns the status it had, or None when it does not exist or is not retryable (processed, in progress).
    """
    with factory() as session, session.begin():
        status = session.execute(select(RawMessage.status).where(RawMessage.id == raw_id)).scalar_one_or_none()
        done = session.execute(
            update(RawMessage)
            .where(RawMessage.id == raw_id, _retryable(max_attempts))
            .values(status="pending", attempts=0, claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
    return status if getattr(done, "rowcount", 0) else None


def retry_message(res: Any, raw_id: int, *, actor: str) -> RetryOutcome:
    """Retry one message: queued for the workers when Redis is configured, else processed here and now."""
    from intake.outbox.send import send_outbox_row
    from intake.pipeline.process import process_raw

    cfg = res.config
    with res.factory() as session:
        exists = session.get(RawMessage, raw_id) is not None
    if not exists:
        return RetryOutcome(raw_id, "missing")
    if reset_for_retry(res.factory, raw_id, max_attempts=cfg.worker.max_attempts) is None:
        return RetryOutcome(raw_id, "refused")
    log.info("raw message %s retried by %s", raw_id, actor)
    if cfg.redis_url:
        from intake.runtime.queue import enqueue_process, get_queue, redis_connection

        try:
            enqueue_process(get_queue(redis_connection(cfg)), raw_id, timeout=cfg.worker.job_timeout)
        except Exception as exc:  # the row is pending: the sweeper queues it once Redis is back
            log.warning("raw message %s reset but not queued: %s", raw_id, exc)
            return RetryOutcome(raw_id, "pending", error=str(exc)[:300])
        return RetryOutcome(raw_id, "queued")
    try:
        outcome = process_raw(res, raw_id, worker=f"back-office:{actor}"[:120])
    except OperationalError as exc:  # process_raw left it pending: the next retry or the sweeper takes it
        return RetryOutcome(raw_id, "busy", error=str(exc.orig)[:300])
    for outbox_id in outcome.outbox_ids:
        try:
            send_outbox_row(res.factory, cfg, outbox_id, res.mailer, notifiers=res.notifiers)
        except Exception as exc:  # the row stays pending; the sweeper sends it
            log.warning("outbox %s not sent after retry: %s", outbox_id, exc)
    return RetryOutcome(raw_id, outcome.status, outcome.tracking_number, outcome.created, outcome.error)


def database_answers(session: Session) -> None:
    """Run the cheapest statement there is: raises when the database does not answer (liveness checks)."""
    session.execute(select(1))


def failed_count(session: Session) -> int:
    """How many raw messages are in failure (the queue's banner for reception and administrators)."""
    return int(
        session.execute(select(func.count()).select_from(RawMessage).where(RawMessage.status == "failed")).scalar_one()
    )


@dataclass(frozen=True)
class UnprocessedMessage:
    """A raw message that was not filed (failed, discarded or held), with the reason."""

    id: int
    channel: str
    source: str
    received_at: datetime
    status: str
    error: str | None


def unprocessed_messages(session: Session, *, limit: int = 200) -> list[UnprocessedMessage]:
    """The latest raw messages in failure, discarded or held for review, newest first."""
    rows = session.execute(
        select(
            RawMessage.id,
            RawMessage.channel,
            RawMessage.source,
            RawMessage.received_at,
            RawMessage.status,
            RawMessage.error,
        )
        .where(RawMessage.status.in_(("failed", "discarded", "held")))
        .order_by(RawMessage.id.desc())
        .limit(limit)
    )
    return [UnprocessedMessage(*row) for row in rows]


@dataclass(frozen=True)
class RetryEntry:
    """A retry from the health page as the audit log recorded it: when, who, what form."""

    at: datetime
    username: str | None
    detail: Any
    status: int | None


def recent_retries(session: Session, *, limit: int = 10) -> list[RetryEntry]:
    """The latest successful retries made from the health page (audit entries `health.retry`), newest first."""
    rows = session.execute(
        select(AuditLog.at, AuditLog.username, AuditLog.detail, AuditLog.status)
        .where(AuditLog.action == "health.retry", AuditLog.status == 303)
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    return [RetryEntry(*row) for row in rows]
