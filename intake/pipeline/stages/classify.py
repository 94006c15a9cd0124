"""Stage "classify": the category of a new report, from the model (read) or as an app or agent chose it (filed)."""

from __future__ import annotations

from intake.models import Event
from intake.pipeline.registry import BaseStage, Context, ReadContext, register


@register("classify")
class ClassifyStage(BaseStage):
    """Give a new report its category, calibrated confidence and service (agents' choices are kept)."""

    def read(self, ctx: ReadContext) -> None:
        """Ask the model, unless the category was chosen before Guichet read the message."""
        parsed = ctx.reading.inbound
        if parsed is None or parsed.category_hint is not None:
            return
        ctx.reading.prediction = ctx.resources.understanding().classify(parsed.subject or "", parsed.text or "")

    def file(self, ctx: Context) -> None:
        """Apply the category to `ctx.report` when the message opened it."""
        report, parsed = ctx.report, ctx.inbound
        if report is None or parsed is None or not ctx.created or report.category_source in {"agent", "app"}:
            return
        services = {c.code: c.service for c in ctx.config.categories}
        hint = parsed.category_hint
        if hint is not None and hint.code in services:  # picked in an app (Open311 service_code) or by staff: kept
            report.category, report.category_source, report.service = hint.code, hint.source, services[hint.code]
            report.confidence = {**(report.confidence or {}), "category": 1.0}
            ctx.session.add(
                Event(
                    report_id=report.id,
                    action="classified",
                    detail={"category": hint.code, "confidence": 1.0, "source": hint.source},
                )
            )
            return
        pred = ctx.reading.prediction
        if pred is None:  # read without the model (a hint for a category the town no longer has)
            pred = ctx.reading.prediction = ctx.resources.understanding().classify(
                parsed.subject or "", parsed.text or ""
            )
        report.category = pred.category
        report.category_source = "model"
        report.confidence = {**(report.confidence or {}), "category": round(pred.confidence, 4)}
        report.service = services.get(pred.category)
        ctx.session.add(
            Event(
                report_id=report.id,
                action="classified",
                detail={"category": pred.category, "confidence": round(pred.confidence, 4)},
            )
        )
