"""Deleting a message's media on Twilio once they are safely stored here (when the town asks for it)."""

from __future__ import annotations

import re
from typing import Any

from intake.channels.sms import parse_sms
from intake.config import Config

_MEDIA_PATH = re.compile(r"/Messages/(MM[0-9a-fA-F]{32}|SM[0-9a-fA-F]{32})/Media/(ME[0-9a-fA-F]{32})")


def media_sids(payload: bytes) -> list[tuple[str, str]]:
    """(message sid, media sid) of every media URL of a stored SMS/WhatsApp payload."""
    out = []
    for media in parse_sms(payload).media:
        match = _MEDIA_PATH.search(media.url)
        if match:
            out.append((match.group(1), match.group(2)))
    return out


def delete_stored_media(config: Config, payload: bytes, *, client: Any = None) -> int:
    """Delete the media of a processed message on Twilio; returns how many were deleted."""
    from intake.outbox.twilio_client import delete_media, make_client

    pairs = media_sids(payload)
    if not pairs:
        return 0
    api = client or make_client(config.twilio)
    return sum(1 for message_sid, media_sid in pairs if delete_media(api, message_sid, media_sid))
