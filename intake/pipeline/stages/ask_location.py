"""Ask the citizen once where the problem is, when the report has no usable location; place it from the answer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from intake.config import Config
from intake.models import Event, Outbox, Report, utcnow
from intake.outbox.enqueue import enqueue
from intake.outbox.notify import template
from intake.outbox.sms_rules import check_destination
from intake.pipeline.registry import Context, register
from intake.pipeline.stages.sms import PHONE_CHANNELS, SMS_CHANNELS
from intake.reports.relocate import CITIZEN, clear_location_reasons, locate_answer, needs_location, place

KIND = "ask_location"


def location_url(config: Config, report: Report) -> str:
    """The public page where the citizen drops a pin on the map."""
    return f"{config.town.public_url.rstrip('/')}/suivi/{report.public_token}/position"


def _values(config: Config, report: Report) -> dict[str, Any]:
    labels = {c.code: c.label for c in config.categories}
    return {"tracking_number": report.tracking_number, "town": config.town.name,
            "category": labels.get(report.category or "", report.category or ""),
            "location_url": location_url(config, report),
            "status_url": f"{config.town.public_url.rstrip('/')}/suivi/{report.public_token}"}


def _recipient(ctx: Context, report: Report, parsed: Any) -> tuple[str, str, str | None] | str:
    """(channel, recipient, in_reply_to) of the question, or the French reason why nobody can be asked."""
    if ctx.no_confirmation:
        return ctx.no_confirmation
    channel = getattr(parsed, "channel", "email")
    if channel == "staff" or report.channel == "staff":
        return "saisie par l'accueil : l'agent localise le signalement"
    if report.author is not None and report.author.opt_out and channel in PHONE_CHANNELS:
        return "le numéro a demandé à ne plus recevoir de SMS (STOP)"
    if channel in SMS_CHANNELS:
        return (channel, parsed.reply_to, parsed.message_id) if parsed.reply_to else "numéro de l'expéditeur inconnu"
    if channel == "voice":
        number = parsed.sender_phone
        if not number:
            return "numéro de l'appelant inconnu"
        refusal = check_destination(number, ctx.config.twilio)
        # Only a mobile in the allowed ranges can read an SMS; a landline caller is left to the agents.
        return ("sms", number, None) if refusal is None else f"pas de SMS possible vers l'appelant : {refusal}"
    if not report.citizen_recovered:
        return "adresse du citoyen introuvable"
    email = parsed.sender.email
    if not email:
        return "adresse du citoyen introuvable"
    capped = ctx.session.execute(select(Outbox.id).where(
        Outbox.report_id == report.id, Outbox.kind == "confirmation", Outbox.recipient == email,
        Outbox.status == "suppressed")).first()
    if capped is not None:  # the daily cap stopped the confirmation: the question would be one mail too many
        return "plafond de messages par jour atteint pour ce destinataire"
    return ("email", email, getattr(parsed, "message_id", None))


def _render(config: Config, report: Report, channel: str) -> tuple[str, str]:
    texts = config.templates.ask_location
    values = _values(config, report)
    if channel == "email":
        subject = " ".join(template(texts.subject).render(values).split())[:500]
        return subject, template(texts.body).render(values)
    return "", " ".join(template(texts.sms).render(values).split())


@register("ask_location")
class AskLocationStage:
    """One question per new report nobody could place, on the citizen's channel; never to robots or twice."""

    name = "ask_location"

    def process(self, ctx: Context) -> None:
        """Queue the question (outbox kind "ask_location") and note when it was asked."""
        report, parsed = ctx.report, ctx.parsed
        if report is None or parsed is None or not ctx.created or not ctx.config.ask_location.enabled:
            return
        if report.duplicate_of_id is not None or report.location_requested_at is not None:
            return
        if not needs_location(report):
            return
        target = _recipient(ctx, report, parsed)
        if isinstance(target, str):
            ctx.session.add(Event(report_id=report.id, action="location_request_skipped", detail={"reason": target}))
            return
        channel, recipient, in_reply_to = target
        subject, body = _render(ctx.config, report, channel)
        outbox_id = enqueue(ctx.session, ctx.config, report_id=report.id, kind=KIND, channel=channel,
                            recipient=recipient, subject=subject, body=body, in_reply_to=in_reply_to)
        report.location_requested_at = utcnow()
        if outbox_id is None:
            return  # already asked (a replayed message): never twice
        ctx.outbox_ids.append(outbox_id)
        ctx.session.add(Event(report_id=report.id, action="location_requested",
                              detail={"channel": channel, "outbox_id": outbox_id}))


@register("relocate")
class RelocateStage:
    """A citizen's follow-up on an unplaced report (a reply to the question, an SMS) places it when it can.

    Runs before "locate", which would otherwise read the follow-up as the robot's own finding: here the
    position is the citizen's answer (actor "citoyen") and the "no location" review reasons are dropped.
    """

    name = "relocate"

    def process(self, ctx: Context) -> None:
        """Place `ctx.report` from the follow-up's shared position or text."""
        report, parsed = ctx.report, ctx.parsed
        if report is None or parsed is None or ctx.created or ctx.role != "follow_up":
            return
        if report.location_source in {"agent", "exif", "pin"}:
            if report.location_source == "pin":  # just shared from WhatsApp (thread_sms): the reasons are stale
                clear_location_reasons(ctx.session, ctx.config, report)
            return
        if report.lat is not None and not needs_location(report):
            return
        detail = {"raw_message_id": ctx.raw.id, "channel": ctx.raw.channel}
        lat, lon = getattr(parsed, "lat", None), getattr(parsed, "lon", None)
        if lat is not None and lon is not None:
            place(ctx.session, ctx.config, report, lat=lat, lon=lon, source="pin", score=1.0,
                  label=getattr(parsed, "location_label", None), detail=detail, actor=CITIZEN)
            return
        text = getattr(parsed, "text", "") or ""
        if text.strip():
            locate_answer(ctx.session, ctx.config, ctx.resources.understanding(), report, text=text, detail=detail)
