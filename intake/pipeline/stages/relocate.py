"""Stage "relocate": a citizen's follow-up on an unplaced report (a reply, an SMS, a pin) places it."""

from __future__ import annotations

from intake.pipeline.registry import BaseStage, Context, register
from intake.reports.relocate import CITIZEN, clear_location_reasons, locate_answer, needs_location, place


@register("relocate")
class RelocateStage(BaseStage):
    """A citizen's follow-up on an unplaced report (a reply to the question, an SMS) places it when it can.

    Runs before "locate", which would otherwise read the follow-up as the robot's own finding: here the
    position is the citizen's answer (actor "citoyen") and the "no location" review reasons are dropped.
    """

    def file(self, ctx: Context) -> None:
        """Place `ctx.report` from the follow-up's shared position or text."""
        report, parsed = ctx.report, ctx.inbound
        if report is None or parsed is None or ctx.created or ctx.role != "follow_up":
            return
        if report.location_source in {"agent", "exif", "pin"}:
            if report.location_source == "pin":  # just shared from WhatsApp (thread_sms): the reasons are stale
                clear_location_reasons(ctx.session, ctx.config, report)
            return
        if report.lat is not None and not needs_location(report):
            return
        detail = {"raw_message_id": ctx.raw.id, "channel": ctx.raw.channel}
        if parsed.position is not None:
            place(
                ctx.session,
                ctx.config,
                report,
                lat=parsed.position.lat,
                lon=parsed.position.lon,
                source="pin",
                score=1.0,
                label=parsed.position.label,
                detail=detail,
                actor=CITIZEN,
            )
            return
        text = parsed.text or ""
        if text.strip():
            locate_answer(ctx.session, ctx.config, ctx.resources.understanding(), report, text=text, detail=detail)
