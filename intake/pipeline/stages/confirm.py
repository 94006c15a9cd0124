"""Stage "confirm": queue the French acknowledgement with the tracking number in the outbox."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from intake.message import PHONE_CHANNELS, STAFF_CHANNEL_NAMES, InboundMessage
from intake.models import Event, Outbox, Report, utcnow
from intake.outbox.notify import make_message_id, render_confirmation, render_sms
from intake.pipeline.registry import BaseStage, Context, register

TYPED_CHANNELS = STAFF_CHANNEL_NAMES | {"formulaire"}  # forms whose citizen may leave only a mobile


def _confirm_by_text(ctx: Context, report: Report, parsed: InboundMessage, *, channel: str | None = None) -> None:
    """SMS/WhatsApp acknowledgement; the daily cap and allowed destinations are checked when sending."""
    why = ctx.no_confirmation
    if why is None and parsed.channel == "voice":
        why = "message vocal : pas de confirmation par SMS"
    elif why is None and not parsed.answer_to:
        why = "numéro de l'expéditeur inconnu"
    elif why is None and report.author is not None and report.author.opt_out:
        why = "le numéro a demandé à ne plus recevoir de SMS (STOP)"
    if why is not None:
        ctx.session.add(Event(report_id=report.id, action="confirmation_skipped", detail={"reason": why}))
        return
    assert parsed.answer_to is not None
    row = Outbox(
        report_id=report.id,
        kind="confirmation",
        channel=channel or parsed.channel,
        recipient=parsed.answer_to,
        subject="",
        body=render_sms(ctx.config, ctx.config.templates.sms_confirmation, report=report),
        message_id=make_message_id(ctx.config.town.mail_domain),
        in_reply_to=parsed.message_id,
        status="pending",
    )
    ctx.session.add(row)
    ctx.add_outbox(row)


def _confirm_staff_by_text(ctx: Context, report: Report, parsed: InboundMessage) -> None:
    """A citizen who gave staff only a phone number is answered by SMS when the town sends SMS."""
    if not ctx.config.twilio.enabled or not ctx.config.twilio.numbers:
        why = ctx.no_confirmation or "pas d'adresse électronique et l'envoi de SMS n'est pas configuré"
        ctx.session.add(Event(report_id=report.id, action="confirmation_skipped", detail={"reason": why}))
        return
    _confirm_by_text(ctx, report, parsed.but(answer_to=parsed.sender_phone), channel="sms")


@register("confirm")
class ConfirmStage(BaseStage):
    """One confirmation per new report and recipient, within a daily cap per recipient."""

    def file(self, ctx: Context) -> None:
        """Create the outbox row (pending, or suppressed with the reason)."""
        report, parsed = ctx.report, ctx.inbound
        if report is None or parsed is None or not ctx.created:
            return
        if parsed.channel in PHONE_CHANNELS:
            _confirm_by_text(ctx, report, parsed)
            return
        # Staff entry, or the web form's citizen who chose SMS: answered by text when the town sends SMS.
        if parsed.channel in TYPED_CHANNELS and not parsed.sender.email and parsed.sender_phone:
            _confirm_staff_by_text(ctx, report, parsed)
            return
        recipient = parsed.sender.email
        if ctx.no_confirmation or not recipient:
            why = ctx.no_confirmation or "adresse du citoyen introuvable"
            ctx.session.add(Event(report_id=report.id, action="confirmation_skipped", detail={"reason": why}))
            return
        subject, body = render_confirmation(ctx.config, report=report, parsed=parsed)
        since = utcnow() - timedelta(days=1)
        sent_today = ctx.session.execute(
            select(func.count(Outbox.id)).where(
                func.lower(Outbox.recipient) == recipient.lower(),
                Outbox.kind == "confirmation",
                Outbox.created_at >= since,
                Outbox.status != "suppressed",
            )
        ).scalar_one()
        cap = ctx.config.notifications.max_confirmations_per_recipient_per_day
        status: str = "pending"
        reason: str | None = None
        if sent_today >= cap:
            status, reason = "suppressed", f"plafond de {cap} confirmations par jour atteint pour ce destinataire"
        row = Outbox(
            report_id=report.id,
            kind="confirmation",
            channel="email",
            recipient=recipient,
            subject=subject,
            body=body,
            message_id=make_message_id(ctx.config.town.mail_domain),
            in_reply_to=parsed.message_id,
            status=status,
            reason=reason,
        )
        ctx.session.add(row)
        if status == "pending":
            ctx.add_outbox(row)
        else:
            ctx.session.add(Event(report_id=report.id, action="confirmation_skipped", detail={"reason": reason}))
