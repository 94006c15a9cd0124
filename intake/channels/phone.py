"""The Twilio doors: SMS, WhatsApp and voicemail bodies into InboundMessages, media fetched from Twilio."""

from __future__ import annotations

import logging
import mimetypes

from intake.channels.base import RawInput
from intake.channels.sms import parse_sms, parse_voice
from intake.channels.transcribers import Recording, build_transcriber, transcript_notice
from intake.config import Config, Twilio
from intake.message import Address, InboundMessage, ParsedAttachment, Position, SkippedAttachment, Transcript
from intake.outbox.twilio_client import download_media
from intake.outbox.twilio_errors import MediaRefused, TwilioError, TwilioPermanent

log = logging.getLogger(__name__)


def fetch_media(settings: Twilio, url: str) -> tuple[bytes, str]:
    """Download one Twilio media file (the seam tests replace)."""
    return download_media(settings, url)


def download_all(
    config: Config, urls: list[tuple[str, str, str]]
) -> tuple[list[ParsedAttachment], list[SkippedAttachment]]:
    """Fetch (url, declared type, file stem) media; refusals become skipped files with a French reason."""
    settings = config.twilio
    accepted = {t.lower() for t in settings.media_types}
    files: list[ParsedAttachment] = []
    skipped: list[SkippedAttachment] = []
    for i, (url, declared, stem) in enumerate(urls):
        name = f"{stem}{mimetypes.guess_extension(declared) or ''}" if declared else stem
        if i >= config.storage.max_attachments:
            skipped.append(SkippedAttachment(name, declared, 0, "trop de pièces jointes dans le message"))
        elif declared and declared not in accepted:
            skipped.append(SkippedAttachment(name, declared, 0, f"type de fichier non accepté ({declared})"))
        else:
            try:
                payload, content_type = fetch_media(settings, url)
            except MediaRefused as exc:
                skipped.append(SkippedAttachment(name, declared, 0, exc.message))
            except TwilioPermanent as exc:  # 404: gone from Twilio; retrying would not bring it back
                skipped.append(SkippedAttachment(name, declared, 0, f"média indisponible : {exc.label}"))
            else:
                files.append(
                    ParsedAttachment(
                        filename=name, content_type=content_type or declared, payload=payload, origin="twilio"
                    )
                )
    return files, skipped


class SmsChannel:
    """SMS and WhatsApp messages to the town's Twilio number (webhook or REST polling, one stored body)."""

    name = "sms"
    label = "SMS"
    phrase = "SMS"

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """The text, the sender's number, a WhatsApp location share as a pin, the photos downloaded."""
        sms = parse_sms(raw.payload)
        sid = sms.message_sid or f"raw{raw.id}"
        files, skipped = download_all(config, [(m.url, m.content_type, f"{sid}-{i}") for i, m in enumerate(sms.media)])
        label = sms.address or sms.label
        position = None
        if sms.latitude is not None and sms.longitude is not None:
            position = Position(sms.latitude, sms.longitude, source="pin", label=label)
        return InboundMessage(
            channel=sms.channel,
            text=sms.body.strip(),
            sender=Address(name=sms.profile_name, email=None),
            sender_phone=sms.sender_e164,
            answer_to=sms.reply_to,
            message_id=sms.message_sid or None,
            attachments=tuple(files),
            skipped_attachments=tuple(skipped),
            position=position,
        )


class VoiceChannel:
    """Voicemail left on the town's number: the recording, its caller and duration, then its transcript."""

    name = "voice"
    label = "Message vocal"
    phrase = "message vocal"

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """A recording (downloaded as MP3, its transcript asked for), or the transcript of one, arriving later."""
        notice = None if b"RecordingSid=" in raw.payload else transcript_notice(raw.payload)
        if notice is not None:
            return self._transcript(notice, config)
        voice = parse_voice(raw.payload)
        url = voice.recording_url
        if url and not url.rsplit("/", 1)[-1].count("."):
            url += ".mp3"  # Twilio serves the recording as MP3 when asked by extension
        sid = voice.recording_sid or f"raw{raw.id}"
        files, skipped = download_all(config, [(url, "audio/mpeg", f"message-vocal-{sid}")] if url else [])
        who = voice.sender_e164 or voice.sender or "numéro masqué"
        duration = voice.duration if voice.duration is not None else "?"
        message = InboundMessage(
            channel="voice",
            text=f"Message vocal de {who} ({duration} s) : à écouter",
            sender_phone=voice.sender_e164,
            message_id=voice.recording_sid or None,
            attachments=tuple(files),
            skipped_attachments=tuple(skipped),
        )
        if config.transcription.engine == "none" or not voice.recording_sid:
            return message
        audio = files[0] if files else None
        recording = Recording(
            sid=voice.recording_sid,
            url=url,
            call_sid=voice.call_sid,
            duration=voice.duration,
            audio=audio.payload if audio else None,
            content_type=audio.content_type if audio else "audio/mpeg",
        )
        try:
            result = build_transcriber(config).transcribe(recording)
        except Exception as exc:  # an engine's failure never loses the voicemail: filed, agents listen to it
            why = f"demande refusée : {exc.label}" if isinstance(exc, TwilioError) else f"moteur en erreur : {exc}"
            log.warning("voicemail %s: no transcript asked (%s)", voice.recording_sid, why)
            failed = Transcript(
                key="",
                recording_sid=voice.recording_sid,
                engine=config.transcription.engine,
                status="failed",
                text="",
                error=why[:300],
            )
            return message.but(transcript=failed)
        if isinstance(result, Transcript):  # a local engine answered within the message's budget
            return message.but(transcript=result, text=result.text.strip() or message.text)
        return message.but(transcript_pending=result) if result else message

    @staticmethod
    def _transcript(key: str, config: Config) -> InboundMessage:
        """The finished transcript named by a callback (or the poll), fetched from the engine."""
        transcript = build_transcriber(config).fetch(key)
        if transcript is None:
            raise TwilioError(f"transcription {key[:40]} pas encore terminée : à reprendre plus tard")
        return InboundMessage(
            channel="voice", text=transcript.text, transcript=transcript, transcript_of=transcript.recording_sid or None
        )
