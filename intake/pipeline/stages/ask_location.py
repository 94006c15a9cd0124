"""Stage "ask_location": ask the citizen once where the problem is, when nobody could place the report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from intake.config import Config
from intake.message import PHONE_CHANNELS, STAFF_CHANNEL_NAMES, TEXT_CHANNELS, InboundMessage
from intake.models import Event, Outbox, Report, utcnow
from intake.outbox.enqueue import enqueue
from intake.outbox.notify import template
from intake.outbox.sms_rules import check_destination
from intake.pipeline.registry import BaseStage, Context, register
from intake.reports.relocate import needs_location

KIND = "ask_location"


def location_url(config: Config, report: Report) -> str:
    """The public page where the citizen drops a pin on the map."""
    return f"{config.status_url(report.public_token)}/position"


def _values(config: Config, report: Report) -> dict[str, Any]:
    labels = {c.code: c.label for c in config.categories}
    return {
        "tracking_number": report.tracking_number,
        "town": config.town.name,
        "category": labels.get(report.category or "", report.category or ""),
        "location_url": location_url(config, report),
        "status_url": config.status_url(report.public_token),
    }


def _recipient(ctx: Context, report: Report, parsed: InboundMessage) -> tuple[str, str, str | None] | str:
    """(channel, recipient, in_reply_to) of the question, or the French reason why nobody can be asked."""
    if ctx.no_confirmation:
        return ctx.no_confirmation
    channel = parsed.channel
    if parsed.channel in STAFF_CHANNEL_NAMES or report.channel in STAFF_CHANNEL_NAMES:
        return "saisie par l'accueil : l'agent localise le signalement"
    if report.author is not None and report.author.opt_out and channel in PHONE_CHANNELS:
        return "le numéro a demandé à ne plus recevoir de SMS (STOP)"
    if channel in TEXT_CHANNELS:
        return (channel, parsed.answer_to, parsed.message_id) if parsed.answer_to else "numéro de l'expéditeur inconnu"
    if channel == "voice":
        number = parsed.sender_phone
        if not number:
            return "numéro de l'appelant inconnu"
        refusal = check_destination(number, ctx.config.twilio, region=ctx.config.town.phone_region)
        # Only a mobile in the allowed ranges can read an SMS; a landline caller is left to the agents.
        return ("sms", number, None) if refusal is None else f"pas de SMS possible vers l'appelant : {refusal}"
    if not report.citizen_recovered:
        return "adresse du citoyen introuvable"
    email = parsed.sender.email
    if not email:
        return "adresse du citoyen introuvable"
    ctx.session.flush()  # the confirmation row of this message (stage "confirm"), which the cap may have suppressed
    capped = ctx.session.execute(
        select(Outbox.id).where(
            Outbox.report_id == report.id,
            Outbox.kind == "confirmation",
            Outbox.recipient == email,
            Outbox.status == "suppressed",
        )
    ).first()
    if capped is not None:  # the daily cap stopped the confirmation: the question would be one mail too many
        return "plafond de messages par jour atteint pour ce destinataire"
    return ("email", email, parsed.message_id)


def _render(config: Config, report: Report, channel: str) -> tuple[str, str]:
    texts = config.templates.ask_location
    values = _values(config, report)
    if channel == "email":
        subject = " ".join(template(texts.subject).render(values).split())[:500]
        return subject, template(texts.body).render(values)
    return "", " ".join(template(texts.sms).render(values).split())


@register("ask_location")
class AskLocationStage(BaseStage):
    """One question per new report nobody could place, on the citizen's channel; never to robots or twice."""

    def file(self, ctx: Context) -> None:
        """Queue the question (outbox kind "ask_location") and note when it was asked."""
        report, parsed = ctx.report, ctx.inbound
        if report is None or parsed is None or not ctx.created or not ctx.config.ask_location.enabled:
            return
        if report.duplicate_of_id is not None or report.location_requested_at is not None:
            return
        if not needs_location(report):
            return
        if parsed.transcript_pending is not None:
            return  # the caller may have said where: asked, if still needed, once the transcript is filed
        target = _recipient(ctx, report, parsed)
        if isinstance(target, str):
            ctx.session.add(Event(report_id=report.id, action="location_request_skipped", detail={"reason": target}))
            return
        channel, recipient, in_reply_to = target
        subject, body = _render(ctx.config, report, channel)
        outbox_id = enqueue(
            ctx.session,
            ctx.config,
            report_id=report.id,
            kind=KIND,
            channel=channel,
            recipient=recipient,
            subject=subject,
            body=body,
            in_reply_to=in_reply_to,
        )
        report.location_requested_at = utcnow()
        if outbox_id is None:
            return  # already asked (a replayed message): never twice
        ctx.outbox_ids.append(outbox_id)
        ctx.session.add(
            Event(report_id=report.id, action="location_requested", detail={"channel": channel, "outbox_id": outbox_id})
        )
