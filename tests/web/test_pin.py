"""The citizen's map page /suivi/<token>/position: no personal data, CSRF, inside the commune only, never over a firm
position, thanks afterwards; the commune's outline; the map tiles' origin in the CSP."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import Event, Report
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email
from web import create_app

pytestmark = pytest.mark.db

BODY = "Bonjour,\n\nUn lampadaire ne s'allume plus depuis lundi soir, il fait tout noir.\n\nMerci,\nJeanne Martin"
INSIDE = ("48.853840", "2.405865")  # 72 rue des Pyrénées, Paris 20e
OUTSIDE = ("45.764043", "4.835659")  # Lyon


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    # No tile server: the page's plain-map case (the shipped default layer is tested in tests/web/test_map.py).
    return build_resources(make_config(web={"tiles_url": None}), mailer=ConsoleMailer())


def file_report(res: Resources, body: str = BODY) -> Report:
    raw = citizen_email(sender="Jeanne Martin <jeanne.martin@example.org>", subject="Lampadaire", body=body)
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    return fetch(res, outcome.report_id)


def fetch(res: Resources, report_id: int | None) -> Report:
    with res.factory() as s:
        report = s.get(Report, report_id)
        assert report is not None
        s.expunge(report)
        return report


def update(res: Resources, report_id: int, **values: Any) -> None:
    with res.factory() as s, s.begin():
        report = s.get(Report, report_id)
        assert report is not None
        for key, value in values.items():
            setattr(report, key, value)


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the form"
    return found.group(1)


def post(client: FlaskClient, url: str, **fields: str) -> Any:
    token = token_of(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **fields})


@pytest.fixture
def site(res: Resources) -> tuple[FlaskClient, Report, str]:
    report = file_report(res)
    assert report.lat is None and report.location_requested_at is not None
    return create_app(res.config, resources=res).test_client(), report, f"/suivi/{report.public_token}/position"


def test_page_shows_number_and_category_but_no_personal_data(
    res: Resources, site: tuple[FlaskClient, Report, str]
) -> None:
    client, report, url = site
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Où se trouve le problème ?" in html
    assert report.tracking_number in html
    label = {c.code: c.label for c in res.config.categories}[report.category or ""]
    assert f"— {label}" in unescape(html)
    for private in ("Jeanne", "Martin", "jeanne.martin", "example.org", "lampadaire ne s'allume", "tout noir"):
        assert private not in html, private
    assert 'data-lat-input="lat"' in html and 'for="adresse"' in html and 'for="lat"' in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # no inline script (CSP)
    assert "/static/js/pin-map.js" in html and "/static/vendor/leaflet/leaflet.js" in html
    assert 'data-tiles=""' in html  # no tile server configured: a plain map
    assert "img-src 'self' data:;" in page.headers["Content-Security-Policy"]


def test_unknown_token_is_404(site: tuple[FlaskClient, Report, str]) -> None:
    client, _, url = site
    assert client.get("/suivi/inconnu/position").status_code == 404
    token = token_of(client.get(url).get_data(as_text=True))
    assert (
        client.post(
            "/suivi/inconnu/position", data={"csrf_token": token, "lat": INSIDE[0], "lon": INSIDE[1]}
        ).status_code
        == 404
    )


def test_post_without_csrf_token_is_refused_in_french(res: Resources, site: tuple[FlaskClient, Report, str]) -> None:
    client, report, url = site
    refused = client.post(url, data={"lat": INSIDE[0], "lon": INSIDE[1]})
    assert refused.status_code == 400 and "Rien n'a été enregistré" in refused.get_data(as_text=True)
    assert fetch(res, report.id).lat is None


def test_pin_inside_the_commune_places_the_report_then_thanks(
    res: Resources, site: tuple[FlaskClient, Report, str]
) -> None:
    client, report, url = site
    update(res, report.id, review_reasons=["aucune localisation"], status="a_qualifier")
    done = post(client, url, lat=INSIDE[0], lon=INSIDE[1])
    assert done.status_code == 303 and done.headers["Location"].endswith(url)
    placed = fetch(res, report.id)
    assert (placed.lat, placed.lon, placed.location_source) == (float(INSIDE[0]), float(INSIDE[1]), "pin")
    assert placed.address_label and "Rue des Pyrénées" in placed.address_label
    assert placed.review_reasons == [] and placed.status == "nouveau"  # nothing left for triage to check
    with res.factory() as s:
        located = s.execute(select(Event).where(Event.report_id == report.id, Event.action == "located")).scalar_one()
        status = s.execute(select(Event).where(Event.report_id == report.id, Event.action == "status")).scalar_one()
    assert located.actor == "citoyen" and located.detail["source"] == "pin" and located.detail["via"] == "carte"
    assert status.detail["to"] == "nouveau"
    thanks = client.get(url).get_data(as_text=True)
    assert "Merci" in thanks and 'name="lat"' not in thanks


def test_second_pin_is_refused(res: Resources, site: tuple[FlaskClient, Report, str]) -> None:
    client, report, url = site
    token = token_of(client.get(url).get_data(as_text=True))
    assert client.post(url, data={"csrf_token": token, "lat": INSIDE[0], "lon": INSIDE[1]}).status_code == 303
    second = client.post(url, data={"csrf_token": token, "lat": "48.8606", "lon": "2.3376"})
    assert second.status_code == 409 and "Merci" in second.get_data(as_text=True)
    assert fetch(res, report.id).lon == float(INSIDE[1])


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"lat": OUTSIDE[0], "lon": OUTSIDE[1]}, "en dehors de la commune"),
        ({"lat": "quarante-huit", "lon": "2.35"}, "Coordonnées invalides"),
        ({"lat": "48.85", "lon": ""}, "Coordonnées invalides"),
        ({}, "Placez le point sur la carte ou indiquez l'adresse"),
        ({"adresse": "12 chemin des Nuages Violets"}, "Adresse introuvable"),
    ],
)
def test_bad_positions_get_a_french_error(
    res: Resources, site: tuple[FlaskClient, Report, str], fields: dict[str, str], message: str
) -> None:
    client, report, url = site
    refused = post(client, url, **fields)
    html = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and message in html and 'role="alert"' in html
    assert 'name="csrf_token"' in html  # the form is shown again
    assert fetch(res, report.id).lat is None


def test_typed_address_is_geocoded(res: Resources, site: tuple[FlaskClient, Report, str]) -> None:
    client, report, url = site
    assert post(client, url, adresse="72 rue des Pyrénées").status_code == 303
    placed = fetch(res, report.id)
    assert placed.location_source == "text" and placed.address_label == "72 Rue des Pyrénées 75020 Paris"
    assert placed.lat == pytest.approx(48.8538, abs=1e-3)
    assert "Merci" in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize(
    "values,message",
    [
        ({"lat": 48.8566, "lon": 2.3522, "location_source": "agent"}, "par nos services"),
        ({"lat": 48.8566, "lon": 2.3522, "location_source": "exif"}, "par nos services"),
        ({"status": "resolu"}, "clos"),
    ],
)
def test_firm_position_or_closed_report_refuses(
    res: Resources, site: tuple[FlaskClient, Report, str], values: dict[str, Any], message: str
) -> None:
    client, report, url = site
    token = token_of(client.get(url).get_data(as_text=True))
    update(res, report.id, **values)
    page = client.get(url).get_data(as_text=True)
    assert message in page and 'name="lat"' not in page
    refused = client.post(url, data={"csrf_token": token, "lat": INSIDE[0], "lon": INSIDE[1]})
    assert refused.status_code == 409 and message in refused.get_data(as_text=True)
    after = fetch(res, report.id)
    assert after.location_source == values.get("location_source", "none")
    assert after.lat == values.get("lat")


def test_commune_outline_is_geojson(site: tuple[FlaskClient, Report, str]) -> None:
    client, _, url = site
    assert 'data-outline="/carte/commune.geojson"' in client.get(url).get_data(as_text=True)
    data = client.get("/carte/commune.geojson").get_json(force=True)
    ring = data["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) >= 4 and ring[0] == ring[-1]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert min(lats) < float(INSIDE[0]) < max(lats) and min(lons) < float(INSIDE[1]) < max(lons)
    assert not (min(lats) < float(OUTSIDE[0]) < max(lats))


def test_tiles_origin_is_allowed_by_the_csp(make_config: Callable[..., Config]) -> None:
    cfg = make_config(
        web={"tiles_url": "https://{s}.tile.example.org/{z}/{x}/{y}.png", "tiles_attribution": "© contributeurs"}
    )
    res = build_resources(cfg, mailer=ConsoleMailer())
    report = file_report(res)
    page = create_app(cfg, resources=res).test_client().get(f"/suivi/{report.public_token}/position")
    csp = page.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://*.tile.example.org;" in csp and "script-src 'self';" in csp
    assert 'data-tiles="https://{s}.tile.example.org/{z}/{x}/{y}.png"' in page.get_data(as_text=True)


def test_widget_documents_its_data_attributes() -> None:
    source = (Path(__file__).resolve().parents[2] / "web" / "static" / "js" / "pin-map.js").read_text(encoding="utf-8")
    header = source.split("*/", 1)[0]
    for attribute in (
        "data-lat-input",
        "data-lon-input",
        "data-center",
        "data-zoom",
        "data-tiles",
        "data-attribution",
        "data-outline",
    ):
        assert attribute in header and f'"{attribute}"' in source, attribute
