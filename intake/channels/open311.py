"""The Open311 door: GeoReport v2 requests posted by the town's apps, stored as JSON fields (+ a photo)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from intake.channels.base import RawInput
from intake.channels.fields import float_field
from intake.config import Config
from intake.email.recipient import single_address
from intake.message import Address, CategoryHint, InboundMessage, ParsedAttachment, Position, SkippedAttachment
from intake.phones import DEFAULT_REGION, to_e164

CHANNEL = "open311"


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


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


def parse_open311(
    payload: bytes, *, labels: dict[str, str], token: str, region: str = DEFAULT_REGION
) -> InboundMessage:
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
    lat, lon = float_field(fields, "lat"), float_field(fields, "long")
    email = single_address(_text(fields, "email"))  # requests stored before the door checked it included
    position = Position(lat, lon, source="pin", label=address) if lat is not None and lon is not None else None
    return InboundMessage(
        channel=CHANNEL,
        text=text.strip(),
        sender=Address(name=" ".join(names) or None, email=email),
        sender_phone=to_e164(_text(fields, "phone"), region=region),
        answer_to=email,
        attachments=tuple(files),
        skipped_attachments=tuple(skipped),
        position=position,
        subject=labels.get(code or "", code or "Signalement"),
        category_hint=CategoryHint(code, "app") if code and code in labels else None,
    )


class Open311Channel:
    """Requests from citizens' apps through the Open311 API; the app's category is kept."""

    name = CHANNEL
    label = "Application"
    phrase = "application"

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """The stored request's fields; the token it was filed under names its photo."""
        labels = {c.code: c.label for c in config.categories}
        return parse_open311(raw.payload, labels=labels, token=raw.external_key, region=config.town.phone_region)
