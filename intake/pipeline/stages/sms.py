"""SMS, WhatsApp and voicemail stages: parse the Twilio body, honour STOP/START, thread by number and window."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from intake.channels.sms import parse_sms, parse_voice
from intake.config import Config, Twilio
from intake.email.model import Address, ParsedAttachment, SkippedAttachment
from intake.models import Contact, Event, Outbox, RawMessage, Report, ReportMessage, utcnow
from intake.outbox.notify import make_message_id, template
from intake.pipeline.registry import Context, register
from intake.reports.relocate import asked_report
from intake.reports.tracking import find_tracking_numbers

SMS_CHANNELS = frozenset({"sms", "whatsapp"})
PHONE_CHANNELS = SMS_CHANNELS | {"voice"}
CLOSED = ("resolu", "rejete")
STOP_WORDS = frozenset({"STOP", "ARRET", "ARRÊT", "STOP SMS", "STOPALL", "UNSUBSCRIBE"})
START_WORDS = frozenset({"START", "UNSTOP", "REPRISE"})


@dataclass
class PhoneMessage:
    """A message from a phone, exposing the attributes the filing, media and understanding stages read."""

    channel: str  # sms | whatsapp | voice
    text: str
    sender: Address
    sender_phone: str | None
    reply_to: str | None  # Twilio address to answer ("whatsapp:+33…" on WhatsApp)
    message_id: str | None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    skipped_attachments: list[SkippedAttachment] = field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    location_label: str | None = None
    subject: str = ""
    header_from: Address = Address(name=None, email=None)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    forwarded_by: Address | None = None
    forwarded: bool = False
    citizen_recovered: bool = True
    auto_reply: bool = False
    auto_reply_kind: str | None = None
    auto_reply_reason: str | None = None
    quoted: str = ""
    signature: str = ""
    html: str | None = None
    defects: list[str] = field(default_factory=list)


def fetch_media(settings: Twilio, url: str) -> tuple[bytes, str]:
    """Download one Twilio media file (the seam tests replace)."""
    from intake.outbox.twilio_client import download_media

    return download_media(settings, url)


def render_sms(config: Config, source: str, *, report: Report | None = None) -> str:
    """Render an SMS template (tracking_number, town, status_url) on one line."""
    values: dict[str, Any] = {"town": config.town.name}
    if report is not None:
        values["tracking_number"] = report.tracking_number
        values["status_url"] = f"{config.town.public_url.rstrip('/')}/suivi/{report.public_token}"
    return " ".join(template(source).render(values).split())


def _download(ctx: Context, urls: list[tuple[str, str, str]]) -> tuple[list[ParsedAttachment], list[SkippedAttachment]]:
    """Fetch (url, declared type, file stem) media; refusals become skipped files with a French reason."""
    from intake.outbox.twilio_errors import MediaRefused, TwilioPermanent

    settings = ctx.config.twilio
    accepted = {t.lower() for t in settings.media_types}
    files: list[ParsedAttachment] = []
    skipped: list[SkippedAttachment] = []
    for i, (url, declared, stem) in enumerate(urls):
        name = f"{stem}{mimetypes.guess_extension(declared) or ''}" if declared else stem
        if i >= ctx.config.storage.max_attachments:
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


@register("parse_sms")
class ParseSmsStage:
    """Turn a Twilio SMS/WhatsApp webhook or a voicemail recording callback into a PhoneMessage."""

    name = "parse_sms"

    def process(self, ctx: Context) -> None:
        """Set `ctx.parsed` for the sms and voice channels (media downloaded from Twilio)."""
        if ctx.raw.channel == "sms":
            sms = parse_sms(ctx.raw.payload)
            sid = sms.message_sid or f"raw{ctx.raw.id}"
            refs = [(m.url, m.content_type, f"{sid}-{i}") for i, m in enumerate(sms.media)]
            files, skipped = _download(ctx, refs)
            ctx.parsed = PhoneMessage(
                channel=sms.channel, text=sms.body.strip(), sender=Address(name=sms.profile_name, email=None),
                sender_phone=sms.sender_e164, reply_to=sms.reply_to, message_id=sms.message_sid or None,
                attachments=files, skipped_attachments=skipped, lat=sms.latitude, lon=sms.longitude,
                location_label=sms.address or sms.label,
            )
        elif ctx.raw.channel == "voice":
            voice = parse_voice(ctx.raw.payload)
            url = voice.recording_url
            if url and not url.rsplit("/", 1)[-1].count("."):
                url += ".mp3"  # Twilio serves the recording as MP3 when asked by extension
            sid = voice.recording_sid or f"raw{ctx.raw.id}"
            files, skipped = _download(ctx, [(url, "audio/mpeg", f"message-vocal-{sid}")] if url else [])
            who = voice.sender_e164 or voice.sender or "numéro masqué"
            duration = voice.duration if voice.duration is not None else "?"
            ctx.parsed = PhoneMessage(
                channel="voice", text=f"Message vocal de {who} ({duration} s) : à écouter",
                sender=Address(name=None, email=None), sender_phone=voice.sender_e164, reply_to=None,
                message_id=voice.recording_sid or None, attachments=files, skipped_attachments=skipped,
            )
        else:
            return
        if ctx.parsed.sender_phone and ctx.parsed.sender_phone in ctx.config.twilio.numbers:
            ctx.no_confirmation = "message envoyé par un numéro de la mairie"


def _keyword(text: str) -> str:
    return " ".join(text.strip().rstrip(".!").split()).upper()


def _latest_report(ctx: Context, contact: Contact) -> Report | None:
    return ctx.session.execute(
        select(Report).where(Report.author_id == contact.id).order_by(Report.created_at.desc(), Report.id.desc())
    ).scalars().first()


@register("optout")
class OptOutStage:
    """STOP and START keywords: record the choice, answer once, file nothing."""

    name = "optout"

    def process(self, ctx: Context) -> None:
        """Handle STOP/START from an SMS or WhatsApp number; other messages go on."""
        parsed = ctx.parsed
        if parsed is None or getattr(parsed, "channel", "email") not in SMS_CHANNELS or not parsed.sender_phone:
            return
        word = _keyword(parsed.text)
        if word not in STOP_WORDS and word not in START_WORDS:
            return
        stop = word in STOP_WORDS
        phone = parsed.sender_phone
        contact = ctx.session.execute(select(Contact).where(Contact.phone == phone)).scalar_one_or_none()
        if contact is None:
            contact = Contact(phone=phone, name=parsed.sender.name)
            ctx.session.add(contact)
        contact.opt_out, contact.opt_out_at = stop, (utcnow() if stop else None)
        ctx.session.flush()
        templates = ctx.config.templates
        kind, template = ("stop_ack", templates.sms_stopped) if stop else ("start_ack", templates.sms_started)
        report = _latest_report(ctx, contact)
        # The outbox hangs off a report; a number that never reported anything gets no answer (nothing was
        # ever sent to it either). Even an opted-out number gets this one answer.
        if report is not None and parsed.reply_to:
            exists = ctx.session.execute(select(Outbox.id).where(
                Outbox.report_id == report.id, Outbox.kind == kind, Outbox.recipient == parsed.reply_to)).first()
            if not exists:
                row = Outbox(report_id=report.id, kind=kind, channel=parsed.channel, recipient=parsed.reply_to,
                             subject="", body=render_sms(ctx.config, template),
                             message_id=make_message_id(ctx.config.town.mail_domain), in_reply_to=parsed.message_id)
                ctx.session.add(row)
                ctx.session.flush()
                ctx.outbox_ids.append(row.id)
            ctx.session.add(Event(report_id=report.id, action="sms_opt_out" if stop else "sms_opt_in",
                                  detail={"raw_message_id": ctx.raw.id}))
        # Not Discard: that would roll back the opt-out with the transaction. Clearing `parsed` makes every
        # later stage a no-op and commits the choice.
        ctx.parsed = None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _last_open(ctx: Context, phone: str) -> tuple[Report, datetime] | None:
    """The open report this number wrote to last, with when that message arrived."""
    row = ctx.session.execute(
        select(Report, RawMessage.received_at)
        .join(ReportMessage, ReportMessage.report_id == Report.id)
        .join(RawMessage, RawMessage.id == ReportMessage.raw_message_id)
        .join(Contact, Contact.id == Report.author_id)
        .where(Contact.phone == phone, Report.status.not_in(CLOSED), RawMessage.id != ctx.raw.id,
               RawMessage.received_at <= ctx.raw.received_at)
        .order_by(RawMessage.received_at.desc(), ReportMessage.id.desc())
        .limit(1)
    ).first()
    return (row[0], _aware(row[1])) if row is not None else None


def _by_tracking(ctx: Context, text: str, phone: str) -> Report | None:
    # Only the report's author may attach to it by number: a number alone could be typed by anyone.
    for number in find_tracking_numbers(text):
        report = ctx.session.execute(select(Report).where(Report.tracking_number == number)).scalar_one_or_none()
        if report is not None and report.author is not None and report.author.phone == phone:
            return report
    return None


def _pin(ctx: Context, report: Report, parsed: PhoneMessage) -> None:
    report.lat, report.lon, report.location_source = parsed.lat, parsed.lon, "pin"
    report.confidence = {**(report.confidence or {}), "location": 1.0}
    if parsed.location_label:
        report.address_label = parsed.location_label[:300]
    ctx.session.add(Event(report_id=report.id, actor="citoyen", action="located",
                          detail={"source": "pin", "label": parsed.location_label, "score": 1.0,
                                  "raw_message_id": ctx.raw.id}))


@register("thread_sms")
class ThreadSmsStage:
    """Continue a report from a phone: its tracking number, a location share, or the same number soon after."""

    name = "thread_sms"

    def process(self, ctx: Context) -> None:
        """Set `ctx.report` (role follow_up) when an SMS/WhatsApp message continues an open report."""
        parsed = ctx.parsed
        if parsed is None or getattr(parsed, "channel", "email") not in SMS_CHANNELS or ctx.report is not None:
            return
        phone = parsed.sender_phone
        if not phone:
            return
        report = _by_tracking(ctx, parsed.text, phone)
        if report is None:
            # An answer to the location question joins its report for the whole answer window.
            report = asked_report(ctx.session, ctx.config, phone, at=_aware(ctx.raw.received_at))
            if report is not None and parsed.lat is not None and parsed.lon is not None:
                _pin(ctx, report, parsed)
        if report is None:
            last = _last_open(ctx, phone)
            if last is not None:
                candidate, at = last
                window = timedelta(minutes=ctx.config.twilio.thread_window_minutes)
                if parsed.lat is not None and parsed.lon is not None and not parsed.text:
                    if candidate.location_source != "agent":  # an agent's placement is never overridden
                        _pin(ctx, candidate, parsed)
                    report = candidate
                elif _aware(ctx.raw.received_at) - at <= window:
                    report = candidate
        if report is not None:
            ctx.report = report
            ctx.role = "follow_up"
