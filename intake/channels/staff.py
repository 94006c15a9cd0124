"""The staff door: a report typed in by reception staff (telephone, accueil, courrier) in the back office."""

from __future__ import annotations

import json
from typing import Any

from intake.channels.base import RawInput
from intake.channels.fields import decoded_media, text_field
from intake.config import Config
from intake.message import Address, CategoryHint, InboundMessage, Position
from intake.phones import DEFAULT_REGION, to_e164

# Raw channels of the form, with their label on the form; the report keeps the one the citizen used.
STAFF_CHANNELS = {"telephone": "Téléphone", "accueil": "Accueil de la mairie", "courrier": "Courrier"}
_SHORT = {"telephone": "Téléphone", "accueil": "Accueil", "courrier": "Courrier"}


def _coordinate(fields: dict[str, Any], key: str) -> float | None:
    try:
        value = fields.get(key)
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def parse_staff(
    payload: bytes, *, channel: str, labels: dict[str, str], region: str = DEFAULT_REGION
) -> InboundMessage:
    """Build the message from the stored form fields (JSON); unknown values are simply absent."""
    fields = json.loads(payload.decode("utf-8"))
    if not isinstance(fields, dict):
        raise ValueError("saisie : un objet JSON est attendu")
    code = text_field(fields, "category", 40)
    email = text_field(fields, "email", 320)
    phone = to_e164(text_field(fields, "phone", 40), region=region)
    address = text_field(fields, "address", 300)
    text = text_field(fields, "text", 20_000) or ""
    if address and address.casefold() not in text.casefold():
        text = f"{text}\n\nAdresse : {address}"
    lat, lon = _coordinate(fields, "lat"), _coordinate(fields, "lon")
    files, skipped = decoded_media(fields, origin="staff")
    category = code if code in labels else None
    subject = text_field(fields, "subject", 200) or (labels[category] if category else STAFF_CHANNELS[channel])
    point = None
    if lat is not None and lon is not None:
        point = Position(lat, lon, source=text_field(fields, "location_source", 10) or "agent", label=address)
    return InboundMessage(
        channel=channel,
        text=text.strip(),
        sender=Address(name=text_field(fields, "name", 200), email=email),
        sender_phone=phone,
        answer_to=email,
        attachments=tuple(files),
        skipped_attachments=tuple(skipped),
        position=point,
        subject=subject,
        category_hint=CategoryHint(category, "agent") if category else None,
        entered_by=text_field(fields, "entered_by", 120),
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
