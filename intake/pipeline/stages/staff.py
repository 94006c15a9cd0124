"""Staff entry: a report typed in by reception staff (telephone, accueil, courrier) from the back office form."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from intake.email.model import Address, ParsedAttachment, SkippedAttachment
from intake.phones import to_e164
from intake.pipeline.registry import Context, register
from intake.pipeline.stages.sms import PhoneMessage

# Raw channels of the form; the report keeps the one the citizen used.
STAFF_CHANNELS = {"telephone": "Téléphone", "accueil": "Accueil de la mairie", "courrier": "Courrier"}


@dataclass
class StaffMessage(PhoneMessage):
    """What the agent typed: the citizen's words, contact, the category and position when the agent knew them."""

    category: str | None = None
    category_source: str = "agent"
    entered_by: str | None = None
    location_source: str = "agent"


def _field(fields: dict[str, Any], key: str, limit: int) -> str | None:
    value = fields.get(key)
    text = str(value).strip()[:limit] if value is not None else ""
    return text or None


def _media(fields: dict[str, Any]) -> tuple[list[ParsedAttachment], list[SkippedAttachment]]:
    files: list[ParsedAttachment] = []
    skipped: list[SkippedAttachment] = []
    for item in fields.get("media") or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("filename") or "photo")[:200]
        content_type = str(item.get("content_type") or "application/octet-stream")[:120]
        try:
            payload = base64.b64decode(str(item.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            skipped.append(SkippedAttachment(name, content_type, 0, "fichier illisible (base64 invalide)"))
            continue
        files.append(ParsedAttachment(filename=name, content_type=content_type, payload=payload, origin="staff"))
    return files, skipped


def _coordinate(fields: dict[str, Any], key: str) -> float | None:
    try:
        value = fields.get(key)
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def parse_staff(payload: bytes, *, channel: str, labels: dict[str, str]) -> StaffMessage:
    """Build the message from the stored form fields (JSON); unknown values are simply absent."""
    fields = json.loads(payload.decode("utf-8"))
    if not isinstance(fields, dict):
        raise ValueError("saisie : un objet JSON est attendu")
    code = _field(fields, "category", 40)
    email = _field(fields, "email", 320)
    phone = to_e164(_field(fields, "phone", 40))
    address = _field(fields, "address", 300)
    text = _field(fields, "text", 20_000) or ""
    if address and address.casefold() not in text.casefold():
        text = f"{text}\n\nAdresse : {address}"
    lat, lon = _coordinate(fields, "lat"), _coordinate(fields, "lon")
    files, skipped = _media(fields)
    category = code if code in labels else None
    subject = _field(fields, "subject", 200) or (labels[category] if category else STAFF_CHANNELS[channel])
    return StaffMessage(
        channel=channel, text=text.strip(), sender=Address(name=_field(fields, "name", 200), email=email),
        sender_phone=phone, reply_to=None, message_id=None, attachments=files, skipped_attachments=skipped,
        lat=lat if lon is not None else None, lon=lon if lat is not None else None, location_label=address,
        subject=subject, category=category, entered_by=_field(fields, "entered_by", 120),
        location_source=_field(fields, "location_source", 10) or "agent",
    )


@register("parse_staff")
class ParseStaffStage:
    """Set `ctx.parsed` for reports typed in by staff; other channels go on untouched."""

    name = "parse_staff"

    def process(self, ctx: Context) -> None:
        """Parse the stored form of a telephone/accueil/courrier entry."""
        if ctx.raw.channel not in STAFF_CHANNELS:
            return
        labels = {c.code: c.label for c in ctx.config.categories}
        ctx.parsed = parse_staff(ctx.raw.payload, channel=ctx.raw.channel, labels=labels)
        entered_by = ctx.parsed.entered_by
        if entered_by:
            ctx.notes.append(f"Saisi par {entered_by} ({STAFF_CHANNELS[ctx.raw.channel].lower()}).")
