"""The doors of Guichet, in one registry: adding a channel is one module and one entry here."""

from __future__ import annotations

from intake.channels.base import Channel
from intake.channels.mail import EmailChannel
from intake.channels.open311 import Open311Channel
from intake.channels.phone import SmsChannel, VoiceChannel
from intake.channels.staff import STAFF_CHANNELS, StaffChannel
from intake.channels.webform import WebFormChannel

BUILTIN: tuple[Channel, ...] = (
    EmailChannel(),
    SmsChannel(),
    VoiceChannel(),
    Open311Channel(),
    *(StaffChannel(n) for n in STAFF_CHANNELS),
    WebFormChannel(),
)
CHANNELS: dict[str, Channel] = {channel.name: channel for channel in BUILTIN}

# The channels a report or a message can carry, with their labels: every door's, and WhatsApp, which comes in
# through the SMS door. The back office's filters, exports and statistics read them here.
LABELS: dict[str, str] = {name: channel.label for name, channel in CHANNELS.items()}
PHRASES: dict[str, str] = {name: channel.phrase for name, channel in CHANNELS.items()}
LABELS["whatsapp"] = PHRASES["whatsapp"] = "WhatsApp"


def register(channel: Channel) -> None:
    """Add a channel (extensions use the same seam as the built-ins)."""
    CHANNELS[channel.name] = channel
    LABELS[channel.name] = channel.label
    PHRASES[channel.name] = channel.phrase
