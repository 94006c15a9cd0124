"""Open311 GeoReport v2 API: posted like a real app, stored raw, processed, then read back without personal data."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from intake.config import Config
from intake.models import Attachment, Outbox, RawMessage, Report
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import store_raw
from intake.reports.statuses import change_status
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email, jpeg_with_gps
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
    cfg = make_config(
        open311={
            "api_keys": [{"name": "appli-ville", "key": {"env": "TEST_OPEN311_KEY"}}],
            "max_description": 200,
            "max_media_mb": 0.2,
        }
    )
    return build_resources(cfg, mailer=ConsoleMailer())


@pytest.fixture
def client(res: Resources) -> FlaskClient:
    return create_app(res.config, resources=res).test_client()


def request_fields(**fields: Any) -> dict[str, Any]:
    """What a citizens' app posts, with `fields` replacing or (None) removing the defaults."""
    data = {
        "api_key": KEY,
        "service_code": "eclairage",
        "lat": "48.857876",
        "long": "2.347579",
        "description": "Le lampadaire est éteint depuis trois jours",
        "email": "jeanne@example.fr",
        "phone": "06 12 34 56 78",
        "first_name": "Jeanne",
        "last_name": "Martin",
        "device_id": "abc",
        **fields,
    }
    return {k: v for k, v in data.items() if v is not None}


def post(client: FlaskClient, fmt: str = "json", **fields: Any) -> Any:
    data = request_fields(**fields)
    multipart = any(isinstance(v, tuple) for v in data.values())
    return client.post(f"{API}/requests.{fmt}", data=data, content_type="multipart/form-data" if multipart else None)


def process(res: Resources, token: str) -> Report:
    with res.factory() as s:
        raw_id = s.execute(select(RawMessage.id).where(RawMessage.external_key == token)).scalar_one()
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        return report


def filed(client: FlaskClient, res: Resources, **fields: Any) -> Report:
    """A request posted by the app and processed into a report."""
    answer = post(client, **fields)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return process(res, answer.get_json()[0]["token"])


def assert_error(response: Any, code: int) -> str:
    """The spec's error answer in JSON or XML (by the response's type); returns the description."""
    assert response.status_code == code
    if response.mimetype == "application/xml":
        root = ET.fromstring(response.get_data())
        assert root.tag == "errors" and [e.tag for e in root] == ["error"]
        assert root.findtext("error/code") == str(code)
        description = root.findtext("error/description") or ""
    else:
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert isinstance(body, list) and len(body) == 1 and body[0]["code"] == code
        description = body[0]["description"]
    assert description and " / " in description  # French, then English
    return str(description)


def test_spec_examples_parse_leniently() -> None:
    services = lenient_json((DATA / "service-list.json").read_text())
    assert services[0]["service_code"] == "001" and services[0]["type"] == "realtime"
    assert lenient_json((DATA / "errors.json").read_text())[0]["code"] == 403
    assert lenient_json((DATA / "service-requests.json").read_text())[1]["status"] == "open"
    assert "token" in lenient_json((DATA / "request-from-token.json").read_text())[0]
    assert "service_request_id" in lenient_json((DATA / "service-request-post.json").read_text())[0]


def test_services_match_config(client: FlaskClient, res: Resources) -> None:
    services = client.get(f"{API}/services.json").get_json()
    assert [s["service_code"] for s in services] == [c.code for c in res.config.categories]
    eclairage = next(s for s in services if s["service_code"] == "eclairage")
    assert eclairage["service_name"] == "Éclairage public" and eclairage["group"] == "Éclairage public"
    assert eclairage["metadata"] is False and eclairage["type"] == "realtime"
    xml = ET.fromstring(client.get(f"{API}/services.xml").get_data())
    assert [s.findtext("service_code") for s in xml] == [c.code for c in res.config.categories]
    assert xml.find("service[service_code='eclairage']/service_name").text == "Éclairage public"  # type: ignore
    assert xml.findtext("service/metadata") == "false"
    assert client.get(f"{API}/services/voirie.json").get_json() == {"service_code": "voirie", "attributes": []}
    assert_error(client.get(f"{API}/services/inconnu.json"), 404)
    assert_error(client.get(f"{API}/services/inconnu.xml"), 404)


def test_post_becomes_report_kept_category_pin_and_confirmation(client: FlaskClient, res: Resources) -> None:
    answer = post(client)
    assert answer.status_code == 201
    token = answer.get_json()[0]["token"]
    assert token in answer.get_json()[0]["service_notice"]
    assert client.get(f"{API}/tokens/{token}.json").get_json() == [{"token": token}]  # not processed yet
    with res.factory() as s:
        raw = s.execute(select(RawMessage).where(RawMessage.external_key == token)).scalar_one()
        assert raw.channel == "open311" and raw.source == "appli-ville"
        assert KEY not in raw.payload.decode()  # the api key is not stored
    report = process(res, token)
    assert report.category == "eclairage" and report.category_source == "app" and report.service == "eclairage"
    assert report.location_source == "pin" and report.lat == pytest.approx(48.857876)
    with res.factory() as s:
        outbox = (
            s.execute(select(Outbox).where(Outbox.report_id == report.id, Outbox.kind == "confirmation"))
            .scalars()
            .all()
        )
    assert [(o.channel, o.recipient) for o in outbox] == [("email", "jeanne@example.fr")]
    assert client.get(f"{API}/tokens/{token}.json").get_json() == [
        {"service_request_id": report.public_id, "token": token}
    ]
    for fmt in ("json", "xml"):
        text = client.get(f"{API}/requests/{report.public_id}.{fmt}").get_data(as_text=True)
        assert "jeanne" not in text.lower() and "Martin" not in text and "abc" not in text
        assert not re.search(r"0?6[ .]?12[ .]?34", text)
    item = client.get(f"{API}/requests/{report.public_id}.json").get_json()[0]
    assert item["service_request_id"] == report.public_id and item["status"] == "open"
    assert item["service_code"] == "eclairage" and item["lat"] == pytest.approx(48.857876)
    assert item["description"].startswith("Le lampadaire") and item["agency_responsible"] == "Éclairage public"
    assert item["status_notes"].startswith(res.config.statuses.label(report.status))  # "Transmis : ..." by routing
    assert item["media_url"] is None  # no photo was posted


def test_xml_post_answers_xml_and_token_in_xml(client: FlaskClient, res: Resources) -> None:
    answer = post(client, "xml")
    assert answer.status_code == 201 and answer.mimetype == "application/xml"
    assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(answer.get_data())
    assert root.tag == "service_requests" and [r.tag for r in root] == ["request"]
    token = root.findtext("request/token")
    assert token and root.find("request/account_id") is not None
    report = process(res, token)
    tok = ET.fromstring(client.get(f"{API}/tokens/{token}.xml").get_data())
    assert tok.findtext("request/service_request_id") == report.public_id
    assert tok.findtext("request/token") == token


def test_xml_escapes_hostile_text_and_drops_control_characters(client: FlaskClient, res: Resources) -> None:
    hostile = '<b>Lampe</b> & "cassée" ]]> \x0b\x01 fin é'
    report = filed(client, res, description=hostile)
    raw = client.get(f"{API}/requests/{report.public_id}.xml").get_data()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert b"<b>" not in raw and b"&lt;b&gt;" in raw
    text = ET.fromstring(raw).findtext("request/description")
    assert text == '<b>Lampe</b> & "cassée" ]]>  fin é'
    assert client.get(f"{API}/requests/{report.public_id}.json").get_json()[0]["description"] == hostile


def test_multipart_photo_with_address_only(client: FlaskClient, res: Resources) -> None:
    photo = (io.BytesIO(jpeg_with_gps(48.8566, 2.3522)), "photo.jpg", "image/jpeg")
    report = filed(
        client,
        res,
        lat=None,
        long=None,
        address_string="12 avenue Victoria, Paris",
        media=photo,
        service_code="voirie",
        description="Nid de poule dangereux",
    )
    assert report.category == "voirie" and report.category_source == "app"
    assert report.lat is not None and report.location_source in {"text", "exif"}
    with res.factory() as s:
        atts = s.execute(select(Attachment).where(Attachment.report_id == report.id)).scalars().all()
    assert len(atts) == 1 and atts[0].gps_lat == pytest.approx(48.8566, abs=1e-3)


def test_photo_declared_as_octet_stream_is_recognised_by_its_bytes(client: FlaskClient, res: Resources) -> None:
    photo = (io.BytesIO(jpeg_with_gps(48.8566, 2.3522)), "IMG_0001", "application/octet-stream")
    report = filed(client, res, media=photo)
    with res.factory() as s:
        att = s.execute(select(Attachment).where(Attachment.report_id == report.id)).scalar_one()
    assert att.content_type == "image/jpeg" and att.is_image and att.served_sha256


def test_list_filters(client: FlaskClient, res: Resources) -> None:
    first = filed(client, res)
    second = filed(client, res, service_code="voirie", description="Trou dans la chaussée")
    every = client.get(f"{API}/requests.json").get_json()
    assert [r["service_request_id"] for r in every] == [second.public_id, first.public_id]
    only = client.get(f"{API}/requests.json?service_code=voirie").get_json()
    assert [r["service_request_id"] for r in only] == [second.public_id]
    both = client.get(f"{API}/requests.json?service_code=voirie,eclairage").get_json()
    assert len(both) == 2
    ids = client.get(f"{API}/requests.json?service_request_id={first.public_id},9999-99999").get_json()
    assert [r["service_request_id"] for r in ids] == [first.public_id]
    # service_request_id overrides the other filters
    ids = client.get(
        f"{API}/requests.json?service_request_id={first.public_id}&service_code=voirie&status=closed"
    ).get_json()
    assert [r["service_request_id"] for r in ids] == [first.public_id]
    assert client.get(f"{API}/requests.json?status=closed").get_json() == []
    assert len(client.get(f"{API}/requests.json?status=open,closed").get_json()) == 2
    today = datetime.now(UTC)
    start = (today - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(client.get(f"{API}/requests.json?status=open&start_date={start}").get_json()) == 2
    assert client.get(f"{API}/requests.json?end_date=2000-01-01T00:00:00Z").get_json() == []
    local = (today - timedelta(hours=2)).astimezone(res.config.town.local(today).tzinfo).isoformat(timespec="seconds")
    assert len(client.get(f"{API}/requests.json", query_string={"start_date": local}).get_json()) == 2
    midnight = res.config.town.local(today).date().isoformat()  # a bare date: midnight, the town's time
    assert len(client.get(f"{API}/requests.json?start_date={midnight}").get_json()) == 2
    assert client.get(f"{API}/requests.json?end_date={midnight}").get_json() == []


def test_default_window_is_the_last_90_days(client: FlaskClient, res: Resources) -> None:
    old = filed(client, res)
    recent = filed(client, res, service_code="voirie")
    with res.factory() as s, s.begin():
        s.execute(update(Report).where(Report.id == old.id).values(created_at=datetime.now(UTC) - timedelta(days=120)))
    listed = [r["service_request_id"] for r in client.get(f"{API}/requests.json").get_json()]
    assert listed == [recent.public_id]
    then = (datetime.now(UTC) - timedelta(days=125)).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = [r["service_request_id"] for r in client.get(f"{API}/requests.json?start_date={then}").get_json()]
    assert listed == [old.public_id]  # start_date alone: the 90 days after it
    by_id = client.get(f"{API}/requests.json?service_request_id={old.public_id}").get_json()
    assert [r["service_request_id"] for r in by_id] == [old.public_id]


def test_at_most_1000_requests(client: FlaskClient, res: Resources) -> None:
    from intake.models import Report as R

    with res.factory() as s, s.begin():
        now = datetime.now(UTC)
        s.add_all(
            [
                R(
                    tracking_number=f"2099-{i:05d}",
                    public_token=f"tok-{i}",
                    public_id=f"pub-{i:05d}",
                    channel="email",
                    category="voirie",
                    created_at=now - timedelta(minutes=i),
                )
                for i in range(1003)
            ]
        )
    answer = client.get(f"{API}/requests.json").get_json()
    assert len(answer) == 1000 and answer[0]["service_request_id"] == "pub-00000"
    assert answer[-1]["service_request_id"] == "pub-00999"
    assert all(r["description"] is None for r in answer)  # email reports publish no description


def test_description_from_other_channels_is_never_published(client: FlaskClient, res: Resources) -> None:
    mail = citizen_email(
        body="Bonjour,\n\nLe lampadaire devant chez moi (Jeanne Martin, 06 12 34 56 78) au 12 rue "
        "des Lilas ne marche plus.\n"
    )
    raw_id, _ = store_raw(res.factory, channel="email", source="test", external_key="mid:a@b", payload=mail)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None and "Jeanne" in report.description
    text = client.get(f"{API}/requests/{report.public_id}.json").get_data(as_text=True)
    assert "Jeanne" not in text and "Martin" not in text and "06 12" not in text
    assert client.get(f"{API}/requests/{report.public_id}.json").get_json()[0]["description"] is None


def test_emails_and_phones_in_app_descriptions_are_masked(client: FlaskClient, res: Resources) -> None:
    report = filed(
        client,
        res,
        description="Appelez-moi au 06.12.34.56.78 ou +33 7 11 22 33 44, "
        "jeanne.martin@example.fr, lampadaire n° 12345 éteint",
    )
    item = client.get(f"{API}/requests/{report.public_id}.json").get_json()[0]
    assert item["description"] == (
        "Appelez-moi au [téléphone masqué] ou [téléphone masqué], [adresse e-mail masquée], lampadaire n° 12345 éteint"
    )


def test_status_notes_and_closed(client: FlaskClient, res: Resources) -> None:
    report = filed(client, res)
    cfg = res.config
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        change_status(s, cfg, row, "resolu", actor="agent", note="Ampoule remplacée le 3 mai", notify=False)
    item = client.get(f"{API}/requests/{report.public_id}.json").get_json()[0]
    assert item["status"] == "closed"
    # The note goes to the reporters' messages only (tests/web/test_public_privacy.py), never the API (P3).
    assert item["status_notes"] == cfg.statuses.label("resolu")
    assert item["description"].startswith("Le lampadaire")
    assert [r["service_request_id"] for r in client.get(f"{API}/requests.json?status=closed").get_json()] == [
        report.public_id
    ]
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        change_status(s, cfg, row, "rejete", actor="agent", reason="hors_competence", notify=False)
    item = client.get(f"{API}/requests/{report.public_id}.json").get_json()[0]
    assert item["status"] == "closed" and item["description"] is None  # a rejected report publishes no text
    assert item["status_notes"] == f"{cfg.statuses.label('rejete')} ({cfg.statuses.reason_label('hors_competence')})"


def test_jurisdiction_id(client: FlaskClient, res: Resources) -> None:
    insee = res.config.town.insee_codes[0]
    assert client.get(f"{API}/services.json?jurisdiction_id={insee}").status_code == 200
    assert client.get(f"{API}/services.json?jurisdiction_id=localhost").status_code == 200
    assert "jurisdiction_id" in assert_error(client.get(f"{API}/services.xml?jurisdiction_id=sfgov.org"), 404)
    assert "jurisdiction_id" in assert_error(client.get(f"{API}/requests.json?jurisdiction_id=sfgov.org"), 404)
    assert "jurisdiction_id" in assert_error(post(client, jurisdiction_id="sfgov.org"), 404)
    assert post(client, jurisdiction_id=insee).status_code == 201


def test_address_only_is_geocoded_from_text(client: FlaskClient, res: Resources) -> None:
    report = filed(client, res, lat=None, long=None, address_string="5 avenue de l'Opéra, Paris", email=None)
    assert report.location_source == "text" and report.lat == pytest.approx(48.864681, abs=1e-3)
    assert report.category == "eclairage" and report.citizen_recovered  # the phone identifies the citizen
