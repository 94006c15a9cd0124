"""The transcripts' poll: a voicemail transcript that was never called back is fetched by the workers.

A transcript asked for (event "transcription_requested") and not filed after `transcription.poll_after_seconds`
is fetched from the engine; once finished it is stored like the callback would have stored it (same raw key:
the engine's transcript id, so a callback arriving too is stored once) and processed; a callback that was stored
but could not be read then (Twilio away) is put back to pending. A transcript parked
because it came before its recording was filed goes back to pending once the recording is in. A transcript
still missing after `give_up_hours` is abandoned: the report says so and agents listen to the recording.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.channels.transcribers import build_transcriber
from intake.config import Config
from intake.models import Event, RawMessage, Report, utcnow
from intake.outbox.twilio_errors import TwilioError
from intake.pipeline.rawstore import finish, store_raw
from intake.reports.voicemail import PENDING

log = logging.getLogger(__name__)
SOURCE = "transcription"  # raw_message.source of transcripts (callback or poll)
ABANDONED = "transcription non reçue : écouter le message"
_DONE = ("transcribed", "transcription_abandoned")


@dataclass
class TranscriptPoll:
    """What one poll did: transcripts looked for, stored (new raw ids), parked ones put back, abandoned."""

    checked: int = 0
    stored: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    abandoned: int = 0


def _awaited(session: Session, *, since: datetime, until: datetime) -> list[tuple[int, str]]:
    """(report id, transcript key) asked for between `since` and `until` and neither filed nor abandoned."""
    asked = session.execute(
        select(Event.report_id, Event.detail).where(
            Event.action == "transcription_requested", Event.at >= since, Event.at <= until
        )
    ).all()
    ids = [report_id for report_id, _ in asked]
    done = (
        set(session.execute(select(Event.report_id).where(Event.action.in_(_DONE), Event.report_id.in_(ids))).scalars())
        if ids
        else set()
    )
    return [
        (report_id, str((detail or {}).get("key") or ""))
        for report_id, detail in asked
        if report_id not in done and (detail or {}).get("key")
    ]


def _abandon(session: Session, *, before: datetime) -> int:
    """Mark transcripts asked for before `before` and never filed as abandoned; the reports say why."""
    count = 0
    for report_id, key in _awaited(session, since=datetime.min.replace(tzinfo=before.tzinfo), until=before):
        report = session.get(Report, report_id)
        if report is None:
            continue
        report.review_reasons = [ABANDONED if r == PENDING else r for r in (report.review_reasons or [])]
        session.add(Event(report_id=report_id, action="transcription_abandoned", detail={"key": key}))
        count += 1
    return count


def _failed(factory: sessionmaker[Session], raw_id: int) -> bool:
    with factory() as session:
        return session.execute(select(RawMessage.status).where(RawMessage.id == raw_id)).scalar() == "failed"


def _parked_too_early(factory: sessionmaker[Session], *, since: datetime) -> list[int]:
    """Transcripts parked because their recording was not filed yet (received since `since`): tried again."""
    with factory() as session:
        return list(
            session.execute(
                select(RawMessage.id).where(
                    RawMessage.channel == "voice",
                    RawMessage.source == SOURCE,
                    RawMessage.status == "failed",
                    RawMessage.received_at >= since,
                    RawMessage.error.like("RecordingNotFiled%"),
                )
            ).scalars()
        )


def poll_transcripts(config: Config, factory: sessionmaker[Session], *, now: datetime | None = None) -> TranscriptPoll:
    """Fetch the transcripts that are late, store the finished ones; retry and abandon as the settings say."""
    settings = config.transcription
    result = TranscriptPoll()
    if settings.engine == "none":
        return result
    now = now or utcnow()
    give_up = now - timedelta(hours=settings.give_up_hours)
    with factory() as session:
        late = _awaited(session, since=give_up, until=now - timedelta(seconds=settings.poll_after_seconds))
    transcriber = build_transcriber(config)
    for _report_id, key in late:
        result.checked += 1
        try:
            transcript = transcriber.fetch(key)
        except TwilioError as exc:  # the next poll tries again
            log.warning("transcript %s not fetched: %s", key, exc)
            continue
        if transcript is None:
            continue
        raw_id, created = store_raw(
            factory,
            channel="voice",
            source=SOURCE,
            external_key=key,
            payload=json.dumps({"transcript_sid": key, "via": "poll"}).encode(),
        )
        if created:
            result.stored.append(raw_id)
        elif _failed(factory, raw_id):  # its callback came but could not be read then (Twilio away): again
            finish(factory, raw_id, status="pending", error=None)
            result.retried.append(raw_id)
    for raw_id in _parked_too_early(factory, since=give_up):
        finish(factory, raw_id, status="pending", error=None)
        result.retried.append(raw_id)
    with factory() as session, session.begin():
        result.abandoned = _abandon(session, before=give_up)
    return result
