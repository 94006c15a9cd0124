"""Stage "thread": find the report a message continues (a reply to our mail, its tracking number)."""

from __future__ import annotations

from sqlalchemy import func, select

from intake.models import Outbox, Report, ReportMessage
from intake.pipeline.registry import BaseStage, Context, Discard, register
from intake.reports.tracking import find_tracking_numbers, report_by_number


def _report_for_message_ids(ctx: Context, ids: list[str]) -> Report | None:
    if not ids:
        return None
    session = ctx.session
    report_id = session.execute(
        select(Outbox.report_id).where(Outbox.message_id.in_(ids)).limit(1)
    ).scalar_one_or_none()
    if report_id is None:
        report_id = session.execute(
            select(ReportMessage.report_id).where(ReportMessage.message_id.in_(ids)).limit(1)
        ).scalar_one_or_none()
    return session.get(Report, report_id) if report_id is not None else None


def _may_thread(ctx: Context, report: Report, senders: list[str]) -> bool:
    """Whether one of `senders` is in the conversation: the report's author, the staff member who forwarded
    it, or someone we wrote to about it. A Message-ID is no secret (a CC, a forward shows it)."""
    wanted = {s.strip().lower() for s in senders if s and s.strip()}
    if not wanted:
        return False
    known = {report.author.email if report.author else None, report.forwarded_by_email}
    if wanted & {k.lower() for k in known if k}:
        return True
    return (
        ctx.session.execute(
            select(Outbox.id).where(Outbox.report_id == report.id, func.lower(Outbox.recipient).in_(wanted)).limit(1)
        ).first()
        is not None
    )


def _report_for_tracking(ctx: Context, subject: str, sender: str | None) -> Report | None:
    # A number alone could be typed by anyone: only the report's author (or the staff who forwarded it)
    # may thread onto it that way.
    for number in find_tracking_numbers(subject):
        report = report_by_number(ctx.session, number)
        if report is None or not sender:
            continue
        author = report.author.email if report.author else None
        if sender in {author, report.forwarded_by_email}:
            return report
    return None


@register("thread")
class ThreadStage(BaseStage):
    """Find the report a message belongs to: replies to our mail, or the tracking number in the subject."""

    def file(self, ctx: Context) -> None:
        """Set `ctx.report` and the message's role when it continues an existing report."""
        parsed = ctx.inbound
        if parsed is None:
            return
        own_ids = [parsed.message_id] if parsed.message_id else []
        if own_ids and ctx.session.execute(select(Outbox.id).where(Outbox.message_id.in_(own_ids))).first():
            raise Discard("message envoyé par Guichet lui-même (boucle évitée)")
        refs = [r for r in [parsed.in_reply_to, *parsed.references] if r]
        report = _report_for_message_ids(ctx, refs)
        senders = [parsed.sender.email or "", (parsed.forwarded_by.email or "") if parsed.forwarded_by else ""]
        automatic = parsed.auto_reply and parsed.auto_reply_kind == "automatic"
        # An automatic answer (a bounce from MAILER-DAEMON) threads silently and is never answered; anyone else
        # must be in the conversation, or the message starts its own report that an agent checks.
        if report is not None and not automatic and not _may_thread(ctx, report, senders):
            ctx.linked_report_id = report.id
            ctx.notes.append(
                f"Ce message répond à un échange du signalement n° {report.tracking_number}, mais son "
                "expéditeur n'y a jamais pris part : vérifier avant de le rattacher (fusion)."
            )
            report = None
        if report is None:
            sender = parsed.sender.email
            report = _report_for_tracking(ctx, parsed.subject, sender)
            if report is None and parsed.forwarded_by is not None:
                report = _report_for_tracking(ctx, parsed.subject, parsed.forwarded_by.email)
        if report is not None:
            ctx.report = report
            ctx.role = "auto_reply" if parsed.auto_reply_kind == "automatic" else "follow_up"
        elif parsed.auto_reply and parsed.auto_reply_kind == "automatic":
            raise Discard(f"message automatique sans signalement lié ({parsed.auto_reply_reason})")
