"""Stage "locate": place a report from a pin, a photo's GPS inside the commune, or the address in its text."""

from __future__ import annotations

from sqlalchemy import select

from intake.geocoding.precision import mark, precision_of
from intake.models import Attachment, Event
from intake.pipeline.registry import BaseStage, Context, ReadContext, register


@register("locate")
class LocateStage(BaseStage):
    """Find the address written in the text (read), then choose where the report is (filed)."""

    def read(self, ctx: ReadContext) -> None:
        """Extract and geocode the problem's address from the text (no database: the reference is in memory)."""
        parsed = ctx.reading.inbound
        if parsed is None or parsed.position is not None:
            return
        mention, result = ctx.resources.understanding().locate_text(parsed.subject or "", parsed.text or "")
        ctx.reading.mention, ctx.reading.geocoded = mention, result

    def file(self, ctx: Context) -> None:
        """Set the report's position and address when it has none from an agent."""
        report, parsed = ctx.report, ctx.inbound
        if report is None or parsed is None or report.location_source in {"pin", "agent"}:
            return
        if not ctx.created and report.lat is not None:
            return  # a follow-up does not move a report already placed
        share = parsed.position
        if share is not None:
            # A WhatsApp location share or an app's pin is the citizen's own (a staff entry's point the agent's):
            # exact, whatever the text says.
            report.lat, report.lon, report.location_source = float(share.lat), float(share.lon), share.source
            report.confidence = {**(report.confidence or {}), "location": 1.0}
            mark(report, None)
            report.address_label = share.label or report.address_label
            ctx.session.add(Event(report_id=report.id, action="located", detail={"source": share.source, "score": 1.0}))
            return
        mention, result = ctx.reading.mention, ctx.reading.geocoded
        photos = ctx.session.execute(
            select(Attachment.gps_lat, Attachment.gps_lon).where(
                Attachment.report_id == report.id, Attachment.gps_lat.is_not(None)
            )
        ).all()
        where = ctx.resources.understanding().choose_location(
            exif=[(a, b) for a, b in photos if a is not None and b is not None], text_result=result, mention=mention
        )
        if where is None:
            if mention is not None:
                report.address_voie = mention.voie
                report.address_numero = mention.numero
            return
        report.lat, report.lon, report.location_source = where.lat, where.lon, where.source
        report.confidence = {**(report.confidence or {}), "location": round(where.score, 4)}
        geo = where.result
        mark(report, geo if where.source == "text" else None)  # a photo's GPS is where it is, not an estimate
        if geo is not None:
            report.address_label = geo.label
            report.address_voie = geo.street
            report.address_numero = (mention.numero if mention is not None else None) or geo.housenumber
            report.address_rep = mention.rep if mention is not None else None
            report.address_postcode = geo.postcode
            report.address_citycode = geo.citycode
        precision, uncertainty = precision_of(geo) if geo is not None and where.source == "text" else (None, None)
        ctx.session.add(
            Event(
                report_id=report.id,
                action="located",
                detail={
                    "source": where.source,
                    "label": where.label,
                    "score": round(where.score, 4),
                    **({"precision": precision} if precision else {}),
                    **({"uncertainty_m": uncertainty} if uncertainty is not None else {}),
                },
            )
        )
