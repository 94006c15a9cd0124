"""The web form door: a citizen's report typed on the town's `/signaler` page, stored as JSON fields (+ photos).

The photos arrive already stripped of their metadata (the web door re-encodes them before storing); the GPS
position one of them carried, when the citizen placed no point, comes as the fields `lat`/`lon` with
`location_source` "exif".
"""

from __future__ import annotations

import json

from intake.channels.base import RawInput
from intake.channels.fields import decoded_media, float_field, text_field
from intake.config import Config
from intake.email.recipient import single_address
from intake.message import Address, CategoryHint, InboundMessage, Position
from intake.phones import DEFAULT_REGION, to_e164

CHANNEL = "formulaire"
NOTIFY_EMAIL, NOTIFY_SMS = "email", "sms"
LOCATION_SOURCES = frozenset({"pin", "exif"})


def parse_webform(payload: bytes, *, labels: dict[str, str], region: str = DEFAULT_REGION) -> InboundMessage:
    """Build the message from the stored form fields (JSON); unknown or missing values are simply absent.

    The citizen's choice of how to be kept informed decides where answers go: by email (their address), or by
    SMS (their mobile, and then the address is not used).
    """
    fields = json.loads(payload.decode("utf-8"))
    if not isinstance(fields, dict):
        raise ValueError("formulaire : un objet JSON est attendu")
    code = text_field(fields, "category", 40)
    category = code if code in labels else None
    phone = to_e164(text_field(fields, "phone", 40), region=region)
    email = single_address(text_field(fields, "email", 320))
    if fields.get("notify") == NOTIFY_SMS and phone:
        email = None
    address = text_field(fields, "address", 300)
    text = text_field(fields, "text", 20_000) or ""
    if address and address.casefold() not in text.casefold():
        text = f"{text}\n\nAdresse : {address}"
    lat, lon = float_field(fields, "lat"), float_field(fields, "lon")
    source = text_field(fields, "location_source", 10) or "pin"
    point = None
    if lat is not None and lon is not None:
        point = Position(lat, lon, source=source if source in LOCATION_SOURCES else "pin", label=address)
    files, skipped = decoded_media(fields, origin=CHANNEL)
    return InboundMessage(
        channel=CHANNEL,
        text=text.strip(),
        sender=Address(name=text_field(fields, "name", 200), email=email),
        sender_phone=phone,
        answer_to=email,
        attachments=tuple(files),
        skipped_attachments=tuple(skipped),
        position=point,
        subject=labels[category] if category else "Signalement en ligne",
        category_hint=CategoryHint(category, "app") if category else None,
    )


class WebFormChannel:
    """Reports from the town's public web form (`/signaler`); the citizen's category, if chosen, is kept."""

    name = CHANNEL
    label = "Formulaire web"
    phrase = "formulaire web"

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """The stored form: the citizen's words, point, photos, contacts and choice of notification."""
        labels = {c.code: c.label for c in config.categories}
        return parse_webform(raw.payload, labels=labels, region=config.town.phone_region)
