"""Confirmation stage: queue the French acknowledgement with the tracking number in the outbox."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from intake.models import Event, Outbox, utcnow
from intake.notify import make_message_id, render_confirmation
from intake.pipeline import Context, register


@register("confirm")
class ConfirmStage:
    """One confirmation per new report and recipient, within a daily cap per recipient."""

    name = "confirm"

    def process(self, ctx: Context) -> None:
        """Create the outbox row (pending, or suppressed with the reason)."""
        report, parsed = ctx.report, ctx.parsed
        if report is None or parsed is None or not ctx.created:
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
                Outbox.recipient == recipient, Outbox.kind == "confirmation", Outbox.created_at >= since,
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
        ctx.session.flush()
        if status == "pending":
            ctx.outbox_ids.append(row.id)
        else:
            ctx.session.add(Event(report_id=report.id, action="confirmation_skipped", detail={"reason": reason}))
