"""Stage "file": open a report with a tracking number (or continue one) and record the message on it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from intake.models import Contact, Event, Report, ReportMessage
from intake.pipeline.registry import BaseStage, Context, register
from intake.reports.tracking import new_public_token, next_tracking_number


def _contact(ctx: Context, email: str | None, name: str | None, phone: str | None) -> Contact | None:
    # Only the channel's own sender address or number reaches here (never a number read in the text), so
    # a match is the same citizen; anything else is joined by an agent's explicit link-contacts.
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
        session.add(contact)  # inserted with the report that names it as author
    else:
        contact.name = contact.name or name
        if (
            phone
            and not contact.phone
            and not session.execute(select(Contact.id).where(Contact.phone == phone)).first()
        ):
            contact.phone = phone
    return contact


def _link_for_review(ctx: Context, report: Report) -> None:
    """Record on both reports that this message cited the other one's conversation (an agent decides)."""
    other = ctx.session.get(Report, ctx.linked_report_id)
    if other is None:
        return
    ctx.session.add(
        Event(
            report_id=report.id,
            action="linked_for_review",
            detail={"report": other.tracking_number, "raw_message_id": ctx.raw.id},
        )
    )
    ctx.session.add(
        Event(
            report_id=other.id,
            action="linked_for_review",
            detail={"report": report.tracking_number, "raw_message_id": ctx.raw.id},
        )
    )


@register("file")
class FileStage(BaseStage):
    """Create the report (when the message starts one) and the report message that records it."""

    def file(self, ctx: Context) -> None:
        """Open or continue a report and attach this message to it."""
        parsed = ctx.inbound
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
            session.add(
                Event(
                    report_id=report.id,
                    action="created",
                    detail={"raw_message_id": ctx.raw.id, "channel": ctx.raw.channel},
                )
            )
            if ctx.linked_report_id is not None:
                _link_for_review(ctx, report)
        details = {
            "forwarded_by": {"name": parsed.forwarded_by.name, "email": parsed.forwarded_by.email}
            if parsed.forwarded_by
            else None,
            "auto_reply_reason": parsed.auto_reply_reason,
            "skipped_attachments": [
                {"filename": s.filename, "content_type": s.content_type, "size": s.size, "reason": s.reason}
                for s in parsed.skipped_attachments
            ],
            "defects": list(parsed.defects)[:50],
            "forward_note": parsed.forward_note,
            "phone_in_text": parsed.phone_in_text,
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
        session.add(message)  # flushed with the next stage that needs its id (media) or at the end of the message
        ctx.message = message
        if not ctx.created:
            session.add(Event(report_id=ctx.report.id, action=ctx.role, detail={"raw_message_id": ctx.raw.id}))
