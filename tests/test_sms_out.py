"""Outgoing SMS/WhatsApp: segments, destination rules, rate limiting, and sending through a fake Twilio client."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import Environment
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException

from intake.config import Config
from intake.gsm import (
    TemplateTooLong,
    check_template,
    encoding,
    fit_gsm,
    fit_segments,
    segments,
)
from intake.models import Contact, Event, Outbox, Report, utcnow
from intake.outbox import sms as sender_module
from intake.outbox.notifiers import ConsoleTextNotifier, EmailNotifier, TwilioNotifier, build_notifiers
from intake.outbox.notify import ConsoleMailer
from intake.outbox.send import send_outbox_row
from intake.outbox.sms import send_sms_row
from intake.outbox.sms_rules import RateLimiter, check_destination
from intake.runtime.db import make_engine, make_sessionmaker
from tests.conftest import base_config_data

MOBILE = "+33612345678"
TOWN = "+33700000001"


# --- segments -------------------------------------------------------------------------------------------


def test_gsm7_single_and_multipart() -> None:
    assert encoding("a" * 160) == "GSM-7"
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("a" * 306) == 2 and segments("a" * 307) == 3


def test_extension_characters_cost_two_septets() -> None:
    assert encoding("€[]{}|^~\\") == "GSM-7"
    assert segments("€" * 80) == 1
    assert segments("a" + "€" * 80) == 2
    # an escape sequence is never split across parts: 152 septets then € does not fit in the first part
    assert segments("a" * 152 + "€" + "a" * 10) == 2
    assert segments("a" * 152 + "€" + "a" * 152) == 3


def test_ucs2_counts_utf16_units() -> None:
    assert encoding("â" * 70) == "UCS-2"
    assert segments("â" * 70) == 1 and segments("â" * 71) == 2
    assert segments("a" * 68 + "😀") == 1  # an emoji is two UTF-16 units
    assert segments("a" * 69 + "😀") == 2
    assert segments("😀" * 35) == 1 and segments("😀" * 36) == 2
    assert segments("a" * 66 + "😀" + "a" * 66) == 3  # 134 units, but a surrogate pair is never split


def test_french_accents_and_cedilla() -> None:
    assert encoding("éèùàìòÉÇ") == "GSM-7"
    for ch in "âêîôûëïç":  # 3GPP 23.038 0x09 is the capital Ç only
        assert encoding(ch) == "UCS-2", ch
    assert (
        fit_gsm("Forêt, château, maïs, reçu, œuvre, l’été « ici »…")
        == 'Foret, chateau, mais, recu, oeuvre, l\'été "ici"...'
    )
    assert encoding(fit_gsm("n° 12\u202f: á ô Œ")) == "GSM-7"
    assert fit_gsm("😀") == "😀"


def test_fit_segments_truncates_and_check_template() -> None:
    text = "Fenêtre " * 60
    fitted = fit_segments(text, 2)
    assert encoding(fitted) == "GSM-7" and segments(fitted) == 2 and fitted.endswith("...")
    emoji = "😀 " + "é" * 300
    assert segments(fit_segments(emoji, 2)) == 2
    check_template("court", 1)
    with pytest.raises(TemplateTooLong):
        check_template("a" * 161, 1)


def test_shipped_sms_templates_fit_in_two_segments() -> None:
    templates = base_config_data()["templates"]
    values = {
        "tracking_number": "2026-00123",
        "status_url": "https://signalements.mairie-saint-martin-sur-loire.fr/suivi/" + "x" * 32,
    }
    env = Environment(autoescape=False)
    for key in ("sms_confirmation", "sms_stopped", "sms_started"):
        rendered = env.from_string(templates[key]).render(values)
        check_template(rendered, 2)
        assert encoding(fit_gsm(rendered)) == "GSM-7", key


# --- rules ------------------------------------------------------------------------------------------------


@pytest.fixture
def cfg(make_config: Callable[..., Config]) -> Config:
    return make_config(
        twilio={
            "numbers": [TOWN],
            "public_base_url": "https://guichet.mairie.fr",
            "outbound": {"daily_cap_per_number": 2, "per_second": 100},
        }
    )


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(db_url))


def add_row(
    factory: sessionmaker[Session],
    *,
    recipient: str = MOBILE,
    channel: str = "sms",
    kind: str = "confirmation",
    body: str = "Mairie : signalement enregistré.",
    status: str = "pending",
    sent_ago: timedelta | None = None,
) -> int:
    with factory() as s:
        n = s.query(Report).count() + 1
        report = Report(tracking_number=f"2026-{n:05d}", public_token=f"tok{n}", channel="sms")
        s.add(report)
        s.flush()
        row = Outbox(
            report_id=report.id,
            kind=kind,
            channel=channel,
            recipient=recipient,
            body=body,
            message_id=f"m{n}",
            status=status,
            sent_at=utcnow() - sent_ago if sent_ago is not None else None,
        )
        s.add(row)
        s.commit()
        return row.id


def test_allow_list_stops_sms_pumping(cfg: Config) -> None:
    assert check_destination("+447700900123", cfg.twilio) is not None
    assert check_destination("+88234567890", cfg.twilio) is not None
    assert check_destination("0612345678", cfg.twilio) is not None
    assert check_destination("+33612345678", cfg.twilio) is None
    assert check_destination("+33757000001", cfg.twilio) is None
    assert check_destination("whatsapp:+33757000001", cfg.twilio.outbound) is None
    # mobiles of the overseas territories are French mobiles; landlines, unassigned ranges and +33 694 are not
    for number in ("+262692123456", "+594694123456", "+590690123456", "+596696123456", "+262639401234"):
        assert check_destination(number, cfg.twilio) is None, number
    for number in ("+33142764040", "+33712345678", "+33694123456", "+594594300000"):
        assert "mobile" in (check_destination(number, cfg.twilio) or ""), number
    # a town outside the French plan sends to its own mobiles only
    assert check_destination("+32470123456", cfg.twilio, region="BE") is None
    assert check_destination("+33612345678", cfg.twilio, region="BE") is not None


def test_allowed_prefixes_narrow_the_mobiles(make_config: Callable[..., Config]) -> None:
    cfg = make_config(
        twilio={
            "numbers": [TOWN],
            "public_base_url": "https://guichet.mairie.fr",
            "outbound": {"allowed_prefixes": ["+336", "+337"]},
        }
    )
    assert check_destination("+33612345678", cfg.twilio) is None
    assert "préfixes autorisés" in (check_destination("+594694123456", cfg.twilio) or "")
    assert check_destination("whatsapp:+447700900123", cfg.twilio) is not None


def test_opt_out_refused_except_acknowledgements(cfg: Config, factory: sessionmaker[Session]) -> None:
    with factory() as s:
        s.add(Contact(phone=MOBILE, opt_out=True, opt_out_at=utcnow()))
        s.commit()
        assert "STOP" in (check_destination(MOBILE, cfg.twilio, session=s, kind="confirmation") or "")
        assert check_destination(MOBILE, cfg.twilio, session=s, kind="stop_ack") is None


def test_daily_cap_per_number(cfg: Config, factory: sessionmaker[Session]) -> None:
    add_row(factory, status="sent", sent_ago=timedelta(hours=30))
    add_row(factory, status="sent", sent_ago=timedelta(hours=1), kind="resolved")
    with factory() as s:
        assert check_destination(MOBILE, cfg.twilio, session=s) is None
    add_row(factory, recipient="whatsapp:" + MOBILE, channel="whatsapp", status="sent", sent_ago=timedelta(hours=2))
    with factory() as s:
        assert "plafond" in (check_destination(MOBILE, cfg.twilio, session=s) or "")


# --- sending ----------------------------------------------------------------------------------------------


class FakeMessages:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error: Exception | None = None

    def create(self, *, to: str, from_: str, body: str, status_callback: str | None = None) -> Any:
        self.calls.append({"to": to, "from_": from_, "body": body, "status_callback": status_callback})
        if self.error is not None:
            raise self.error
        return SimpleNamespace(sid=f"SM{len(self.calls):032x}")


@pytest.fixture
def client() -> Any:
    return SimpleNamespace(messages=FakeMessages())


def fast() -> RateLimiter:
    return RateLimiter(None, 100)


def get(factory: sessionmaker[Session], row_id: int) -> Outbox:
    with factory() as s:
        row = s.get(Outbox, row_id)
        assert row is not None
        return row


def test_success_sends_once_and_stores_sid(cfg: Config, factory: sessionmaker[Session], client: Any) -> None:
    row_id = add_row(factory, body="Votre signalement n° 2026-00001 est reçu « merci »")
    assert send_sms_row(factory, cfg, row_id, client=client, limiter=fast()) == "sent"
    assert send_sms_row(factory, cfg, row_id, client=client, limiter=fast()) == "sent"
    assert len(client.messages.calls) == 1
    call = client.messages.calls[0]
    assert call == {
        "to": MOBILE,
        "from_": TOWN,
        "body": 'Votre signalement no 2026-00001 est recu "merci"',
        "status_callback": "https://guichet.mairie.fr/twilio/status",
    }
    row = get(factory, row_id)
    assert (row.status, row.provider_status, row.attempts) == ("sent", "queued", 1)
    assert row.provider_id == "SM" + "1".rjust(32, "0") and row.sent_at is not None


def test_whatsapp_uses_prefixed_numbers(cfg: Config, factory: sessionmaker[Session], client: Any) -> None:
    row_id = add_row(factory, recipient="whatsapp:" + MOBILE, channel="whatsapp")
    assert send_sms_row(factory, cfg, row_id, client=client, limiter=fast()) == "sent"
    assert client.messages.calls[0]["to"] == "whatsapp:" + MOBILE
    assert client.messages.calls[0]["from_"] == "whatsapp:" + TOWN


def test_refused_destination_is_suppressed_without_send(
    cfg: Config, factory: sessionmaker[Session], client: Any
) -> None:
    row_id = add_row(factory, recipient="+882345678901")
    assert send_sms_row(factory, cfg, row_id, client=client, limiter=fast()) == "suppressed"
    assert client.messages.calls == []
    assert "fraude" in (get(factory, row_id).reason or "")


def test_429_goes_back_to_pending_and_raises(cfg: Config, factory: sessionmaker[Session], client: Any) -> None:
    row_id = add_row(factory)
    client.messages.error = TwilioRestException(429, "/Messages.json", "Too Many Requests", 20429)
    with pytest.raises(TwilioRestException):
        send_sms_row(factory, cfg, row_id, client=client, limiter=fast())
    row = get(factory, row_id)
    assert row.status == "pending" and "429" in (row.reason or "")
    client.messages.error = ConnectionError("reset by peer")
    with pytest.raises(ConnectionError):
        send_sms_row(factory, cfg, row_id, client=client, limiter=fast())
    client.messages.error = None
    assert send_sms_row(factory, cfg, row_id, client=client, limiter=fast()) == "sent"
    assert get(factory, row_id).attempts == 3


def test_21610_fails_and_opts_the_contact_out(cfg: Config, factory: sessionmaker[Session], client: Any) -> None:
    row_id = add_row(factory)
    client.messages.error = TwilioRestException(400, "/Messages.json", "unsubscribed", 21610)
    assert send_sms_row(factory, cfg, row_id, client=client, limiter=fast()) == "failed"
    row = get(factory, row_id)
    assert "21610" in (row.reason or "")
    with factory() as s:
        contact = s.query(Contact).filter_by(phone=MOBILE).one()
        assert contact.opt_out and contact.opt_out_at is not None
        assert s.query(Event).filter_by(action="confirmation_failed").count() == 1
    next_id = add_row(factory, kind="resolved")
    assert send_sms_row(factory, cfg, next_id, client=client, limiter=fast()) == "suppressed"


def test_other_permanent_error_is_not_retried(cfg: Config, factory: sessionmaker[Session], client: Any) -> None:
    row_id = add_row(factory)
    client.messages.error = TwilioRestException(400, "/Messages.json", "not mobile", 21614)
    assert send_sms_row(factory, cfg, row_id, client=client, limiter=fast()) == "failed"
    assert "mobile" in (get(factory, row_id).reason or "")


def test_outbox_dispatch_routes_texts_to_twilio(
    cfg: Config, factory: sessionmaker[Session], client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "build_client", lambda config: client)
    monkeypatch.setattr(sender_module, "build_limiter", lambda config: fast())
    row_id = add_row(factory)
    mailer = ConsoleMailer()
    assert send_outbox_row(factory, cfg, row_id, mailer) == "sent"
    assert len(client.messages.calls) == 1 and mailer.sent == []


def test_console_text_backend_applies_the_rules_then_logs(
    make_config: Callable[..., Config], factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(twilio={"numbers": [TOWN], "outbound": {"backend": "console", "per_second": 100}})
    notifiers = build_notifiers(config, ConsoleMailer())
    assert isinstance(notifiers["sms"], ConsoleTextNotifier) and notifiers["whatsapp"] is notifiers["sms"]
    sent, landline = add_row(factory), add_row(factory, recipient="+33145678901")
    with caplog.at_level("INFO", logger="intake.outbox.notifiers"):
        assert send_outbox_row(factory, config, sent, ConsoleMailer(), notifiers=notifiers) == "sent"
        assert send_outbox_row(factory, config, landline, ConsoleMailer(), notifiers=notifiers) == "suppressed"
    assert get(factory, sent).provider_id == "console-1"
    assert [r.getMessage() for r in caplog.records] == [
        f"text (console) from {TOWN} to {MOBILE}: Mairie : signalement enregistré."
    ]


def test_shipped_backends_and_an_unknown_channel(cfg: Config, factory: sessionmaker[Session]) -> None:
    notifiers = build_notifiers(cfg, ConsoleMailer())
    assert isinstance(notifiers["sms"], TwilioNotifier) and isinstance(notifiers["email"], EmailNotifier)
    row_id = add_row(factory, channel="whatsapp")
    with pytest.raises(ValueError, match="no notifier for channel 'whatsapp'"):
        send_outbox_row(factory, cfg, row_id, ConsoleMailer(), notifiers={"email": notifiers["email"]})
    assert get(factory, row_id).status == "pending"  # nothing claimed: a configured worker still sends it
    assert send_outbox_row(factory, cfg, 10**6, ConsoleMailer()) == "missing"


# --- rate limiting ----------------------------------------------------------------------------------------


def test_rate_limiter_spacing_in_process() -> None:
    limiter = RateLimiter(None, 5)
    start = time.monotonic()
    limiter.wait(TOWN)
    limiter.wait(TOWN)
    assert time.monotonic() - start >= 0.2
    assert limiter.reserve("+33700000002") == 0  # numbers are limited separately


def test_rate_limiter_spacing_across_processes(redis_url: str) -> None:
    from redis import Redis

    one, two = RateLimiter(Redis.from_url(redis_url), 5), RateLimiter(Redis.from_url(redis_url), 5)
    start = time.monotonic()
    one.wait(TOWN)
    two.wait(TOWN)  # another limiter, same Redis: must still wait for the slot the first one took
    assert time.monotonic() - start >= 0.2
    assert 0.15 <= one.reserve(TOWN) <= 0.4


def test_sends_respect_the_rate(cfg: Config, factory: sessionmaker[Session], client: Any) -> None:
    limiter = RateLimiter(None, 5)
    ids = [add_row(factory, kind=f"k{i}") for i in range(2)]
    start = time.monotonic()
    for row_id in ids:
        send_sms_row(factory, cfg, row_id, client=client, limiter=limiter)
    assert time.monotonic() - start >= 0.2 and len(client.messages.calls) == 2


def test_missing_twilio_client_module_is_a_clear_error(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "intake.outbox.twilio_client", None)
    monkeypatch.setattr(sender_module, "_BUILT", {})
    with pytest.raises(RuntimeError, match="twilio_client"):
        sender_module.build_client(cfg)
