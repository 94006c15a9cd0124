"""Stage "triage": send to "à qualifier" what the models are unsure of, with the reasons."""

from __future__ import annotations

from intake.geocoding.precision import review_reason
from intake.pipeline.registry import BaseStage, Context, register
from intake.reports.statuses import NEEDS_REVIEW
from intake.reports.voicemail import note_on_recording, reasons_for

# Starts with "catégorie" so that an agent's correction of the category clears it (reports/corrections.py).
UNUSUAL_REASON = "catégorie à vérifier : texte inhabituel (aucun mot connu d'une catégorie)"


@register("triage")
class TriageStage(BaseStage):
    """A new report the models are unsure of, or that nobody could place, waits for an agent."""

    def file(self, ctx: Context) -> None:
        """Set the status of a new report from its confidences."""
        report = ctx.report
        if report is None or not ctx.created:
            return
        reasons = []
        threshold = ctx.config.classifier.review_threshold
        confidence = (report.confidence or {}).get("category")
        if report.category_source == "model" and (confidence is None or confidence < threshold):
            reasons.append(f"catégorie incertaine ({confidence or 0:.0%})")
        if report.category_source == "model" and getattr(ctx.reading.prediction, "unusual", False):
            # no word of the text marks any category: the model's confidence means nothing here
            reasons.append(UNUSUAL_REASON)
        if report.lat is None:
            reasons.append("aucune localisation" if not report.address_voie else "adresse non trouvée")
        elif (loose := review_reason(report, ctx.config.addresses.max_estimate_m)) is not None:
            reasons.append(loose)  # "n° 12 absent de la référence…": an agent checks before it is transmitted
        if not report.citizen_recovered:
            reasons.append("citoyen non identifié")
        # A voicemail is only as good as its machine transcript: missing, empty, short or unsure, an agent listens.
        reasons.extend(reasons_for(ctx.inbound, ctx.config.transcription))
        if (
            ctx.inbound is not None
            and ctx.message is not None
            and ctx.message.raw_message_id == ctx.raw.id
            and ctx.inbound.channel == "voice"
        ):
            note_on_recording(ctx.session, ctx.message, ctx.inbound)  # the transcript, or the key of the one awaited
        report.review_reasons = reasons
        if reasons and report.status == "nouveau":
            report.status = NEEDS_REVIEW
