"""The notifier registry: one `Notifier` per outbox channel, chosen in config.yaml and held by the worker's Resources.

email    -> SMTP (`smtp.backend: smtp`) or the log (`console`);
sms, whatsapp -> Twilio (`twilio.outbound.backend: twilio`) or the log (`console`), both through the same
                 town rules (mobiles of the region only, daily caps, opt-outs, segments).
Adding a way of sending is one class with `send()` and one line in `build_notifiers`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.outbox.notify import Mailer, send_email_row

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Sends one outbox row of its channel if still pending and returns the row's final status."""

    def send(self, factory: sessionmaker[Session], config: Config, outbox_id: int) -> str: ...


@dataclass(frozen=True)
class EmailNotifier:
    """Email rows through the configured mailer (SMTP or console)."""

    mailer: Mailer

    def send(self, factory: sessionmaker[Session], config: Config, outbox_id: int) -> str:
        """Send one email row (see outbox/notify.py: send_email_row)."""
        return send_email_row(factory, config, outbox_id, self.mailer)


class TwilioNotifier:
    """SMS and WhatsApp rows through Twilio's REST API (the client and rate limiter are made once per process)."""

    def send(self, factory: sessionmaker[Session], config: Config, outbox_id: int) -> str:
        """Send one text row (see outbox/sms.py: send_sms_row)."""
        # Twilio's library is imported only by processes that send texts.
        from intake.outbox.sms import send_text_row

        return send_text_row(factory, config, outbox_id)


@dataclass(frozen=True)
class _LoggedText:
    sid: str


class ConsoleTextClient:
    """Stands where Twilio's client stands and writes each text to the log (development; nothing leaves)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.messages = self  # Twilio's client is used as client.messages.create(...)

    def create(self, *, to: str, from_: str, body: str, **_ignored: Any) -> _LoggedText:
        """Log the text; return an object carrying a console `sid` as Twilio's would."""
        log.info("text (console) from %s to %s: %s", from_, to, body)
        return _LoggedText(f"console-{next(self._ids)}")


class ConsoleTextNotifier:
    """SMS and WhatsApp rows written to the log, after the same town rules as real sending."""

    def __init__(self) -> None:
        self.client = ConsoleTextClient()

    def send(self, factory: sessionmaker[Session], config: Config, outbox_id: int) -> str:
        """Apply the rules, log the text, record the row as sent."""
        from intake.outbox.sms import build_limiter, send_sms_row

        return send_sms_row(factory, config, outbox_id, client=self.client, limiter=build_limiter(config))


def build_notifiers(config: Config, mailer: Mailer) -> Mapping[str, Notifier]:
    """The notifier of each outbox channel, as config.yaml chooses."""
    text: Notifier = ConsoleTextNotifier() if config.twilio.outbound.backend == "console" else TwilioNotifier()
    return {"email": EmailNotifier(mailer), "sms": text, "whatsapp": text}
