"""Stage "thread_sms": an SMS or WhatsApp message continues a report (its number, a location share, a reply)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from intake.geocoding.precision import mark
from intake.message import TEXT_CHANNELS, InboundMessage, Position
from intake.models import Contact, Event, RawMessage, Report, ReportMessage
from intake.models import as_utc as _aware
from intake.pipeline.registry import BaseStage, Context, register
from intake.reports.relocate import asked_report
from intake.reports.tracking import find_tracking_numbers, report_by_number
from intake.vocab import CLOSED


def _last_open(ctx: Context, phone: str) -> tuple[Report, datetime] | None:
    """The open report this number wrote to last, with when that message arrived."""
    row = ctx.session.execute(
        select(Report, RawMessage.received_at)
        .join(ReportMessage, ReportMessage.report_id == Report.id)
        .join(RawMessage, RawMessage.id == ReportMessage.raw_message_id)
        .join(Contact, Contact.id == Report.author_id)
        .where(
            Contact.phone == phone,
            Report.status.not_in(CLOSED),
            RawMessage.id != ctx.raw.id,
            RawMessage.received_at <= ctx.raw.received_at,
        )
        .order_by(RawMessage.received_at.desc(), ReportMessage.id.desc())
        .limit(1)
    ).first()
    return (row[0], _aware(row[1])) if row is not None else None


def _by_tracking(ctx: Context, text: str, phone: str) -> Report | None:
    # Only the report's author may attach to it by number: a number alone could be typed by anyone.
    for number in find_tracking_numbers(text):
        report = report_by_number(ctx.session, number)
        if report is not None and report.author is not None and report.author.phone == phone:
            return report
    return None


def _pin(ctx: Context, report: Report, parsed: InboundMessage, position: Position) -> None:
    report.lat, report.lon, report.location_source = position.lat, position.lon, "pin"
    report.confidence = {**(report.confidence or {}), "location": 1.0}
    mark(report, None)
    if position.label:
        report.address_label = position.label[:300]
    ctx.session.add(
        Event(
            report_id=report.id,
            actor="citoyen",
            action="located",
            detail={"source": "pin", "label": position.label, "score": 1.0, "raw_message_id": ctx.raw.id},
        )
    )


@register("thread_sms")
class ThreadSmsStage(BaseStage):
    """Continue a report from a phone: its tracking number, a location share, or the same number soon after."""

    def file(self, ctx: Context) -> None:
        """Set `ctx.report` (role follow_up) when an SMS/WhatsApp message continues an open report."""
        parsed = ctx.inbound
        if parsed is None or parsed.channel not in TEXT_CHANNELS or ctx.report is not None:
            return
        position = parsed.position
        phone = parsed.sender_phone
        if not phone:
            return
        report = _by_tracking(ctx, parsed.text, phone)
        if report is None:
            # An answer to the location question joins its report for the whole answer window.
            report = asked_report(ctx.session, ctx.config, phone, at=_aware(ctx.raw.received_at))
            if report is not None and position is not None:
                _pin(ctx, report, parsed, position)
        if report is None:
            last = _last_open(ctx, phone)
            if last is not None:
                candidate, at = last
                window = timedelta(minutes=ctx.config.twilio.thread_window_minutes)
                if position is not None and not parsed.text:
                    if candidate.location_source != "agent":  # an agent's placement is never overridden
                        _pin(ctx, candidate, parsed, position)
                    report = candidate
                elif _aware(ctx.raw.received_at) - at <= window:
                    report = candidate
        if report is not None:
            ctx.report = report
            ctx.role = "follow_up"
