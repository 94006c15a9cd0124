"""Retention (RGPD 1): what is kept how long once a report is closed, and the purge that enforces it.

Durations are `privacy.retention` in config.yaml, in months after a report is closed (its last change to
"résolu" or "rejeté"): the messages as received and their attachments go after `raw_months`; names, emails,
phones and the messages' words are anonymised after `identity_months` (category, place, status stay, so the
statistics and the hotspots still count the report); the audit log is kept `audit_months`. Raw messages that
never made a report (failed, discarded) go `raw_months` after they arrived. Every worker runs the purge once a
day (intake/runtime/housekeeping.py); `guichet purge --dry-run` shows what it would do. Idempotent: what was
purged is marked and never counted again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.media.storage import FileStore
from intake.models import Attachment, AuditLog, Contact, Event, RawMessage, Report, ReportMessage, as_utc, utcnow
from intake.privacy.erasure import (
    SYSTEM,
    Actor,
    anonymise_contact,
    anonymise_report,
    audit,
    contact_is_done,
    delete_attachments,
    purge_raw,
)
from intake.vocab import CLOSED

log = logging.getLogger(__name__)
PURGE_ACTION = "rgpd_purge"
PURGE_START = "rgpd_purge_start"  # a worker's claim of the day's purge (two workers never run it together)
BATCH = 100  # rows per transaction: about a second of SQLite's write lock on a loaded machine


def months_before(now: datetime, months: int) -> datetime:
    """`months` months of 30.44 days before `now` (retention is counted in months, not to the day)."""
    return now - timedelta(days=round(months * 30.44))


@dataclass
class Purge:
    """What one purge did (or, dry, would do)."""

    raw_messages: int = 0
    attachments: int = 0
    reports_anonymised: int = 0
    contacts_anonymised: int = 0
    audit_entries: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        """Everything the purge touched."""
        return (
            self.raw_messages
            + self.attachments
            + self.reports_anonymised
            + self.contacts_anonymised
            + self.audit_entries
        )

    def summary_fr(self) -> str:
        """One French line for the command, the log and the health page."""
        verb = "seraient" if self.dry_run else "ont été"
        return (
            f"{self.raw_messages} message(s) reçu(s) et {self.attachments} pièce(s) jointe(s) {verb} supprimés, "
            f"{self.reports_anonymised} signalement(s) et {self.contacts_anonymised} contact(s) {verb} "
            f"anonymisés, {self.audit_entries} entrée(s) du journal d'audit {verb} supprimées"
        )


def _closed_before(cutoff: datetime) -> Select[Any]:
    """Ids of closed reports whose last status change is older than `cutoff` (a scalar subquery's select)."""
    last = (
        select(Event.report_id, func.max(Event.at).label("at"))
        .where(Event.action == "status")
        .group_by(Event.report_id)
        .subquery()
    )
    return (
        select(Report.id).join(last, last.c.report_id == Report.id).where(Report.status.in_(CLOSED), last.c.at < cutoff)
    )


def _raw_of_closed(session: Session, cutoff: datetime) -> list[int]:
    filed = (
        select(ReportMessage.raw_message_id)
        .where(ReportMessage.report_id.in_(_closed_before(cutoff)))
        .scalar_subquery()
    )
    return list(
        session.execute(select(RawMessage.id).where(RawMessage.purged_at.is_(None), RawMessage.id.in_(filed))).scalars()
    )


def _raw_without_report(session: Session, cutoff: datetime) -> list[int]:
    filed = select(ReportMessage.raw_message_id).scalar_subquery()
    return list(
        session.execute(
            select(RawMessage.id).where(
                RawMessage.purged_at.is_(None),
                RawMessage.received_at < cutoff,
                RawMessage.status.in_(("failed", "discarded", "processed")),
                RawMessage.id.not_in(filed),
            )
        ).scalars()
    )


def purge(
    factory: sessionmaker[Session],
    config: Config,
    store: FileStore,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: Actor = SYSTEM,
    batch: int = BATCH,
) -> Purge:
    """Apply the retention durations; with `dry_run`, only count.

    The work is planned in one read, then done in short transactions of `batch` rows each (SQLite's write lock is
    never held for long, so the doors keep storing while a first purge goes through years of reports); a purge
    stopped half-way is finished by the next one, since every step skips what is already done.
    """
    now = now or utcnow()
    keep = config.privacy.retention
    done = Purge(dry_run=dry_run)
    raw_cutoff, identity_cutoff = months_before(now, keep.raw_months), months_before(now, keep.identity_months)
    audit_cutoff = months_before(now, keep.audit_months)
    with factory() as session:
        raw_ids = sorted(set(_raw_of_closed(session, raw_cutoff)) | set(_raw_without_report(session, raw_cutoff)))
        attachment_ids = list(
            session.execute(select(Attachment.id).where(Attachment.report_id.in_(_closed_before(raw_cutoff)))).scalars()
        )
        report_ids: list[int] = list(
            session.execute(
                _closed_before(identity_cutoff).where(Report.anonymised_at.is_(None)).order_by(Report.id)
            ).scalars()
        )
        done.audit_entries = int(
            session.execute(select(func.count()).select_from(AuditLog).where(AuditLog.at < audit_cutoff)).scalar_one()
        )
        authors = sorted(
            {
                a
                for a in session.execute(
                    select(Report.author_id).where(
                        Report.id.in_(_closed_before(identity_cutoff)),
                        Report.anonymised_at.is_(None),
                        Report.author_id.is_not(None),
                    )
                ).scalars()
                if a is not None
            }
        )
        if dry_run:
            wanted = set(report_ids)
            done.contacts_anonymised = sum(1 for cid in authors if _would_be_done(session, cid, wanted))
    done.raw_messages, done.attachments, done.reports_anonymised = len(raw_ids), len(attachment_ids), len(report_ids)
    if dry_run:
        return done
    for chunk in _chunks(raw_ids, batch):
        with factory() as session, session.begin():
            for raw in session.execute(select(RawMessage).where(RawMessage.id.in_(chunk))).scalars():
                purge_raw(raw, now=now)
    for chunk in _chunks(attachment_ids, batch):
        with factory() as session, session.begin():
            delete_attachments(
                session, store, list(session.execute(select(Attachment).where(Attachment.id.in_(chunk))).scalars())
            )
    for chunk in _chunks(report_ids, batch):
        with factory() as session, session.begin():
            for report in session.execute(select(Report).where(Report.id.in_(chunk))).scalars():
                anonymise_report(session, store, report, now=now)
    for chunk in _chunks(authors, batch):
        with factory() as session, session.begin():
            for contact in session.execute(select(Contact).where(Contact.id.in_(chunk))).scalars():
                if contact_is_done(session, contact.id):
                    done.contacts_anonymised += int(anonymise_contact(contact, now=now))
    with factory() as session, session.begin():
        session.execute(delete(AuditLog).where(AuditLog.at < audit_cutoff).execution_options(synchronize_session=False))
        audit(session, actor=actor, action=PURGE_ACTION, detail=asdict(done))
    log.info("retention purge: %s", done.summary_fr())
    return done


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), max(1, size))]


def _would_be_done(session: Session, contact_id: int, anonymised_now: set[int]) -> bool:
    left = session.execute(
        select(Report.id).where(Report.author_id == contact_id, Report.anonymised_at.is_(None))
    ).scalars()
    return all(report_id in anonymised_now for report_id in left)


def last_purge(session: Session) -> tuple[datetime, dict[str, object]] | None:
    """When the last purge ran and what it did (from the audit log), or None."""
    row = session.execute(
        select(AuditLog.at, AuditLog.detail)
        .where(AuditLog.action == PURGE_ACTION)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(1)
    ).first()
    return (row[0], dict(row[1] or {})) if row is not None else None


def purge_due(session: Session, *, now: datetime | None = None) -> bool:
    """Whether a day has passed since the last purge was started (workers run it once a day)."""
    last = session.execute(
        select(func.max(AuditLog.at)).where(AuditLog.action.in_((PURGE_ACTION, PURGE_START)))
    ).scalar_one()
    return last is None or (now or utcnow()) - as_utc(last) >= timedelta(hours=24)


@dataclass
class RetentionStatus:
    """What the health page shows of the retention: the last purge and what is anonymised so far."""

    last_at: datetime | None
    last: dict[str, object]
    reports_anonymised: int
    contacts_anonymised: int
    raw_purged: int


def retention_status(session: Session) -> RetentionStatus:
    """The last purge and the totals of anonymised reports and contacts and of purged raw messages."""
    last = last_purge(session)

    def count(column: Any) -> int:
        return int(session.execute(select(func.count()).where(column.is_not(None))).scalar_one())

    return RetentionStatus(
        last_at=last[0] if last else None,
        last=last[1] if last else {},
        reports_anonymised=count(Report.anonymised_at),
        contacts_anonymised=count(Contact.anonymised_at),
        raw_purged=count(RawMessage.purged_at),
    )
