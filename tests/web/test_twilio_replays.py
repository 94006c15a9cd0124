"""Signed but not Twilio's: re-split replays of a captured webhook, unknown or repeated parameters, reused SIDs."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from tests.web.test_twilio_hooks import BASE, REAL_BODY, REAL_SID, RECORDING, TOKEN, make_app, raw_rows  # noqa: F401

URL = BASE + "/twilio/messages"
ORIGINAL = dict(parse_qsl(REAL_BODY, keep_blank_values=True))
SIGNATURE = RequestValidator(TOKEN).compute_signature(URL, ORIGINAL)


def _replay(
    app: Flask, params: dict[str, str], *, path: str = "/twilio/messages", signature: str = SIGNATURE
) -> TestResponse:
    """Post `params` under the signature Twilio gave the captured request."""
    return app.test_client().post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


def _resplit(**changes: str | None) -> dict[str, str]:
    """The captured parameters with some moved across a name/value boundary (None removes a parameter)."""
    params = dict(ORIGINAL)
    for name, value in changes.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    # The attack only works when the signature still fits: check it does, so the test proves the defence.
    assert RequestValidator(TOKEN).compute_signature(URL, params) == SIGNATURE
    return params


def test_resplit_into_a_new_message_sid_is_refused(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app()
    params = _resplit(MessageSid=REAL_SID + "NumMedia0", NumMedia=None)
    resp = _replay(app, params)
    assert resp.status_code == 400
    assert "MessageSid mal formé" in resp.get_data(as_text=True)
    assert raw_rows(app) == []


def test_resplit_into_a_parameter_twilio_never_sends_is_refused(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app()
    resp = _replay(app, _resplit(ToZip=None, ToZip9="4514"))
    assert resp.status_code == 400
    assert resp.get_data(as_text=True) == "paramètre inconnu de Twilio : ToZip9."
    assert raw_rows(app) == []


def test_known_sid_with_other_content_is_refused(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app()
    assert _replay(app, ORIGINAL).status_code == 200
    forged = _resplit(Body=ORIGINAL["Body"] + "From" + ORIGINAL["From"], From=None)
    resp = _replay(app, forged)
    assert resp.status_code == 409
    assert "autre contenu" in resp.get_data(as_text=True)
    assert [r.payload for r in raw_rows(app)] == [urlencode(ORIGINAL).encode()]
    assert _replay(app, ORIGINAL).status_code == 200  # Twilio's retry: still fine
    assert len(raw_rows(app)) == 1


def test_repeated_parameter_is_refused(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app()
    params = MultiDict(list(ORIGINAL.items()) + [("Body", "autre texte")])
    signature = RequestValidator(TOKEN).compute_signature(URL, params)
    resp = app.test_client().post(
        "/twilio/messages",
        data=urlencode(list(params.items(multi=True))),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert resp.status_code == 400 and "Body répété" in resp.get_data(as_text=True)
    assert raw_rows(app) == []


def test_sms_sid_aliases_must_agree(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app()
    params = {**ORIGINAL, "SmsSid": "SM" + "f" * 32}
    resp = _replay(app, params, signature=RequestValidator(TOKEN).compute_signature(URL, params))
    assert resp.status_code == 400 and raw_rows(app) == []


def test_recording_replayed_with_other_content_is_refused(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app(voice_enabled=True, numbers=["+33700000000"])
    url = BASE + "/twilio/voice/recording"
    recording = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA" + "1" * 32,
        "RecordingSid": RECORDING,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/{RECORDING}",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
    }
    other = {**recording, "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE-other"}
    sign = RequestValidator(TOKEN).compute_signature
    assert _replay(app, recording, path="/twilio/voice/recording", signature=sign(url, recording)).status_code == 204
    assert _replay(app, other, path="/twilio/voice/recording", signature=sign(url, other)).status_code == 409
    unknown = {**recording, "Digits": "1"}
    assert _replay(app, unknown, path="/twilio/voice/recording", signature=sign(url, unknown)).status_code == 400
    assert len(raw_rows(app)) == 1
