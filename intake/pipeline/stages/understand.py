"""Understanding stages: classify the category, locate the problem, triage what an agent must check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from intake.models import Attachment, Event
from intake.pipeline.registry import Context, register

NEEDS_REVIEW = "a_qualifier"


def _understanding(ctx: Context) -> Any:
    return ctx.resources.understanding()


def _message_text(ctx: Context) -> tuple[str, str]:
    parsed = ctx.parsed
    return (parsed.subject or "", parsed.text or "") if parsed is not None else ("", "")


@register("classify")
class ClassifyStage:
    """Give a new report its category, calibrated confidence and service (agents' choices are kept)."""

    name = "classify"

    def process(self, ctx: Context) -> None:
        """Classify `ctx.report` from the message that opened it."""
        report = ctx.report
        if report is None or not ctx.created or report.category_source in {"agent", "app"}:
            return
        services = {c.code: c.service for c in ctx.config.categories}
        chosen = getattr(ctx.parsed, "category", None)
        if chosen in services:  # picked in an app (Open311 service_code) or by staff typing it in: kept
            source = getattr(ctx.parsed, "category_source", "app")
            report.category, report.category_source, report.service = chosen, source, services[chosen]
            report.confidence = {**(report.confidence or {}), "category": 1.0}
            ctx.session.add(Event(report_id=report.id, action="classified",
                                  detail={"category": chosen, "confidence": 1.0, "source": source}))
            return
        subject, text = _message_text(ctx)
        pred = _understanding(ctx).classify(subject, text)
        report.category = pred.category
        report.category_source = "model"
        report.confidence = {**(report.confidence or {}), "category": round(pred.confidence, 4)}
        report.service = services.get(pred.category)
        ctx.session.add(Event(report_id=report.id, action="classified",
                              detail={"category": pred.category, "confidence": round(pred.confidence, 4)}))


@register("locate")
class LocateStage:
    """Place the report: a photo's GPS inside the commune, else the address written in the text."""

    name = "locate"

    def process(self, ctx: Context) -> None:
        """Set the report's position and address when it has none from an agent."""
        report = ctx.report
        if report is None or report.location_source in {"pin", "agent"}:
            return
        if not ctx.created and report.lat is not None:
            return  # a follow-up does not move a report already placed
        share = (getattr(ctx.parsed, "lat", None), getattr(ctx.parsed, "lon", None))
        if share[0] is not None and share[1] is not None:
            # A WhatsApp location share or an app's pin is the citizen's own (a staff entry's point the agent's):
            # exact, whatever the text says.
            source = getattr(ctx.parsed, "location_source", "pin")
            report.lat, report.lon, report.location_source = float(share[0]), float(share[1]), source
            report.confidence = {**(report.confidence or {}), "location": 1.0}
            report.address_label = getattr(ctx.parsed, "location_label", None) or report.address_label
            ctx.session.add(Event(report_id=report.id, action="located", detail={"source": source, "score": 1.0}))
            return
        understanding = _understanding(ctx)
        subject, text = _message_text(ctx)
        mention, result = understanding.locate_text(subject, text)
        photos = ctx.session.execute(
            select(Attachment.gps_lat, Attachment.gps_lon).where(
                Attachment.report_id == report.id, Attachment.gps_lat.is_not(None))
        ).all()
        where = understanding.choose_location(exif=[(a, b) for a, b in photos], text_result=result, mention=mention)
        if where is None:
            if mention is not None:
                report.address_voie = mention.voie
                report.address_numero = mention.numero
            return
        report.lat, report.lon, report.location_source = where.lat, where.lon, where.source
        report.confidence = {**(report.confidence or {}), "location": round(where.score, 4)}
        geo = where.result
        if geo is not None:
            report.address_label = geo.label
            report.address_voie = geo.street
            report.address_numero = (mention.numero if mention is not None else None) or geo.housenumber
            report.address_rep = mention.rep if mention is not None else None
            report.address_postcode = geo.postcode
            report.address_citycode = geo.citycode
        ctx.session.add(Event(report_id=report.id, action="located",
                              detail={"source": where.source, "label": where.label, "score": round(where.score, 4)}))


@register("triage")
class TriageStage:
    """Send to "à qualifier" what the models are unsure of, with the reasons."""

    name = "triage"

    def process(self, ctx: Context) -> None:
        """Set the status of a new report from its confidences."""
        report = ctx.report
        if report is None or not ctx.created:
            return
        reasons = []
        threshold = ctx.config.classifier.review_threshold
        confidence = (report.confidence or {}).get("category")
        if report.category_source == "model" and (confidence is None or confidence < threshold):
            reasons.append(f"catégorie incertaine ({confidence or 0:.0%})")
        if report.lat is None:
            reasons.append("aucune localisation" if not report.address_voie else "adresse non trouvée")
        if not report.citizen_recovered:
            reasons.append("citoyen non identifié")
        report.review_reasons = reasons
        if reasons and report.status == "nouveau":
            report.status = NEEDS_REVIEW
