"""The real twilio library against the local Twilio stand-in: sending, error mapping, media download and deletion."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.rest import Client

from intake.config import Secret, Twilio
from intake.outbox.twilio_client import close_client, delete_media, download_media, make_client, rebase_url
from intake.outbox.twilio_errors import (
    MediaRefused,
    MediaTooLarge,
    TwilioPermanent,
    TwilioTransient,
    twilio_errors,
)
from tests.support.twilio_standin import TwilioStandIn, num_segments

TOKEN_ENV = "GUICHET_TEST_TWILIO_TOKEN"


@pytest.fixture
def settings(standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch) -> Twilio:
    monkeypatch.setenv(TOKEN_ENV, standin.auth_token)
    return Twilio(
        account_sid=standin.account_sid,
        auth_token=Secret(env=TOKEN_ENV),
        numbers=["+33757000001"],
        api_base_url=standin.base_url,
    )


@pytest.fixture
def client(settings: Twilio) -> Iterator[Client]:
    api = make_client(settings)
    yield api
    close_client(api)


def _send(client: Client, **kwargs: Any) -> Any:
    with twilio_errors():
        return client.messages.create(**kwargs)


def test_rebase_keeps_path_and_query() -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B33&Page=1"
    assert (
        rebase_url(url, "http://127.0.0.1:9000")
        == "http://127.0.0.1:9000/2010-04-01/Accounts/AC1/Messages.json?To=%2B33&Page=1"
    )
    assert rebase_url(url, "http://h:1/twilio/").startswith("http://h:1/twilio/2010-04-01/")


def test_create_message_reaches_standin(client: Client, standin: TwilioStandIn) -> None:
    message = _send(
        client,
        to="+33612345678",
        from_="+33757000001",
        body="Votre signalement est enregistré.",
        status_callback="https://mairie.example/twilio/status",
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued" and message.direction == "outbound-api"
    assert message.num_segments == "1"
    [sent] = standin.sent
    assert sent.params["To"] == "+33612345678" and sent.params["From"] == "+33757000001"
    assert sent.params["Body"] == "Votre signalement est enregistré."
    assert sent.params["StatusCallback"] == "https://mairie.example/twilio/status"
    assert sent.username == standin.account_sid and sent.message_sid == message.sid
    fetched = client.messages(message.sid).fetch()
    assert fetched.body == message.body and fetched.to == "+33612345678"


def test_segments_follow_sms_encoding() -> None:
    assert num_segments("a" * 160) == 1 and num_segments("a" * 161) == 2
    assert num_segments("é" * 160) == 1  # é is in the GSM-7 alphabet
    assert num_segments("ê" * 70) == 1 and num_segments("ê" * 71) == 2  # ê forces UCS-2


def test_wrong_token_is_permanent(settings: Twilio, standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    api = make_client(settings)
    try:
        with pytest.raises(TwilioPermanent) as caught:
            _send(api, to="+33612345678", from_="+33757000001", body="x")
    finally:
        close_client(api)
    assert caught.value.status == 401 and caught.value.code == 20003
    assert standin.sent == []


def test_rate_limit_is_transient(client: Client, standin: TwilioStandIn) -> None:
    standin.fail_next(429, code=20429)
    with pytest.raises(TwilioTransient) as caught:
        _send(client, to="+33612345678", from_="+33757000001", body="x")
    assert caught.value.status == 429
    assert _send(client, to="+33612345678", from_="+33757000001", body="x").status == "queued"


def test_server_error_is_transient(client: Client, standin: TwilioStandIn) -> None:
    standin.fail_next(503)
    with pytest.raises(TwilioTransient):
        _send(client, to="+33612345678", from_="+33757000001", body="x")


@pytest.mark.parametrize("code", [21610, 21211, 21408, 21614])
def test_refusals_are_permanent_with_code(client: Client, standin: TwilioStandIn, code: int) -> None:
    standin.fail_next(400, code=code, message="Attempt to send to unsubscribed recipient")
    with pytest.raises(TwilioPermanent) as caught:
        _send(client, to="+33612345678", from_="+33757000001", body="x")
    assert caught.value.code == code and caught.value.status == 400
    assert caught.value.opted_out is (code == 21610)
    assert standin.sent == []


def test_network_failure_is_transient(settings: Twilio, standin: TwilioStandIn) -> None:
    standin.stop()
    api = make_client(settings, timeout=2)
    try:
        with pytest.raises(TwilioTransient):
            _send(api, to="+33612345678", from_="+33757000001", body="x")
    finally:
        close_client(api)


def _media_url(standin: TwilioStandIn, content: bytes, ctype: str) -> tuple[str, str, str]:
    sid = standin.add_inbound("+33612345678", "+33757000001", "photo", media=[(content, ctype)])
    media_sid = standin.messages[sid].media[0].sid
    path = f"/2010-04-01/Accounts/{standin.account_sid}/Messages/{sid}/Media/{media_sid}"
    return "https://api.twilio.com" + path, sid, media_sid


def test_download_media_with_auth_and_redirect(settings: Twilio, standin: TwilioStandIn) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 5000
    url, _, media_sid = _media_url(standin, jpeg, "image/jpeg")
    assert download_media(settings, url) == (jpeg, "image/jpeg")
    assert any(path == f"/_cdn/{media_sid}" for _, path in standin.requests)  # followed Twilio's redirect


def test_download_media_from_client(client: Client, standin: TwilioStandIn) -> None:
    url, _, _ = _media_url(standin, b"PNGDATA", "image/png")
    assert download_media(client, url) == (b"PNGDATA", "image/png")


def test_download_media_wrong_token(settings: Twilio, standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _, _ = _media_url(standin, b"data", "image/jpeg")
    monkeypatch.setenv(TOKEN_ENV, "wrong")
    with pytest.raises(TwilioPermanent) as caught:
        download_media(settings, url)
    assert caught.value.status == 401


def test_download_media_too_large(settings: Twilio, standin: TwilioStandIn) -> None:
    url, _, _ = _media_url(standin, b"x" * 300_000, "image/jpeg")
    small = settings.model_copy(update={"media_max_mb": 0.1})
    with pytest.raises(MediaTooLarge, match="trop volumineux"):
        download_media(small, url)
    with pytest.raises(MediaTooLarge):
        download_media(settings, url, max_mb=0.01)


def test_download_media_type_refused(settings: Twilio, standin: TwilioStandIn) -> None:
    url, _, _ = _media_url(standin, b"MZ\x90\x00", "application/x-msdownload")
    with pytest.raises(MediaRefused, match="non accepté"):
        download_media(settings, url)


def test_download_media_refuses_foreign_host(settings: Twilio) -> None:
    with pytest.raises(MediaRefused):
        download_media(settings, "https://evil.example/steal")


def test_delete_media(client: Client, standin: TwilioStandIn, settings: Twilio) -> None:
    url, sid, media_sid = _media_url(standin, b"data", "image/jpeg")
    assert [m.sid for m in client.messages(sid).media.list()] == [media_sid]
    assert delete_media(client, sid, media_sid) is True
    assert standin.deleted_media == [media_sid]
    assert client.messages(sid).media.list() == []
    assert delete_media(client, sid, media_sid) is False  # already gone
    with pytest.raises(TwilioPermanent):
        download_media(settings, url)


def test_recording_content(settings: Twilio, standin: TwilioStandIn) -> None:
    rec = standin.add_recording(b"RIFFwav", mp3=b"ID3mp3")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{standin.account_sid}/Recordings/{rec}"
    assert download_media(settings, url + ".mp3") == (b"ID3mp3", "audio/mpeg")
    assert download_media(settings, url, types=["audio/x-wav"]) == (b"RIFFwav", "audio/x-wav")


def test_media_of_a_stored_message_are_deleted_on_twilio(make_config: Any) -> None:
    """After processing, media are deleted on the stand-in (which plays Twilio's part) when configured."""
    from urllib.parse import urlencode

    from intake.channels.twilio_media import delete_stored_media, media_sids

    with TwilioStandIn() as standin:
        cfg = make_config(
            twilio={
                "account_sid": standin.account_sid,
                "auth_token": {"env": "X_TW_TOKEN"},
                "api_base_url": standin.base_url,
                "delete_media": True,
            }
        )
        os.environ["X_TW_TOKEN"] = standin.auth_token
        try:
            message_sid = standin.add_inbound(
                "+33612345678", "+33700000000", "photo", media=[(b"\xff\xd8jpeg", "image/jpeg")]
            )
            media_sid = standin.messages[message_sid].media[0].sid
            account = f"{standin.base_url}/2010-04-01/Accounts/{standin.account_sid}"
            url = f"{account}/Messages/{message_sid}/Media/{media_sid}"
            payload = urlencode(
                {
                    "MessageSid": message_sid,
                    "From": "+33612345678",
                    "To": "+33700000000",
                    "Body": "",
                    "NumMedia": "1",
                    "MediaUrl0": url,
                    "MediaContentType0": "image/jpeg",
                }
            )
            assert media_sids(payload.encode()) == [(message_sid, media_sid)]
            assert delete_stored_media(cfg, payload.encode()) == 1
            assert standin.deleted_media == [media_sid]
        finally:
            del os.environ["X_TW_TOKEN"]
