"""A report as the public Open311 API shows it: what the spec asks, without the citizen's personal data.

What is published, and why:

- `description`: only the text the citizen typed as description (not the address or photo link the door
  appends for the agents) of a request posted to this public API by a citizens' app (channel open311),
  as FixMyStreet does: the app told its user the report is public. Email, SMS, voicemail and counter
  reports were not written for publication (signatures, phone numbers, family names), so their description
  is null. Even for app requests, e-mail addresses and phone numbers are masked, and a rejected
  report (possibly abusive) publishes no description and no photo.
- `media_url`: the stripped, re-encoded copy of a photo posted with an app request (no EXIF, no GPS),
  at an unguessable signed URL (`web/open311/media.py`); never a photo sent by mail or MMS.
- `status_notes`: the town's label of the status, the rejection reason, "doublon". The note the agent writes
  with a status change goes only into the message to the citizens who reported it, never published here
  nor on the tracking page (intake/reports/public.py).
- `address`: the street of the commune's address reference only, never a text typed by a person (a staff
  entry, a WhatsApp location label, an app's `address_string`), no house number.
- `service_request_id`: the report's unguessable `public_id`; the sequential tracking number, which anyone
  could count through, opens nothing here.
- Never: the author's name, email or phone, the staff who forwarded it, internal notes, the routing zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from intake.backoffice.open311 import CHANNEL, first_api_photos, last_status_details
from intake.config import Config
from intake.masking import mask_contacts
from intake.models import Report
from intake.reports.public import public_description, public_place, public_status_text
from intake.vocab import CLOSED
from web.open311.media import media_url


def publish(
    session: Session, config: Config, reports: Iterable[Report], *, base_url: str, secret: bytes
) -> list[dict[str, Any]]:
    """The Open311 `request` records of `reports`, in order, with two extra queries in all."""
    rows = list(reports)
    ids = [r.id for r in rows]
    notes, photos = last_status_details(session, ids), first_api_photos(session, ids)
    labels = {c.code: c.label for c in config.categories}
    services = {s.code: s.name for s in config.services}

    def moment(value: datetime | None) -> str | None:
        return config.town.local(value).isoformat(timespec="seconds") if value is not None else None

    out = []
    for report in rows:
        shown = report.channel == CHANNEL and report.status != "rejete"
        photo = photos.get(report.id) if shown else None
        code = report.category
        out.append(
            {
                "service_request_id": report.public_id,
                "status": "closed" if report.status in CLOSED else "open",
                "status_notes": public_status_text(config, report.status, report.status_reason, notes.get(report.id)),
                "service_name": labels.get(code or "", code),
                "service_code": code,
                "description": (
                    mask_contacts(description, region=config.town.phone_region)
                    if shown and (description := public_description(report.description))
                    else None
                ),
                "agency_responsible": services.get(report.service or "", report.service),
                "service_notice": None,
                "requested_datetime": moment(report.created_at),
                "updated_datetime": moment(report.updated_at),
                "expected_datetime": None,
                "address": public_place(report.address_voie),
                "address_id": None,
                "zipcode": report.address_postcode,
                "lat": report.lat,
                "long": report.lon,
                "media_url": media_url(photo, base_url=base_url, secret=secret) if photo is not None else None,
            }
        )
    return out
