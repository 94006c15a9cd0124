"""What a door is: a named channel that turns the raw bytes it stored into the one InboundMessage type."""

from __future__ import annotations

from typing import Protocol

from intake.config import Config
from intake.message import InboundMessage, RawInput

__all__ = ["Channel", "RawInput"]


class Channel(Protocol):
    """A door of Guichet, registered in `intake.channels.registry.CHANNELS` under its stored name."""

    name: str  # raw_message.channel
    label: str  # French, shown to agents in lists and filters ("Courriel")
    phrase: str  # French, inside a sentence: "signalé 3 fois (email, SMS, application)"

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """The message as this door understands it; raises ValueError (French) on an unreadable payload."""
        ...
