"""Polling Twilio for inbound messages against the local stand-in: pages, overlap, late arrivals, cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from intake.channels import twilio_poll
from intake.channels.twilio_poll import poll_twilio, state_name
from intake.config import Secret, Twilio
from intake.models import ChannelState, RawMessage
from intake.outbox.twilio_client import close_client, download_media, make_client
from intake.outbox.twilio_errors import TwilioTransient
from intake.pipeline.rawstore import store_raw
from intake.runtime.db import make_engine, make_sessionmaker
from tests.support.twilio_standin import TwilioStandIn

TOKEN_ENV = "GUICHET_TEST_TWILIO_TOKEN"
TOWN = "+33757000001"
WHATSAPP = "+33757000002"
NOW = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch) -> Twilio:
    monkeypatch.setenv(TOKEN_ENV, standin.auth_token)
    return Twilio(
        account_sid=standin.account_sid,
        auth_token=Secret(env=TOKEN_ENV),
        numbers=[TOWN],
        whatsapp_number=WHATSAPP,
        api_base_url=standin.base_url,
        poll_overlap=600,
    )


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(db_url))


@pytest.fixture
def client(settings: Twilio) -> Iterator[Client]:
    api = make_client(settings)
    yield api
    close_client(api)


def _rows(factory: sessionmaker[Session]) -> list[RawMessage]:
    with factory() as session:
        return list(session.scalars(select(RawMessage).order_by(RawMessage.id)))


def _form(row: RawMessage) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(row.payload.decode(), keep_blank_values=True).items()}


def test_three_pages_stored_once_then_overlap_stores_nothing(
    standin: TwilioStandIn,
    settings: Twilio,
    factory: sessionmaker[Session],
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(twilio_poll, "PAGE_SIZE", 4)
    sids = [
        standin.add_inbound(
            f"+3361234{i:04d}", TOWN, f"Lampadaire en panne n°{i}", date_sent=NOW - timedelta(minutes=50 - i)
        )
        for i in range(10)
    ]
    standin.add_inbound("+33699999999", TOWN, "trop ancien", date_sent=NOW - timedelta(days=2))
    standin.create_message({"To": ["+33612340000"], "From": [TOWN], "Body": ["réponse"]}, "x")  # outbound

    report = poll_twilio(settings, factory, client=client, now=NOW)
    assert (report.seen, report.stored, report.duplicates) == (10, 10, 0)
    pages = [p for m, p in standin.requests if m == "GET" and "Messages.json" in p and "To=%2B3375" in p]
    assert len(pages) == 3 and sum("PageToken=" in p for p in pages) == 2
    rows = _rows(factory)
    assert sorted(r.external_key for r in rows) == sorted(sids)
    assert sorted(report.new_ids) == [r.id for r in rows]
    assert {r.channel for r in rows} == {"sms"} and {r.source for r in rows} == {TOWN}
    form = _form(next(r for r in rows if r.external_key == sids[3]))
    assert form["MessageSid"] == sids[3] and form["AccountSid"] == standin.account_sid
    assert form["From"] == "+33612340003" and form["To"] == TOWN and form["Body"] == "Lampadaire en panne n°3"
    assert form["NumMedia"] == "0" and form["SmsStatus"] == "received"

    again = poll_twilio(settings, factory, client=client, now=NOW + timedelta(minutes=5))
    assert again.stored == 0 and again.new_ids == []
    assert again.duplicates == again.seen > 0  # the overlap window re-reads the last minutes
    assert len(_rows(factory)) == 10


def test_late_message_inside_overlap_is_caught(
    standin: TwilioStandIn,
    settings: Twilio,
    factory: sessionmaker[Session],
    client: Client,
) -> None:
    standin.add_inbound("+33611111111", TOWN, "premier", date_sent=NOW - timedelta(minutes=1))
    assert poll_twilio(settings, factory, client=client, now=NOW).stored == 1
    # Twilio makes it visible only now, stamped before the cursor (carrier delay).
    late = standin.add_inbound("+33622222222", TOWN, "en retard", date_sent=NOW - timedelta(minutes=4))
    report = poll_twilio(settings, factory, client=client, now=NOW + timedelta(minutes=1))
    assert report.stored == 1 and report.duplicates == 1
    assert late in {r.external_key for r in _rows(factory)}


def _webhook_body(settings: Twilio, client: Client, sid: str) -> bytes:
    """What Twilio's webhook posted for `sid`: the poll's fields on api.twilio.com, plus ones only webhooks carry."""
    message = client.messages(sid).fetch()
    media = client.messages(sid).media.list()
    form = twilio_poll.webhook_form(message, media, api_base="https://api.twilio.com")
    extra = {"FromCity": "PARIS", "FromCountry": "FR", "ToCountry": "FR", "ProfileName": "Jeanne"}
    return urlencode(sorted({**form, **extra}.items())).encode()


def test_webhook_then_poll_never_duplicates(
    standin: TwilioStandIn,
    settings: Twilio,
    factory: sessionmaker[Session],
    client: Client,
) -> None:
    sid = standin.add_inbound(
        "+33611111111",
        TOWN,
        "nid de poule",
        date_sent=NOW - timedelta(minutes=3),
        media=[(b"\xff\xd8\xff" + b"j" * 100, "image/jpeg")],
    )
    webhook_id, _ = store_raw(
        factory, channel="sms", source=TOWN, external_key=sid, payload=_webhook_body(settings, client, sid)
    )
    report = poll_twilio(settings, factory, client=client, now=NOW)
    assert (report.stored, report.duplicates) == (0, 1) and [r.id for r in _rows(factory)] == [webhook_id]


def test_known_sid_with_other_content_is_stored_flagged(
    standin: TwilioStandIn,
    settings: Twilio,
    factory: sessionmaker[Session],
    client: Client,
) -> None:
    sid = standin.add_inbound("+33611111111", TOWN, "nid de poule rue Haute", date_sent=NOW - timedelta(minutes=3))
    forged = _webhook_body(settings, client, sid).replace(b"rue+Haute", b"rue+Basse")
    first_id, _ = store_raw(factory, channel="sms", source=TOWN, external_key=sid, payload=forged)

    report = poll_twilio(settings, factory, client=client, now=NOW)

    assert (report.stored, report.duplicates) == (1, 0)
    rows = _rows(factory)
    assert [(r.id == first_id, r.external_key, r.key_collision) for r in rows] == [
        (True, sid, False),
        (False, sid, True),
    ]
    assert _form(rows[1])["Body"] == "nid de poule rue Haute"
    assert poll_twilio(settings, factory, client=client, now=NOW).stored == 0  # and kept once


def test_whatsapp_prefix_and_media_urls(
    standin: TwilioStandIn,
    settings: Twilio,
    factory: sessionmaker[Session],
    client: Client,
) -> None:
    jpeg, png = b"\xff\xd8\xff" + b"j" * 100, b"\x89PNG" + b"p" * 50
    sid = standin.add_inbound(
        "whatsapp:+33633333333",
        f"whatsapp:{WHATSAPP}",
        "Tag sur l'école",
        date_sent=NOW - timedelta(minutes=2),
        media=[(jpeg, "image/jpeg"), (png, "image/png")],
    )
    report = poll_twilio(settings, factory, client=client, now=NOW)
    assert report.stored == 1
    [row] = _rows(factory)
    assert row.source == f"whatsapp:{WHATSAPP}" and row.external_key == sid
    form = _form(row)
    assert form["From"] == "whatsapp:+33633333333" and form["To"] == f"whatsapp:{WHATSAPP}"
    assert form["NumMedia"] == "2" and form["MediaContentType0"] == "image/jpeg"
    assert form["MediaContentType1"] == "image/png"
    media = standin.messages[sid].media
    account = standin.account_sid
    assert form["MediaUrl0"] == f"{standin.base_url}/2010-04-01/Accounts/{account}/Messages/{sid}/Media/{media[0].sid}"
    assert download_media(settings, form["MediaUrl1"]) == (png, "image/png")


def test_cursor_persisted_and_first_window(
    standin: TwilioStandIn,
    settings: Twilio,
    factory: sessionmaker[Session],
    client: Client,
) -> None:
    standin.add_inbound("+33611111111", TOWN, "hier", date_sent=NOW - timedelta(hours=23))
    newest = NOW - timedelta(minutes=7)
    standin.add_inbound("+33611111112", TOWN, "récent", date_sent=newest)
    report = poll_twilio(settings, factory, client=client, now=NOW)
    assert report.since == NOW - timedelta(hours=24) and report.cursor == newest and report.stored == 2
    with factory() as session:
        state = session.get(ChannelState, state_name(settings))
        assert state is not None and state.cursor is not None
        assert datetime.fromisoformat(state.cursor) == newest and state.last_error is None
        assert state.last_success_at is not None and state.last_poll_at is not None
    again = poll_twilio(settings, factory, client=client, now=NOW + timedelta(hours=1))
    assert again.since == newest - timedelta(seconds=600) and again.cursor == newest


def test_failure_records_error_and_keeps_cursor(
    standin: TwilioStandIn,
    settings: Twilio,
    factory: sessionmaker[Session],
    client: Client,
) -> None:
    standin.add_inbound("+33611111111", TOWN, "un", date_sent=NOW - timedelta(minutes=2))
    poll_twilio(settings, factory, client=client, now=NOW)
    standin.add_inbound("+33611111112", TOWN, "deux", date_sent=NOW + timedelta(minutes=2))
    standin.fail_next(503, method="GET")
    with pytest.raises(TwilioTransient):
        poll_twilio(settings, factory, client=client, now=NOW + timedelta(minutes=3))
    with factory() as session:
        state = session.get(ChannelState, state_name(settings))
        assert state is not None and state.last_error and "503" in state.last_error
        assert datetime.fromisoformat(state.cursor or "") == NOW - timedelta(minutes=2)
    report = poll_twilio(settings, factory, client=client, now=NOW + timedelta(minutes=4))
    assert report.stored == 1
    with factory() as session:
        state = session.get(ChannelState, state_name(settings))
        assert state is not None and state.last_error is None
