"""Twilio webhooks; Twilio is out of reach here, so requests are signed with the real twilio library as Twilio would."""

from __future__ import annotations

import json
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from twilio.request_validator import RequestValidator

from intake.config import Config, ConfigError
from intake.models import Contact, Outbox, RawMessage, Report
from intake.runtime.db import make_engine, make_sessionmaker
from tests.conftest import ROOT
from web import create_app, twilio_hooks

TOKEN = "test-token-0123456789abcdef"
BASE = "https://guichet.example.fr"
# A copy of ../shared/data/twilio/twilio_webhook_samples.json (tests/data/twilio/README.md says where it comes from).
SAMPLES = json.loads((ROOT / "tests" / "data" / "twilio" / "twilio_webhook_samples.json").read_text(encoding="utf-8"))
REAL_BODY: str = SAMPLES["inbound_sms_captured_real"]["raw_body"]
DOC = SAMPLES["signature_validation_doc_example"]
REAL_SID = "SM1521fa559fb923c1ed64f56cd1bed8ef"
OTHER_SID = "SM" + "0123456789abcdef" * 2
RECORDING = "RE" + "fedcba9876543210" * 2


def twilio_settings(**extra: Any) -> dict[str, Any]:
    """The twilio section of a test configuration (token read from TEST_TWILIO_TOKEN)."""
    return {
        "enabled": True,
        "account_sid": "AC" + "0" * 32,
        "auth_token": {"env": "TEST_TWILIO_TOKEN"},
        "public_base_url": BASE,
        **extra,
    }


@pytest.fixture
def make_app(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Flask]:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", TOKEN)

    def build(**twilio: Any) -> Flask:
        redis_url = twilio.pop("redis_url", None)
        return create_app(make_config(twilio=twilio_settings(**twilio), redis_url=redis_url))

    return build


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()


def post(
    client: FlaskClient,
    path: str,
    body: str,
    *,
    url: str | None = None,
    token: str = TOKEN,
    sign_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST `body` (urlencoded) signed like Twilio, for `url` (default BASE + path) and `sign_body` params."""
    params = dict(parse_qsl(sign_body if sign_body is not None else body, keep_blank_values=True))
    signature = RequestValidator(token).compute_signature(url or BASE + path, params)
    return client.post(
        path,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature, **(headers or {})},
    )


def raw_rows(app: Flask) -> list[RawMessage]:
    with app.extensions["guichet"].factory() as session:
        return list(session.execute(select(RawMessage).order_by(RawMessage.id)).scalars())


def test_documented_example_passes_the_validation_helper() -> None:
    validator = RequestValidator(DOC["auth_token"])
    assert twilio_hooks.is_signed(validator, DOC["url"], DOC["params"], DOC["expected_X-Twilio-Signature"])
    assert twilio_hooks.signed_url("https://mycompany.com/", "/myapp.php?foo=1&bar=2") == DOC["url"]


@pytest.mark.parametrize("change", ["tampered", "extra", "missing", "http", "port", "slash", "token", "header"])
def test_documented_example_refused_when_altered(change: str) -> None:
    url, params, token = DOC["url"], dict(DOC["params"]), DOC["auth_token"]
    signature: str | None = DOC["expected_X-Twilio-Signature"]
    if change == "tampered":
        params["Digits"] = "9999"
    elif change == "extra":
        params["Body"] = "hello"
    elif change == "missing":
        del params["Caller"]
    elif change == "http":
        url = url.replace("https://", "http://")
    elif change == "port":
        # The library drops a port from the URL it checks (Twilio may sign either form), so the added
        # port is tested the other way round: a signature made for another port does not fit the URL.
        signature = RequestValidator(token).compute_signature(url.replace(".com", ".com:8443"), params)
    elif change == "slash":
        url = url.replace("myapp.php", "myapp.php/")
    elif change == "token":
        token = "54321"
    else:
        signature = None
    assert not twilio_hooks.is_signed(RequestValidator(token), url, params, signature)


@pytest.mark.parametrize("change", ["tampered", "extra", "missing", "http", "port", "slash", "token", "header"])
def test_webhook_refuses_bad_signatures(make_app: Callable[..., Flask], change: str) -> None:
    app = make_app()
    c = app.test_client()
    path, url, body, sign_body, token = "/twilio/messages", BASE + "/twilio/messages", REAL_BODY, REAL_BODY, TOKEN
    if change == "tampered":
        body = REAL_BODY.replace("twilio-go+testing", "autre+texte")
    elif change == "extra":
        body = REAL_BODY + "&Injected=1"
    elif change == "missing":
        body = REAL_BODY.replace("&NumSegments=1", "")
    elif change == "http":
        url = url.replace("https://", "http://")
    elif change == "port":
        url = url.replace("guichet.example.fr", "guichet.example.fr:8443")
    elif change == "slash":
        url += "/"
    elif change == "token":
        token = "wrong-token"
    if change == "header":
        resp = c.post(path, data=body, content_type="application/x-www-form-urlencoded")
    else:
        resp = post(c, path, body, url=url, token=token, sign_body=sign_body)
    assert resp.status_code == 403
    assert "Signature Twilio" in resp.get_data(as_text=True)
    assert raw_rows(app) == []


def test_url_never_comes_from_host_or_forwarded_headers(client: FlaskClient) -> None:
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    resp = post(client, "/twilio/messages", REAL_BODY, url="http://evil.example/twilio/messages", headers=forged)
    assert resp.status_code == 403
    assert post(client, "/twilio/messages", REAL_BODY, headers=forged).status_code == 200


def test_query_string_is_part_of_the_signed_url(client: FlaskClient) -> None:
    body = REAL_BODY.replace(REAL_SID, OTHER_SID)
    assert post(client, "/twilio/messages?a=1&b=%2B2", body).status_code == 200
    assert post(client, "/twilio/messages?a=1&b=%2B2", body, url=BASE + "/twilio/messages").status_code == 403


def test_inbound_sms_is_stored_verbatim_and_answered_with_empty_twiml(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    resp = post(app.test_client(), "/twilio/messages", REAL_BODY)  # no CSRF token: the blueprint is exempt
    assert resp.status_code == 200
    assert resp.mimetype == "text/xml"
    assert resp.get_data(as_text=True) == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    [row] = raw_rows(app)
    assert (row.channel, row.source, row.external_key) == ("sms", "+19253920364", REAL_SID)
    assert row.payload == REAL_BODY.encode() and row.status == "pending"


def test_missing_message_sid_is_a_bad_request(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    body = urlencode({"From": "+33612345678", "To": "+33700000000", "Body": "Bonjour"})
    assert post(app.test_client(), "/twilio/messages", body).status_code == 400
    assert raw_rows(app) == []


def test_replays_sequential_and_concurrent_store_one_row(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert all(post(app.test_client(), "/twilio/messages", REAL_BODY).status_code == 200 for _ in range(3))
    other = REAL_BODY.replace(REAL_SID, OTHER_SID)
    codes: list[int] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        c = app.test_client()
        barrier.wait()
        codes.append(post(c, "/twilio/messages", other).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 8
    assert sorted(r.external_key for r in raw_rows(app)) == sorted([REAL_SID, OTHER_SID])


def test_database_failure_spools_the_message_and_the_sweep_files_it_once(
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from intake.pipeline.spool import drain, spool_folder, waiting

    real = twilio_hooks.store_raw

    def broken(*_: Any, **__: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    app = make_app()
    monkeypatch.setattr(twilio_hooks, "store_raw", broken)
    with caplog.at_level(logging.ERROR, logger="web.twilio_hooks"):
        first = post(app.test_client(), "/twilio/messages", REAL_BODY)
        again = post(app.test_client(), "/twilio/messages", REAL_BODY)  # Twilio's own retry, if it made one
    assert first.status_code == again.status_code == 200  # Twilio is told it arrived: it did, in the spool
    assert any("spooled" in r.getMessage() for r in caplog.records)
    assert raw_rows(app) == []
    folder = spool_folder(app.extensions["guichet"].config)
    assert waiting(folder) == 2
    monkeypatch.setattr(twilio_hooks, "store_raw", real)
    assert drain(folder, app.extensions["guichet"].factory) == 1  # the database is back: filed once
    assert [r.external_key for r in raw_rows(app)] == [REAL_SID] and waiting(folder) == 0


def test_database_and_spool_failure_answers_503_and_logs_loudly(
    make_app: Callable[..., Flask],
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(twilio_hooks, "store_raw", broken)
    monkeypatch.setenv("TEST_TWILIO_TOKEN", TOKEN)
    app = create_app(make_config(twilio=twilio_settings(), storage={"spool": "/dev/null/spool"}))
    with caplog.at_level(logging.CRITICAL, logger="web.twilio_hooks"):
        resp = post(app.test_client(), "/twilio/messages", REAL_BODY)
    assert resp.status_code == 503
    assert any(r.levelno == logging.CRITICAL and "NOT STORED" in r.getMessage() for r in caplog.records)


def test_stored_message_is_enqueued_once(make_app: Callable[..., Flask], redis_url: str) -> None:
    from redis import Redis

    from intake.runtime.queue import get_queue

    app = make_app(redis_url=redis_url)
    for _ in range(2):
        assert post(app.test_client(), "/twilio/messages", REAL_BODY).status_code == 200
    [row] = raw_rows(app)
    with Redis.from_url(redis_url) as conn:
        jobs = get_queue(conn).get_jobs()
        assert [(j.func_name, j.args) for j in jobs] == [("intake.runtime.jobs.process_message", (row.id,))]


def test_redis_down_still_answers_200(make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.ERROR, logger="web.twilio_hooks"):
        assert post(app.test_client(), "/twilio/messages", REAL_BODY).status_code == 200
    assert len(raw_rows(app)) == 1 and "not enqueued" in caplog.text


def test_status_callback_updates_outbox_and_records_opt_out(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    factory = app.extensions["guichet"].factory
    with factory() as session, session.begin():
        report = Report(tracking_number="2025-00001", public_token="t" * 20, channel="sms")
        session.add_all([report, Contact(phone="+33612345678")])
        session.flush()
        session.add(
            Outbox(
                report_id=report.id,
                kind="confirmation",
                channel="sms",
                recipient="+33612345678",
                message_id="m1",
                provider_id="SMout1",
                provider_status="queued",
            )
        )
    c = app.test_client()
    assert (
        post(
            c, "/twilio/status", urlencode({"MessageSid": "SMout1", "MessageStatus": "delivered", "To": "+33612345678"})
        ).status_code
        == 204
    )
    with factory() as session:
        assert session.execute(select(Outbox.provider_status)).scalar_one() == "delivered"
        assert session.execute(select(Contact.opt_out)).scalar_one() is False
    body = urlencode({"MessageSid": "SMout1", "MessageStatus": "failed", "ErrorCode": "21610", "To": "+33612345678"})
    assert post(c, "/twilio/status", body).status_code == 204
    with factory() as session:
        contact = session.execute(select(Contact)).scalar_one()
        assert contact.opt_out is True and contact.opt_out_at is not None
        assert session.execute(select(Outbox.provider_status)).scalar_one() == "failed"
    assert post(c, "/twilio/status", urlencode({"MessageSid": "SMunknown", "MessageStatus": "sent"})).status_code == 204


def test_voice_disabled_says_no_calls_and_hangs_up(client: FlaskClient) -> None:
    resp = post(client, "/twilio/voice", urlencode({"CallSid": "CA1", "To": "+33700000000"}))
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    root = ET.fromstring(resp.data)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert root[0].text == "Ce numéro ne prend pas d'appels, envoyez un SMS." and root[0].get("language") == "fr-FR"


def test_voice_enabled_records_with_escaped_greeting(make_app: Callable[..., Flask]) -> None:
    app = make_app(voice_enabled=True, voice_message='Bonjour <mairie> & "services"', voice_max_seconds=90)
    resp = post(
        app.test_client(), "/twilio/voice", urlencode({"CallSid": "CA1", "From": "+33612345678", "To": "+33700000000"})
    )
    root = ET.fromstring(resp.data)
    say, record = root
    assert say.text == 'Bonjour <mairie> & "services"' and b"&lt;mairie&gt; &amp;" in resp.data
    assert record.tag == "Record" and record.attrib == {
        "maxLength": "90",
        "playBeep": "true",
        "recordingStatusCallback": BASE + "/twilio/voice/recording?From=%2B33612345678&To=%2B33700000000",
        "recordingStatusCallbackMethod": "POST",
    }


def test_voice_recording_keeps_the_caller_from_the_callback_query(make_app: Callable[..., Flask]) -> None:
    from intake.channels.sms import parse_voice

    app = make_app(voice_enabled=True, numbers=["+33700000000"])
    body = urlencode(
        {
            "CallSid": "CA9",
            "RecordingSid": RECORDING,
            "RecordingDuration": "7",
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/{RECORDING}",
        }
    )
    path = "/twilio/voice/recording?From=%2B33612345678&To=%2B33700000000"
    assert post(app.test_client(), path, body).status_code == 204  # signed over the URL with its query
    [row] = raw_rows(app)
    voice = parse_voice(row.payload)
    assert voice.sender == "+33612345678" and voice.recording_sid == RECORDING


def test_voice_recording_is_stored_once(make_app: Callable[..., Flask]) -> None:
    app = make_app(voice_enabled=True, numbers=["+33700000000"])
    body = urlencode(
        {
            "AccountSid": "AC" + "0" * 32,
            "CallSid": "CA1",
            "RecordingSid": RECORDING,
            "RecordingStatus": "completed",
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/{RECORDING}",
            "RecordingDuration": "12",
        }
    )
    for _ in range(2):
        assert post(app.test_client(), "/twilio/voice/recording", body).status_code == 204
    [row] = raw_rows(app)
    assert (row.channel, row.source, row.external_key, row.payload) == (
        "voice",
        "+33700000000",
        RECORDING,
        body.encode(),
    )
    assert post(app.test_client(), "/twilio/voice/recording", "CallSid=CA2").status_code == 400


def test_missing_token_refuses_to_start(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_TWILIO_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"^twilio\.auth_token: "):
        create_app(make_config(twilio=twilio_settings()))


def test_webhooks_absent_when_twilio_disabled(make_config: Callable[..., Config]) -> None:
    app = create_app(make_config())
    assert "twilio_hooks" not in app.blueprints
    assert app.test_client().post("/twilio/messages", data=REAL_BODY).status_code in (404, 405)


def test_rows_are_visible_from_another_engine(make_app: Callable[..., Flask], db_url: str) -> None:
    post(make_app().test_client(), "/twilio/messages", REAL_BODY)
    with make_sessionmaker(make_engine(db_url))() as session:
        assert session.execute(select(func.count()).select_from(RawMessage)).scalar_one() == 1
