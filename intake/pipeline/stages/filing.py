"""Filing stages: thread a message onto its report, or open a new report with a tracking number."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from intake.models import Contact, Event, Outbox, Report, ReportMessage
from intake.pipeline.registry import Context, Discard, register
from intake.reports.tracking import find_tracking_numbers, new_public_token, next_tracking_number


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


def _report_for_tracking(ctx: Context, subject: str, sender: str | None) -> Report | None:
    # A number alone could be typed by anyone: only the report's author (or the staff who forwarded it)
    # may thread onto it that way.
    for number in find_tracking_numbers(subject):
        report = ctx.session.execute(select(Report).where(Report.tracking_number == number)).scalar_one_or_none()
        if report is None or not sender:
            continue
        author = report.author.email if report.author else None
        if sender in {author, report.forwarded_by_email}:
            return report
    return None


@register("thread")
class ThreadStage:
    """Find the report a message belongs to: replies to our mail, or the tracking number in the subject."""

    name = "thread"

    def process(self, ctx: Context) -> None:
        """Set `ctx.report` and the message's role when it continues an existing report."""
        parsed = ctx.parsed
        if parsed is None:
            return
        own_ids = [parsed.message_id] if parsed.message_id else []
        if own_ids and ctx.session.execute(
            select(Outbox.id).where(Outbox.message_id.in_(own_ids))
        ).first():
            raise Discard("message envoyé par Guichet lui-même (boucle évitée)")
        refs = [r for r in [parsed.in_reply_to, *parsed.references] if r]
        report = _report_for_message_ids(ctx, refs)
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


def _contact(ctx: Context, email: str | None, name: str | None, phone: str | None) -> Contact | None:
    if not email and not phone:
        return None
    session = ctx.session
    contact = None
    if email:
        contact = session.execute(select(Contact).where(Contact.email == email)).scalar_one_or_none()
    if contact is None and phone:
        contact = session.execute(select(Contact).where(Contact.phone == phone)).scalar_one_or_none()
    if contact is None:
        contact = Contact(email=email, phone=phone, name=name)
        session.add(contact)
        session.flush()
    else:
        contact.name = contact.name or name
        if phone and not contact.phone and not session.execute(
            select(Contact.id).where(Contact.phone == phone)
        ).first():
            contact.phone = phone
    return contact


@register("file")
class FileStage:
    """Create the report (when the message starts one) and the report message that records it."""

    name = "file"

    def process(self, ctx: Context) -> None:
        """Open or continue a report and attach this message to it."""
        parsed = ctx.parsed
        if parsed is None:
            return
        session = ctx.session
        if ctx.report is None:
            year = datetime.now(UTC).year
            author = _contact(ctx, parsed.sender.email, parsed.sender.name, parsed.sender_phone)
            fwd = parsed.forwarded_by
            report = Report(
                tracking_number=next_tracking_number(session, year=year),
                public_token=new_public_token(),
                channel=ctx.raw.channel,
                subject=(parsed.subject or "")[:500],
                description=parsed.text,
                author=author,
                forwarded_by_name=fwd.name if fwd else None,
                forwarded_by_email=fwd.email if fwd else None,
                citizen_recovered=bool(parsed.citizen_recovered and (parsed.sender.email or parsed.sender_phone)),
                status="nouveau",
                notes=[],
            )
            notes = list(ctx.notes)
            if not report.citizen_recovered:
                notes.insert(0, "Adresse du citoyen introuvable dans le message transféré : le contacter autrement.")
            report.notes = notes
            session.add(report)
            session.flush()
            ctx.report = report
            ctx.created = True
            session.add(Event(report_id=report.id, action="created", detail={"raw_message_id": ctx.raw.id,
                                                                               "channel": ctx.raw.channel}))
        details = {
            "forwarded_by": {"name": parsed.forwarded_by.name, "email": parsed.forwarded_by.email}
            if parsed.forwarded_by else None,
            "auto_reply_reason": parsed.auto_reply_reason,
            "skipped_attachments": [
                {"filename": s.filename, "content_type": s.content_type, "size": s.size, "reason": s.reason}
                for s in parsed.skipped_attachments
            ],
            "defects": list(parsed.defects)[:50],
            "forward_note": getattr(parsed, "forward_note", "") or "",
        }
        message = ReportMessage(
            report_id=ctx.report.id,
            raw_message_id=ctx.raw.id,
            role=ctx.role,
            message_id=(parsed.message_id or None),
            sender_name=parsed.sender.name,
            sender_email=parsed.sender.email,
            subject=(parsed.subject or "")[:500],
            text=parsed.text,
            quoted=parsed.quoted,
            signature=parsed.signature,
            html=parsed.html,
            details=details,
        )
        session.add(message)
        session.flush()
        ctx.message = message
        if not ctx.created:
            session.add(Event(report_id=ctx.report.id, action=ctx.role, detail={"raw_message_id": ctx.raw.id}))
