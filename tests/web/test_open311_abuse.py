"""Open311 abuse (S3): one normalised email per request, the daily cap on that address, rate limits answered 429."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.email.recipient import single_address
from intake.models import Outbox, RawMessage
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import Resources, build_resources
from tests.web.test_open311 import KEY, assert_error, process, request_fields
from web import create_app

API = "/open311/v2"


def _resources(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch, **open311: object) -> Resources:
    monkeypatch.setenv("TEST_OPEN311_KEY", KEY)
    cfg = make_config(open311={"api_keys": [{"name": "appli-ville", "key": {"env": "TEST_OPEN311_KEY"}}], **open311})
    return build_resources(cfg, mailer=ConsoleMailer())


def _client(app: Flask, address: str = "192.0.2.10") -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _post(client: FlaskClient, i: int, **fields: object) -> object:
    data = request_fields(description=f"Lampadaire n° {i} éteint depuis trois jours", **fields)
    return client.post(f"{API}/requests.json", data=data)


@pytest.mark.parametrize(
    "email",
    [
        "jeanne@example.fr, a@example.org",
        "jeanne@example.fr,a@example.org,b@example.org",
        "jeanne@example.fr;a@example.org",
        "Jeanne <jeanne@example.fr>",
        "jeanne@example.fr a@example.org",
        "jeanne@",
        "@example.fr",
        "jeanne@localhost",
        "jeanne@exa mple.fr",
        '"a,b"@example.fr',
    ],
)
def test_anything_but_one_address_is_refused(
    email: str, make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = _resources(make_config, monkeypatch)
    answer = _post(_client(create_app(res.config, resources=res)), 1, email=email)
    assert "une seule adresse" in assert_error(answer, 400)
    with res.factory() as s:
        assert s.execute(select(RawMessage.id)).first() is None


def test_single_address_normalises_case() -> None:
    assert single_address("  Jeanne.Martin@Example.FR ") == "jeanne.martin@example.fr"
    assert single_address("a@b.fr,c@d.fr") is None


def test_daily_cap_counts_the_address_whatever_its_case(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = _resources(make_config, monkeypatch)
    client = _client(create_app(res.config, resources=res))
    variants = ["jeanne@example.fr", "JEANNE@EXAMPLE.FR", "Jeanne@Example.fr", "jeanne@EXAMPLE.fr", "jEanne@example.FR"]
    for i, email in enumerate(variants):
        answer = _post(client, i, email=email, lat=f"48.85{i}", long="2.347579")
        assert answer.status_code == 201, answer.get_data(as_text=True)  # type: ignore[attr-defined]
        token = answer.get_json()[0]["token"]  # type: ignore[attr-defined]
        with res.factory() as s:
            stored = s.execute(select(RawMessage.payload).where(RawMessage.external_key == token)).scalar_one()
        assert json.loads(stored)["email"] == "jeanne@example.fr"
        process(res, token)
    with res.factory() as s:
        rows = s.execute(select(Outbox.recipient, Outbox.status).where(Outbox.kind == "confirmation")).all()
    cap = res.config.notifications.max_confirmations_per_recipient_per_day
    assert {recipient for recipient, _ in rows} == {"jeanne@example.fr"}
    assert sorted(status for _, status in rows) == ["pending"] * cap + ["suppressed"] * (len(variants) - cap)


def test_rate_limit_per_client_address(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> None:
    res = _resources(make_config, monkeypatch)
    app = create_app(res.config, resources=res)
    client = _client(app)
    codes = [_post(client, i).status_code for i in range(25)]  # type: ignore[attr-defined]
    limit = res.config.open311.max_requests_per_address_per_minute
    assert codes == [201] * limit + [429] * (25 - limit)
    answer = _post(client, 99)
    assert "trop de demandes" in assert_error(answer, 429)
    assert _post(_client(app, "198.51.100.20"), 100).status_code == 201  # type: ignore[attr-defined]
    with res.factory() as s:
        assert len(s.execute(select(RawMessage.id)).all()) == limit + 1


def test_rate_limit_per_api_key(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> None:
    res = _resources(make_config, monkeypatch, max_requests_per_key_per_minute=12)
    app = create_app(res.config, resources=res)
    codes = [_post(_client(app, f"10.1.0.{i}"), i).status_code for i in range(20)]  # type: ignore[attr-defined]
    assert codes == [201] * 12 + [429] * 8
    xml = _client(app, "10.1.1.1").post(f"{API}/requests.xml", data=request_fields(description="autre"))
    assert "trop de demandes de cette application" in assert_error(xml, 429)
