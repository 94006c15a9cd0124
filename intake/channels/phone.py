"""The Twilio doors: SMS, WhatsApp and voicemail bodies into InboundMessages, media fetched from Twilio."""

from __future__ import annotations

import mimetypes

from intake.channels.base import RawInput
from intake.channels.sms import parse_sms, parse_voice
from intake.config import Config, Twilio
from intake.message import Address, InboundMessage, ParsedAttachment, Position, SkippedAttachment
from intake.outbox.twilio_client import download_media
from intake.outbox.twilio_errors import MediaRefused, TwilioPermanent


def fetch_media(settings: Twilio, url: str) -> tuple[bytes, str]:
    """Download one Twilio media file (the seam tests replace)."""
    return download_media(settings, url)


def download_all(config: Config, urls: list[tuple[str, str, str]]) -> tuple[
        list[ParsedAttachment], list[SkippedAttachment]]:
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
                files.append(ParsedAttachment(filename=name, content_type=content_type or declared,
                                              payload=payload, origin="twilio"))
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
            channel=sms.channel, text=sms.body.strip(), sender=Address(name=sms.profile_name, email=None),
            sender_phone=sms.sender_e164, answer_to=sms.reply_to, message_id=sms.message_sid or None,
            attachments=tuple(files), skipped_attachments=tuple(skipped), position=position,
        )


class VoiceChannel:
    """Voicemail left on the town's number: the recording, its caller and duration."""

    name = "voice"
    label = "Message vocal"
    phrase = "message vocal"

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """The recording downloaded as MP3; the text says who called and for how long."""
        voice = parse_voice(raw.payload)
        url = voice.recording_url
        if url and not url.rsplit("/", 1)[-1].count("."):
            url += ".mp3"  # Twilio serves the recording as MP3 when asked by extension
        sid = voice.recording_sid or f"raw{raw.id}"
        files, skipped = download_all(config, [(url, "audio/mpeg", f"message-vocal-{sid}")] if url else [])
        who = voice.sender_e164 or voice.sender or "numéro masqué"
        duration = voice.duration if voice.duration is not None else "?"
        return InboundMessage(
            channel="voice", text=f"Message vocal de {who} ({duration} s) : à écouter",
            sender_phone=voice.sender_e164, message_id=voice.recording_sid or None,
            attachments=tuple(files), skipped_attachments=tuple(skipped),
        )
