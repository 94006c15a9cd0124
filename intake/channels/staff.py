"""The staff door: a report typed in by reception staff (telephone, accueil, courrier) in the back office."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from intake.channels.base import RawInput
from intake.config import Config
from intake.message import Address, CategoryHint, InboundMessage, ParsedAttachment, Position, SkippedAttachment
from intake.phones import DEFAULT_REGION, to_e164

# Raw channels of the form, with their label on the form; the report keeps the one the citizen used.
STAFF_CHANNELS = {"telephone": "Téléphone", "accueil": "Accueil de la mairie", "courrier": "Courrier"}
_SHORT = {"telephone": "Téléphone", "accueil": "Accueil", "courrier": "Courrier"}


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


def parse_staff(payload: bytes, *, channel: str, labels: dict[str, str],
                region: str = DEFAULT_REGION) -> InboundMessage:
    """Build the message from the stored form fields (JSON); unknown values are simply absent."""
    fields = json.loads(payload.decode("utf-8"))
    if not isinstance(fields, dict):
        raise ValueError("saisie : un objet JSON est attendu")
    code = _field(fields, "category", 40)
    email = _field(fields, "email", 320)
    phone = to_e164(_field(fields, "phone", 40), region=region)
    address = _field(fields, "address", 300)
    text = _field(fields, "text", 20_000) or ""
    if address and address.casefold() not in text.casefold():
        text = f"{text}\n\nAdresse : {address}"
    lat, lon = _coordinate(fields, "lat"), _coordinate(fields, "lon")
    files, skipped = _media(fields)
    category = code if code in labels else None
    subject = _field(fields, "subject", 200) or (labels[category] if category else STAFF_CHANNELS[channel])
    point = None
    if lat is not None and lon is not None:
        point = Position(lat, lon, source=_field(fields, "location_source", 10) or "agent", label=address)
    return InboundMessage(
        channel=channel, text=text.strip(), sender=Address(name=_field(fields, "name", 200), email=email),
        sender_phone=phone, answer_to=email, attachments=tuple(files), skipped_attachments=tuple(skipped),
        position=point, subject=subject, category_hint=CategoryHint(category, "agent") if category else None,
        entered_by=_field(fields, "entered_by", 120),
    )


class StaffChannel:
    """One way staff receive a report (a phone call, a visit, a letter), typed into `/saisie`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = _SHORT[name]
        self.phrase = _SHORT[name].lower()

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """The stored form (JSON): the citizen's words and contacts, the agent's category and point if given."""
        labels = {c.code: c.label for c in config.categories}
        return parse_staff(raw.payload, channel=self.name, labels=labels, region=config.town.phone_region)
