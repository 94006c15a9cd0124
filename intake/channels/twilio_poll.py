"""Polling mode for towns without a public URL: inbound Twilio messages stored exactly as a webhook would.

The payload contract (shared with the SMS parser and the webhook blueprint)
---------------------------------------------------------------------------
Every inbound SMS/WhatsApp message, whether pushed by Twilio's webhook or fetched here, is stored with
``store_raw(factory, channel="sms", source=<To>, external_key=<MessageSid>, payload=<bytes>)`` where the
payload is an ``application/x-www-form-urlencoded`` UTF-8 body with Twilio's webhook parameter names:

    MessageSid, SmsMessageSid, SmsSid   the message SID (SM…/MM…, 34 chars); MessageSid is the key
    AccountSid                          AC…
    MessagingServiceSid                 MG… (only when the message went through a messaging service)
    From, To                            E.164 (+33612345678); WhatsApp as "whatsapp:+33612345678"
    Body                                the text, possibly empty
    NumMedia                            "0".."10"
    NumSegments                         "1"…
    SmsStatus                           "received"
    ApiVersion                          "2010-04-01"
    MediaUrl{i}, MediaContentType{i}    i = 0..NumMedia-1: absolute content URL (no ".json") on the API base
                                        (https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…)
                                        and its MIME type; fetch with intake.outbox.twilio_client.download_media

``source`` is the ``To`` value as in the payload, cut at 80 chars like the webhook (WhatsApp keeps its
prefix). Because webhook and poll share channel, source, key and content key (From, To, Body and the media's
ME… ids: intake/pipeline/content_keys.py), a message seen by both is stored once. The webhook carries extra
fields (FromCity, ToCountry, ProfileName, Latitude…) that the poll cannot know; parsers must treat them as
optional. A MessageSid listed with other content than the row already stored under it is stored as a new
row flagged ``key_collision`` (the webhook refuses such a body instead: it can only be a replay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from intake.config import Twilio
from intake.models import ChannelState
from intake.outbox.twilio_client import TWILIO_API, close_client, make_client
from intake.outbox.twilio_errors import TwilioError, twilio_errors
from intake.pipeline.rawstore import NewRaw, store_many, store_raw

CHANNEL = "sms"
FIRST_WINDOW = timedelta(hours=24)
PAGE_SIZE = 100


@dataclass
class PollReport:
    """What one poll did; `new_ids` are the raw rows the caller must enqueue."""

    seen: int = 0
    stored: int = 0
    duplicates: int = 0
    new_ids: list[int] = field(default_factory=list)
    since: datetime | None = None
    cursor: datetime | None = None


def state_name(settings: Twilio) -> str:
    """The ChannelState row holding this account's cursor."""
    return f"twilio:{settings.account_sid}"


def _whatsapp(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def inbound_numbers(settings: Twilio) -> list[str]:
    """The To values to list: every SMS number, and the WhatsApp number with its prefix."""
    numbers = list(settings.numbers)
    if settings.whatsapp_number:
        numbers.append(_whatsapp(settings.whatsapp_number))
    return numbers


def webhook_form(message: Any, media: list[Any], *, api_base: str) -> dict[str, str]:
    """The webhook parameters for a Message resource and its Media list (see the module docstring)."""
    to, from_ = str(message.to or ""), str(message.from_ or "")
    if to.startswith("whatsapp:") and not from_.startswith("whatsapp:"):
        from_ = _whatsapp(from_)
    form = {
        "MessageSid": message.sid,
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "AccountSid": message.account_sid,
    }
    if message.messaging_service_sid:
        form["MessagingServiceSid"] = message.messaging_service_sid
    form.update(
        {
            "From": from_,
            "To": to,
            "Body": message.body or "",
            "NumMedia": str(len(media)),
            "NumSegments": str(message.num_segments or "1"),
            "SmsStatus": "received",
            "ApiVersion": message.api_version or "2010-04-01",
        }
    )
    for index, item in enumerate(media):
        form[f"MediaUrl{index}"] = api_base.rstrip("/") + str(item.uri).removesuffix(".json")
        form[f"MediaContentType{index}"] = str(item.content_type)
    return form


def _load_cursor(factory: sessionmaker[Session], name: str) -> datetime | None:
    with factory() as session:
        state = session.get(ChannelState, name)
        return datetime.fromisoformat(state.cursor) if state and state.cursor else None


def _record(
    factory: sessionmaker[Session], name: str, *, now: datetime, cursor: datetime | None, error: str | None
) -> None:
    with factory() as session, session.begin():
        state = session.get(ChannelState, name)
        if state is None:
            state = ChannelState(name=name)
            session.add(state)
        state.last_poll_at = now
        state.last_error = error
        if error is None:
            state.last_success_at = now
            if cursor is not None:
                state.cursor = cursor.isoformat()


def _store(factory: sessionmaker[Session], batch: list[NewRaw], report: PollReport) -> None:
    """Store the listed messages in one commit (one by one if the batch fails), then empty the batch."""
    if not batch:
        return
    try:
        results = store_many(factory, batch)
    except Exception:  # a concurrent webhook stored one of them meanwhile: one by one, each idempotent
        results = [
            store_raw(factory, channel=b.channel, source=b.source, external_key=b.external_key, payload=b.payload)
            for b in batch
        ]
    for raw_id, created in results:
        if created:
            report.stored += 1
            report.new_ids.append(raw_id)
        else:
            report.duplicates += 1
    batch.clear()


def poll_twilio(
    settings: Twilio,
    factory: sessionmaker[Session],
    *,
    client: Client | None = None,
    now: datetime | None = None,
) -> PollReport:
    """List inbound messages since the cursor minus `poll_overlap`, store each once, then advance the cursor.

    The cursor only moves after every number was listed completely; on failure `last_error` is recorded and
    the TwilioTransient/TwilioPermanent is raised (rows already stored stay stored).
    """
    now = now or datetime.now(UTC)
    name = state_name(settings)
    cursor = _load_cursor(factory, name)
    since = cursor - timedelta(seconds=settings.poll_overlap) if cursor else now - FIRST_WINDOW
    report = PollReport(since=since, cursor=cursor)
    own = client is None
    api = client or make_client(settings)
    api_base = settings.api_base_url or TWILIO_API
    newest = cursor
    batch: list[NewRaw] = []  # stored a page at a time: one commit per page, not per message
    try:
        with twilio_errors():
            for number in inbound_numbers(settings):
                for message in api.messages.stream(
                    to=number, date_sent_after=since.astimezone(UTC), page_size=PAGE_SIZE
                ):
                    if not str(message.direction or "").startswith("inbound"):
                        continue
                    report.seen += 1
                    media = api.messages(message.sid).media.list() if int(message.num_media or 0) else []
                    payload = urlencode(webhook_form(message, media, api_base=api_base)).encode()
                    batch.append(
                        NewRaw(
                            channel=CHANNEL, source=str(message.to)[:80], external_key=str(message.sid), payload=payload
                        )
                    )
                    if len(batch) >= PAGE_SIZE:
                        _store(factory, batch, report)
                    sent = message.date_sent or message.date_created
                    if isinstance(sent, datetime) and (newest is None or sent > newest):
                        newest = sent
    except TwilioError as exc:
        _store(factory, batch, report)  # what was listed before the failure is kept
        _record(factory, name, now=now, cursor=None, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        if own:
            close_client(api)
    _store(factory, batch, report)
    _record(factory, name, now=now, cursor=newest, error=None)
    report.cursor = newest
    return report
