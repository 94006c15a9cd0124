"""Stage "optout": STOP/ARRÊT and START keywords by SMS or WhatsApp, honoured and answered once."""

from __future__ import annotations

from sqlalchemy import select

from intake.message import TEXT_CHANNELS
from intake.models import Contact, Event, Outbox, Report, utcnow
from intake.outbox.notify import make_message_id, render_sms
from intake.pipeline.registry import BaseStage, Context, register

STOP_WORDS = frozenset({"STOP", "ARRET", "ARRÊT", "STOP SMS", "STOPALL", "UNSUBSCRIBE"})
START_WORDS = frozenset({"START", "UNSTOP", "REPRISE"})


def _keyword(text: str) -> str:
    return " ".join(text.strip().rstrip(".!").split()).upper()


def _latest_report(ctx: Context, contact: Contact) -> Report | None:
    return (
        ctx.session.execute(
            select(Report).where(Report.author_id == contact.id).order_by(Report.created_at.desc(), Report.id.desc())
        )
        .scalars()
        .first()
    )


@register("optout")
class OptOutStage(BaseStage):
    """STOP and START keywords: record the choice, answer once, file nothing."""

    def file(self, ctx: Context) -> None:
        """Handle STOP/START from an SMS or WhatsApp number; other messages go on."""
        parsed = ctx.inbound
        if parsed is None or parsed.channel not in TEXT_CHANNELS or not parsed.sender_phone:
            return
        word = _keyword(parsed.text)
        if word not in STOP_WORDS and word not in START_WORDS:
            return
        stop = word in STOP_WORDS
        phone = parsed.sender_phone
        contact = ctx.session.execute(select(Contact).where(Contact.phone == phone)).scalar_one_or_none()
        if contact is None:
            contact = Contact(phone=phone, name=parsed.sender.name)
            ctx.session.add(contact)
        contact.opt_out, contact.opt_out_at = stop, (utcnow() if stop else None)
        ctx.session.flush()
        templates = ctx.config.templates
        kind, template = ("stop_ack", templates.sms_stopped) if stop else ("start_ack", templates.sms_started)
        report = _latest_report(ctx, contact)
        # The outbox hangs off a report; a number that never reported anything gets no answer (nothing was
        # ever sent to it either). Even an opted-out number gets this one answer.
        if report is not None and parsed.answer_to:
            exists = ctx.session.execute(
                select(Outbox.id).where(
                    Outbox.report_id == report.id, Outbox.kind == kind, Outbox.recipient == parsed.answer_to
                )
            ).first()
            if not exists:
                row = Outbox(
                    report_id=report.id,
                    kind=kind,
                    channel=parsed.channel,
                    recipient=parsed.answer_to,
                    subject="",
                    body=render_sms(ctx.config, template),
                    message_id=make_message_id(ctx.config.town.mail_domain),
                    in_reply_to=parsed.message_id,
                )
                ctx.session.add(row)
                ctx.session.flush()
                ctx.outbox_ids.append(row.id)
            ctx.session.add(
                Event(
                    report_id=report.id,
                    action="sms_opt_out" if stop else "sms_opt_in",
                    detail={"raw_message_id": ctx.raw.id},
                )
            )
        # Not Discard: that would roll back the opt-out with the transaction. Clearing `inbound` makes every
        # later stage a no-op and commits the choice.
        ctx.inbound = None
