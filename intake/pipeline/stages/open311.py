"""Open311 stage: turn a stored GeoReport v2 request (JSON fields, uploaded photo) into a PhoneMessage."""

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

CHANNEL = "open311"


@dataclass
class Open311Message(PhoneMessage):
    """A PhoneMessage carrying the category the citizen chose in the app (a category code)."""

    category: str | None = None


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _float(fields: dict[str, Any], key: str) -> float | None:
    try:
        value = fields.get(key)
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _media(fields: dict[str, Any], token: str) -> tuple[list[ParsedAttachment], list[SkippedAttachment]]:
    media = fields.get("media_file")
    if not isinstance(media, dict):
        return [], []
    name = str(media.get("filename") or f"photo-{token}")[:200]
    content_type = str(media.get("content_type") or "application/octet-stream")[:120]
    try:
        payload = base64.b64decode(str(media.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        return [], [SkippedAttachment(name, content_type, 0, "fichier illisible (base64 invalide)")]
    return [ParsedAttachment(filename=name, content_type=content_type, payload=payload, origin="open311")], []


def parse_open311(payload: bytes, *, labels: dict[str, str], token: str) -> Open311Message:
    """Build the message from the stored JSON fields; unknown or missing values are simply absent."""
    fields = json.loads(payload.decode("utf-8"))
    if not isinstance(fields, dict):
        raise ValueError("payload Open311 : un objet JSON est attendu")
    code = _text(fields, "service_code")
    names = [n for n in (_text(fields, "first_name"), _text(fields, "last_name")) if n]
    files, skipped = _media(fields, token)
    media_url = _text(fields, "media_url")
    description = _text(fields, "description") or ""
    if media_url:  # a photo hosted by the app: kept as a link for the agent, never fetched (SSRF)
        description = f"{description}\n\nPhoto : {media_url}".strip()
    address = _text(fields, "address_string")
    text = f"{description}\n\nAdresse : {address}" if address else description
    lat, lon = _float(fields, "lat"), _float(fields, "long")
    return Open311Message(
        channel=CHANNEL, text=text.strip(), sender=Address(name=" ".join(names) or None, email=_text(fields, "email")),
        sender_phone=to_e164(_text(fields, "phone")), reply_to=None, message_id=None,
        attachments=files, skipped_attachments=skipped,
        lat=lat if lon is not None else None, lon=lon if lat is not None else None,
        location_label=address, subject=labels.get(code or "", code or "Signalement"),
        category=code if code in labels else None,
    )


@register("parse_open311")
class ParseOpen311Stage:
    """Set `ctx.parsed` for requests posted by citizens' apps through the Open311 API."""

    name = "parse_open311"

    def process(self, ctx: Context) -> None:
        """Parse the raw request of the open311 channel; other channels go on untouched."""
        if ctx.raw.channel != CHANNEL:
            return
        labels = {c.code: c.label for c in ctx.config.categories}
        ctx.parsed = parse_open311(ctx.raw.payload, labels=labels, token=ctx.raw.external_key)
