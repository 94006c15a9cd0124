"""The transcriber seam: voicemail recordings into French text, the engine chosen in `transcription.engine`.

none            nothing is transcribed: agents listen to every voicemail (the behaviour before transcription);
twilio          Twilio Conversational Intelligence, whose service is set to fr-FR (`<Record transcribe>` only
                transcribes English, at most two minutes, without any confidence): asked for when the recording is
                read, the transcript arrives later (signed callback `/twilio/voice/transcript`, or the workers'
                poll) and re-runs understanding on the report;
module:factory  a town's own engine (a local speech-to-text): `factory(config)` returns a Transcriber whose
                `transcribe` answers at once, within the message's budget (docs/transcription.md).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

from intake.config import Config, ConfigError
from intake.message import Transcript
from intake.outbox.twilio_client import close_client, make_client
from intake.outbox.twilio_errors import twilio_errors

# Conversational Intelligence transcript statuses that are not final yet.
_WORKING = frozenset({"queued", "in-progress", "new"})


@dataclass(frozen=True)
class Recording:
    """A voicemail as the transcriber sees it: Twilio's ids, its URL and, once downloaded, its audio."""

    sid: str
    url: str
    call_sid: str | None = None
    audio: bytes | None = None
    content_type: str = "audio/mpeg"
    duration: int | None = None


class Transcriber(Protocol):
    """Turns a recording into a Transcript, now (a local engine) or later (Twilio, through `fetch`)."""

    name: str

    def transcribe(self, recording: Recording) -> Transcript | str | None:
        """The transcript now, the engine's key of one that will arrive later, or None when nothing is asked."""
        ...

    def fetch(self, key: str) -> Transcript | None:
        """The finished (completed or failed) transcript of `key`, or None while the engine still works on it."""
        ...


class NoTranscriber:
    """Transcribes nothing: voicemails wait for an agent to listen."""

    name = "none"

    def transcribe(self, recording: Recording) -> Transcript | str | None:
        """Nothing asked."""
        return None

    def fetch(self, key: str) -> Transcript | None:
        """Nothing ever arrives."""
        return None


class TwilioTranscriber:
    """Twilio Conversational Intelligence (v2 Transcripts) on the town's fr-FR service, through the REST client."""

    name = "twilio"

    def __init__(self, config: Config) -> None:
        self.config = config

    def transcribe(self, recording: Recording) -> Transcript | str | None:
        """Ask for the recording's transcript once: an existing transcript of the same recording is reused."""
        service = self.config.transcription.intelligence_service_sid
        client = make_client(self.config.twilio)
        try:
            with twilio_errors():
                transcripts = client.intelligence.v2.transcripts
                for existing in transcripts.list(source_sid=recording.sid, limit=20):
                    if existing.service_sid == service:
                        return str(existing.sid)
                channel = {
                    "media_properties": {"source_sid": recording.sid},
                    "participants": [{"role": "Customer", "channel_participant": 1}],
                }
                created = transcripts.create(service_sid=service, channel=channel, customer_key=recording.sid)
                return str(created.sid)
        finally:
            close_client(client)

    def fetch(self, key: str) -> Transcript | None:
        """The transcript resource and its sentences; the confidence is the word-weighted mean of the sentences'."""
        client = make_client(self.config.twilio)
        try:
            with twilio_errors():
                context = client.intelligence.v2.transcripts(key)
                resource = context.fetch()
                status = str(resource.status or "")
                if status in _WORKING:
                    return None
                media = (resource.channel or {}).get("media_properties") or {}
                recording = str(
                    resource.customer_key or (media.get("source_sid") if isinstance(media, dict) else "") or ""
                )
                if status != "completed":
                    return Transcript(
                        key=key, recording_sid=recording, engine=self.name, status=status or "failed", text=""
                    )
                language, wanted = resource.language_code, self.config.transcription.language
                if language and language.lower() != wanted.lower():  # a service set to another language
                    return Transcript(
                        key=key,
                        recording_sid=recording,
                        engine=self.name,
                        status="failed",
                        text="",
                        error=f"langue {language} au lieu de {wanted}",
                    )
                sentences = sorted(context.sentences.list(), key=lambda s: s.sentence_index or 0)
        finally:
            close_client(client)
        said = [((s.transcript or "").strip(), s.confidence) for s in sentences]
        return Transcript(
            key=key,
            recording_sid=recording,
            engine=self.name,
            status="completed",
            text=" ".join(text for text, _ in said if text),
            confidence=mean_confidence(said),
        )


def mean_confidence(sentences: list[tuple[str, Any]]) -> float | None:
    """The mean of the sentences' confidences weighted by their words; None when no sentence has one."""
    total = weight = 0.0
    for text, confidence in sentences:
        try:
            value = float(confidence)
        except (TypeError, ValueError):
            continue
        words = max(len(text.split()), 1)
        total, weight = total + value * words, weight + words
    return round(total / weight, 4) if weight else None


TRANSCRIBERS: dict[str, Callable[[Config], Transcriber]] = {
    "none": lambda config: NoTranscriber(),
    "twilio": TwilioTranscriber,
}


def register(name: str, factory: Callable[[Config], Transcriber]) -> None:
    """Add an engine under `name` (`transcription.engine: name`), as the built-ins are."""
    TRANSCRIBERS[name] = factory


def build_transcriber(config: Config) -> Transcriber:
    """The configured engine: a registered name, or "package.module:factory" called with the Config."""
    engine = config.transcription.engine
    factory = TRANSCRIBERS.get(engine)
    if factory is None and ":" in engine:
        module, _, attr = engine.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"transcription.engine : {engine!r} introuvable ({exc})") from None
    if factory is None:
        raise ConfigError(
            f"transcription.engine : {engine!r} inconnu (connus : {', '.join(sorted(TRANSCRIBERS))}, "
            "ou « module:fabrique »)"
        )
    return factory(config)


def transcript_notice(payload: bytes) -> str | None:
    """The transcript SID a transcript callback names (Conversational Intelligence posts JSON; form accepted too)."""
    text = payload.decode("utf-8", "replace").strip()
    fields: dict[str, Any] = {}
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        fields = loaded if isinstance(loaded, dict) else {}
    else:
        fields = dict(parse_qsl(text, keep_blank_values=True))
    sid = fields.get("transcript_sid") or fields.get("TranscriptSid")
    return sid if isinstance(sid, str) and sid else None
