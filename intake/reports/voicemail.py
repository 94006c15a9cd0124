"""A voicemail's machine transcript on its report: kept beside the recording, judged, and never over an agent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Transcription
from intake.message import InboundMessage, Transcript
from intake.models import Event, RawMessage, Report, ReportMessage
from intake.reports.statuses import NEEDS_REVIEW

MACHINE = ("guichet", "citoyen")  # event actors that are not an agent
PENDING = "transcription en attente"


def review_reasons(transcript: Transcript | None, *, pending: bool, settings: Transcription) -> list[str]:
    """Why a voicemail's transcript cannot be trusted alone (French, for "à qualifier"); empty when it can."""
    if transcript is None:
        return [PENDING] if pending else []
    if transcript.status != "completed":
        return [f"transcription échouée ({transcript.error or transcript.status})"]
    words = len(transcript.text.split())
    if words == 0:
        return ["transcription vide"]
    reasons = []
    if words < settings.min_words:
        reasons.append(f"transcription trop courte ({words} mot{'s' if words > 1 else ''})")
    if transcript.confidence is not None and transcript.confidence < settings.min_confidence:
        reasons.append(f"transcription incertaine ({transcript.confidence:.0%})")
    return reasons


def reasons_for(parsed: InboundMessage | None, settings: Transcription) -> list[str]:
    """The transcript reasons of a voicemail message (none for other channels)."""
    if parsed is None or parsed.channel != "voice" or settings.engine == "none":
        return []
    return review_reasons(parsed.transcript, pending=parsed.transcript_pending is not None, settings=settings)


def as_detail(transcript: Transcript, **extra: Any) -> dict[str, Any]:
    """The transcript as stored in the recording's message details (shown as "Transcription automatique")."""
    return {
        "key": transcript.key,
        "recording_sid": transcript.recording_sid,
        "engine": transcript.engine,
        "status": transcript.status,
        "text": transcript.text,
        "confidence": transcript.confidence,
        "error": transcript.error,
        **extra,
    }


def stored_transcript(message: ReportMessage) -> Transcript | None:
    """The transcript kept on a recording's message (for `guichet reprocess`), or None."""
    kept = (message.details or {}).get("transcript")
    if not isinstance(kept, dict):
        return None
    return Transcript(
        key=str(kept.get("key") or ""),
        recording_sid=str(kept.get("recording_sid") or ""),
        engine=str(kept.get("engine") or ""),
        status=str(kept.get("status") or "failed"),
        text=str(kept.get("text") or ""),
        confidence=kept.get("confidence"),
        error=str(kept.get("error") or ""),
    )


def note_on_recording(session: Session, message: ReportMessage, parsed: InboundMessage) -> None:
    """Record what the recording's reading learnt of its transcript: the text, or the key of the one to come."""
    details = dict(message.details or {})
    if "transcript" in details or "transcript_pending" in details:
        return  # noted when the recording was first filed (this is `guichet reprocess`)
    if parsed.transcript is not None:
        details["transcript"] = as_detail(parsed.transcript)
        session.add(
            Event(
                report_id=message.report_id,
                action="transcribed",
                detail={
                    "engine": parsed.transcript.engine,
                    "status": parsed.transcript.status,
                    "confidence": parsed.transcript.confidence,
                    "applied": True,
                },
            )
        )
    elif parsed.transcript_pending is not None:
        details["transcript_pending"] = parsed.transcript_pending
        session.add(
            Event(
                report_id=message.report_id, action="transcription_requested", detail={"key": parsed.transcript_pending}
            )
        )
    message.details = details


def recording_message(session: Session, recording_sid: str) -> ReportMessage | None:
    """The report message of a stored voicemail recording, by its RecordingSid."""
    return (
        session.execute(
            select(ReportMessage)
            .join(RawMessage, RawMessage.id == ReportMessage.raw_message_id)
            .where(RawMessage.channel == "voice", RawMessage.external_key == recording_sid)
        )
        .scalars()
        .first()
    )


def agent_qualified(session: Session, report: Report) -> bool:
    """Whether an agent already decided something on the report (then a late transcript changes nothing)."""
    if report.category_source == "agent" or report.location_source == "agent":
        return True
    if report.status not in ("nouveau", NEEDS_REVIEW):
        return True
    return (
        session.execute(
            select(Event.id).where(Event.report_id == report.id, Event.actor.not_in(MACHINE)).limit(1)
        ).first()
        is not None
    )
