"""Stage "transcript": a voicemail's transcript arriving after its recording re-runs understanding on that report.

The recording was filed first (its report exists, with the audio); the transcript's own raw message (key: the
engine's transcript id) is read like any message in phase 1 (classify and locate read the transcript's text),
then filed here onto the recording's report, and the later stages file nothing more. Idempotent on the
RecordingSid: a second transcript of the same recording changes nothing; a report an agent already qualified
only gets the text shown, never a new category or place.
"""

from __future__ import annotations

from intake.models import Event, Report
from intake.pipeline.registry import BaseStage, Context, register
from intake.pipeline.stages.ask_location import AskLocationStage
from intake.pipeline.stages.classify import ClassifyStage
from intake.pipeline.stages.dedupe import DedupeStage
from intake.pipeline.stages.locate import LocateStage
from intake.pipeline.stages.route import RouteStage
from intake.pipeline.stages.triage import TriageStage
from intake.reports.statuses import NEEDS_REVIEW
from intake.reports.voicemail import agent_qualified, as_detail, recording_message


class RecordingNotFiled(Exception):
    """The transcript came before its recording was filed: parked, retried once the recording is in."""


@register("transcript")
class TranscriptStage(BaseStage):
    """File a late transcript onto its recording's report and run the understanding stages on it there."""

    def file(self, ctx: Context) -> None:
        """Apply the transcript to the recording's report, then stop the pipeline for this message."""
        parsed = ctx.inbound
        if parsed is None or parsed.transcript is None or parsed.transcript_of is None:
            return
        transcript = parsed.transcript
        message = recording_message(ctx.session, parsed.transcript_of)
        if message is None:
            raise RecordingNotFiled(
                f"message vocal {parsed.transcript_of[:40]} pas encore classé : transcription gardée, à reprendre"
            )
        report = ctx.session.get(Report, message.report_id)
        assert report is not None
        ctx.report, ctx.message, ctx.inbound = report, message, None  # the later stages file nothing
        details = dict(message.details or {})
        if "transcript" in details:
            return  # this recording was transcribed already: a second arrival changes nothing
        qualified = agent_qualified(ctx.session, report)
        details["transcript"] = as_detail(transcript, raw_message_id=ctx.raw.id)
        details.pop("transcript_pending", None)
        message.details = details
        if transcript.text.strip():
            report.description = f"{report.description}\n\nTranscription automatique : {transcript.text.strip()}"
        ctx.session.add(
            Event(
                report_id=report.id,
                action="transcribed",
                detail={
                    "engine": transcript.engine,
                    "status": transcript.status,
                    "confidence": transcript.confidence,
                    "applied": not qualified,
                    "raw_message_id": ctx.raw.id,
                },
            )
        )
        if qualified:
            return
        if report.status == NEEDS_REVIEW:
            report.status = "nouveau"  # triage decides again, with the transcript
        # As for a new message, except that the caller is the recording's (the transcript names nobody), and
        # the question of where, held while the transcript was awaited, is asked now if still needed.
        caller = report.author.phone if report.author is not None else None
        ctx.inbound, ctx.created = parsed.but(sender_phone=caller), True
        try:
            for stage in (
                ClassifyStage(),
                LocateStage(),
                DedupeStage(),
                TriageStage(),
                RouteStage(),
                AskLocationStage(),
            ):
                stage.file(ctx)
        finally:
            ctx.inbound, ctx.created = None, False
