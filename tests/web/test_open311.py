"""Open311 GeoReport v2 API: posted like a real app, stored raw, processed, then read back without personal data."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import Attachment, Outbox, RawMessage, Report
from intake.notify import ConsoleMailer
from intake.processing import process_raw
from intake.resources import Resources, build_resources
from tests.support.mail import jpeg_with_gps
from web import create_app

DATA = Path(__file__).resolve().parent.parent / "data" / "open311"
KEY = "cle-de-test-0123456789"
API = "/open311/v2"


def lenient_json(text: str) -> Any:
    """The spec's examples: drop an HTTP status line before the body, quote numbers with leading zeros."""
    start = min(i for i in (text.find("["), text.find("{")) if i >= 0)
    body = re.sub(r":\s*(0\d+)\s*([,}\]])", r':"\1"\2', text[start:])
    return json.loads(body)


@pytest.fixture
def res(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> Resources:
    monkeypatch.setenv("TEST_OPEN311_KEY", KEY)
    cfg = make_config(open311={"api_keys": [{"name": "appli-ville", "key": {"env": "TEST_OPEN311_KEY"}}],
                               "max_description": 200, "max_media_mb": 0.2})
    return build_resources(cfg, mailer=ConsoleMailer())


@pytest.fixture
def client(res: Resources) -> FlaskClient:
    return create_app(res.config, resources=res).test_client()


def post(client: FlaskClient, **fields: Any) -> Any:
    data = {"api_key": KEY, "service_code": "eclairage", "lat": "48.857876", "long": "2.347579",
            "description": "Le lampadaire est éteint depuis trois jours", "email": "jeanne@example.fr",
            "phone": "06 12 34 56 78", "first_name": "Jeanne", "last_name": "Martin", "device_id": "abc",
            **fields}
    multipart = any(isinstance(v, tuple) for v in data.values())
    return client.post(f"{API}/requests.json", data={k: v for k, v in data.items() if v is not None},
                       content_type="multipart/form-data" if multipart else None)


def process(res: Resources, token: str) -> Report:
    with res.factory() as s:
        raw_id = s.execute(select(RawMessage.id).where(RawMessage.external_key == token)).scalar_one()
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        return report


def assert_error(response: Any, code: int) -> str:
    assert response.status_code == code
    body = response.get_json()
    assert isinstance(body, list) and body[0]["code"] == code and body[0]["description"]
    return str(body[0]["description"])


def test_spec_examples_parse_leniently() -> None:
    services = lenient_json((DATA / "service-list.json").read_text())
    assert services[0]["service_code"] == "001" and services[0]["type"] == "realtime"
    assert lenient_json((DATA / "errors.json").read_text())[0]["code"] == 403
    assert lenient_json((DATA / "service-requests.json").read_text())[1]["status"] == "open"
    assert "token" in lenient_json((DATA / "request-from-token.json").read_text())[0]
    assert "service_request_id" in lenient_json((DATA / "service-request-post.json").read_text())[0]


def test_services_match_config_and_spec_shape(client: FlaskClient, res: Resources) -> None:
    spec_keys = set(lenient_json((DATA / "service-list.json").read_text())[0])
    services = client.get(f"{API}/services.json").get_json()
    assert [s["service_code"] for s in services] == [c.code for c in res.config.categories]
    assert set(services[0]) == spec_keys
    eclairage = next(s for s in services if s["service_code"] == "eclairage")
    assert eclairage["service_name"] == "Éclairage public" and eclairage["group"] == "Éclairage public"
    assert eclairage["metadata"] is False and eclairage["type"] == "realtime"
    assert client.get(f"{API}/services/voirie.json").get_json() == {"service_code": "voirie", "attributes": []}
    assert_error(client.get(f"{API}/services/inconnu.json"), 404)


def test_json_post_becomes_report_kept_category_pin_and_confirmation(client: FlaskClient, res: Resources) -> None:
    answer = post(client)
    assert answer.status_code == 201
    token = answer.get_json()[0]["token"]
    assert client.get(f"{API}/tokens/{token}.json").get_json() == [{"token": token}]  # not processed yet
    with res.factory() as s:
        raw = s.execute(select(RawMessage).where(RawMessage.external_key == token)).scalar_one()
        assert raw.channel == "open311" and raw.source == "appli-ville"
        assert KEY not in raw.payload.decode()  # the api key is not stored
    report = process(res, token)
    assert report.category == "eclairage" and report.category_source == "app" and report.service == "eclairage"
    assert report.location_source == "pin" and report.lat == pytest.approx(48.857876)
    with res.factory() as s:
        outbox = s.execute(select(Outbox).where(Outbox.report_id == report.id)).scalars().all()
    assert [(o.channel, o.recipient, o.kind) for o in outbox] == [("email", "jeanne@example.fr", "confirmation")]
    assert client.get(f"{API}/tokens/{token}.json").get_json() == [
        {"token": token, "service_request_id": report.tracking_number}]
    one = client.get(f"{API}/requests/{report.tracking_number}.json")
    text = one.get_data(as_text=True)
    assert "jeanne" not in text.lower() and "0612345678" not in text and "+33612345678" not in text
    assert "Martin" not in text
    item = one.get_json()[0]
    assert item["service_request_id"] == report.tracking_number and item["status"] == "open"
    assert item["service_code"] == "eclairage" and item["lat"] == pytest.approx(48.857876)
    assert item["description"].startswith("Le lampadaire")
    spec_keys = set(lenient_json((DATA / "service-requests.json").read_text())[0])
    assert spec_keys <= set(item)


def test_multipart_photo_with_address_only(client: FlaskClient, res: Resources) -> None:
    photo = (io.BytesIO(jpeg_with_gps(48.8566, 2.3522)), "photo.jpg", "image/jpeg")
    answer = post(client, lat=None, long=None, address_string="12 avenue Victoria, Paris", media=photo,
                  service_code="voirie", description="Nid de poule dangereux")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    report = process(res, answer.get_json()[0]["token"])
    assert report.category == "voirie" and report.category_source == "app"
    assert report.lat is not None and report.location_source in {"text", "exif"}
    with res.factory() as s:
        atts = s.execute(select(Attachment).where(Attachment.report_id == report.id)).scalars().all()
    assert len(atts) == 1 and atts[0].gps_lat == pytest.approx(48.8566, abs=1e-3)


def test_list_filters(client: FlaskClient, res: Resources) -> None:
    first = process(res, post(client).get_json()[0]["token"])
    second = process(res, post(client, service_code="voirie").get_json()[0]["token"])
    every = client.get(f"{API}/requests.json").get_json()
    assert [r["service_request_id"] for r in every] == [second.tracking_number, first.tracking_number]
    only = client.get(f"{API}/requests.json?service_code=voirie").get_json()
    assert [r["service_request_id"] for r in only] == [second.tracking_number]
    ids = client.get(f"{API}/requests.json?service_request_id={first.tracking_number},9999-99999").get_json()
    assert [r["service_request_id"] for r in ids] == [first.tracking_number]
    assert client.get(f"{API}/requests.json?status=closed").get_json() == []
    assert len(client.get(f"{API}/requests.json?status=open&start_date=2000-01-01T00:00:00Z").get_json()) == 2
    assert client.get(f"{API}/requests.json?end_date=2000-01-01T00:00:00Z").get_json() == []


@pytest.mark.parametrize(("fields", "code", "word"), [
    ({"api_key": None}, 403, "api_key"),
    ({"api_key": "mauvaise"}, 403, "api_key"),
    ({"service_code": "inconnu"}, 400, "service_code"),
    ({"service_code": None}, 400, "service_code"),
    ({"lat": "91"}, 400, "lat"),
    ({"long": "-181"}, 400, "long"),
    ({"lat": "nan"}, 400, "lat"),
    ({"lat": "abc"}, 400, "lat"),
    ({"long": None}, 400, "long"),
    ({"lat": None, "long": None}, 400, "localisation"),
    ({"description": "x" * 201}, 400, "description"),
    ({"email": "pas une adresse"}, 400, "email"),
    ({"media": (io.BytesIO(b"x" * 200_001), "grosse.jpg", "image/jpeg")}, 413, "photo"),
    ({"media": (io.BytesIO(b"MZ"), "virus.exe", "application/x-msdownload")}, 400, "type"),
])
def test_post_errors(client: FlaskClient, fields: dict[str, Any], code: int, word: str) -> None:
    assert word in assert_error(post(client, **fields), code)


def test_read_errors(client: FlaskClient) -> None:
    assert "format" in assert_error(client.get(f"{API}/services.xml"), 400)
    assert "format" in assert_error(client.post(f"{API}/requests.xml", data={"api_key": KEY}), 400)
    assert_error(client.get(f"{API}/services"), 404)
    assert_error(client.get(f"{API}/requests/2024-99999.json"), 404)
    assert_error(client.get(f"{API}/tokens/inconnu.json"), 404)
    assert_error(client.get(f"{API}/requests.json?status=maybe"), 400)
    assert_error(client.get(f"{API}/requests.json?start_date=hier"), 400)
    assert_error(client.get(f"{API}/requests.json?service_code=inconnu"), 400)
    assert_error(client.post(f"{API}/requests.json", data="[1]", content_type="application/json"), 400)


def test_address_only_is_geocoded_from_text(client: FlaskClient, res: Resources) -> None:
    answer = post(client, lat=None, long=None, address_string="5 avenue de l'Opéra, Paris", email=None)
    report = process(res, answer.get_json()[0]["token"])
    assert report.location_source == "text" and report.lat == pytest.approx(48.864681, abs=1e-3)
    assert report.category == "eclairage" and report.citizen_recovered  # the phone identifies the citizen
