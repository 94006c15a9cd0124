"""The service form on the report page: current service and zone, re-routing with CSRF, French errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import Event, Outbox, Report
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email
from tests.support.web import signed_in
from tests.test_routing import ROUTED
from tests.test_understanding import ISSUE_EXAMPLE, ingest
from web import create_app


@pytest.fixture
def client(make_config: Callable[..., Config]) -> tuple[FlaskClient, str]:
    res = build_resources(make_config(routing=ROUTED), mailer=ConsoleMailer())
    report = ingest(res, citizen_email(subject="Lampadaire", body=ISSUE_EXAMPLE))
    return signed_in(create_app(res.config, resources=res), "admin"), report.tracking_number


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _report(c: FlaskClient, number: str) -> Report:
    with c.application.extensions["guichet"].factory() as s:
        return s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()  # type: ignore[no-any-return]


def _rows(c: FlaskClient, model: Any, **where: Any) -> list[Any]:
    with c.application.extensions["guichet"].factory() as s:
        return list(s.execute(select(model).filter_by(**where)).scalars())


def test_page_shows_service_zone_and_the_choices(client: tuple[FlaskClient, str]) -> None:
    c, number = client
    page = c.get(f"/signalements/{number}").get_data(as_text=True)
    assert "<dt>Service</dt><dd>Éclairage public" in page and "zone : Secteur Est (11e, 12e, 20e)" in page
    assert f'action="/signalements/{number}/service"' in page
    assert '<option value="proprete-nord" >Propreté — secteur nord</option>' in page
    assert '<option value="eclairage" selected>' in page


def test_agent_reroutes_with_csrf_and_the_new_referents_are_told(client: tuple[FlaskClient, str]) -> None:
    c, number = client
    token = _token(c.get(f"/signalements/{number}").get_data(as_text=True))
    refused = c.post(f"/signalements/{number}/service", data={"service": "voirie"})
    assert refused.status_code == 400 and _report(c, number).service == "eclairage"  # no CSRF token

    done = c.post(
        f"/signalements/{number}/service",
        data={"service": "voirie", "note_service": "Le mât est tombé", "csrf_token": token},
    )
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/signalements/{number}")
    page = c.get(f"/signalements/{number}").get_data(as_text=True)
    assert "Signalement réaffecté au service « Voirie ». 1 message(s) aux référents en cours d&#39;envoi." in page
    report = _report(c, number)
    assert report.service == "voirie" and report.zone == "est"
    events = _rows(c, Event, report_id=report.id, action="rerouted")
    assert [e.detail for e in events] == [
        {"from": "eclairage", "to": "voirie", "note": "Le mât est tombé", "notified": 1}
    ]
    assert events[0].actor.startswith("admin-")  # the signed-in agent
    assert [o.recipient for o in _rows(c, Outbox, report_id=report.id, kind="referent:voirie")] == [
        "voirie@mairie.localhost"
    ]

    same = c.post(f"/signalements/{number}/service", data={"service": "voirie", "csrf_token": token})
    assert same.status_code == 303
    assert "déjà affecté au service « Voirie »" in c.get(f"/signalements/{number}").get_data(as_text=True)
    assert len(_rows(c, Event, report_id=report.id, action="rerouted")) == 1


def test_unknown_service_is_refused_in_french(client: tuple[FlaskClient, str]) -> None:
    c, number = client
    token = _token(c.get(f"/signalements/{number}").get_data(as_text=True))
    bad = c.post(f"/signalements/{number}/service", data={"service": "<b>nimporte</b>", "csrf_token": token})
    assert bad.status_code == 303
    page = c.get(f"/signalements/{number}").get_data(as_text=True)
    assert "Service inconnu : « &lt;b&gt;nimporte&lt;/b&gt; ». Choisissez un service de la liste." in page
    assert _report(c, number).service == "eclairage"
    missing = c.post("/signalements/2026-99999/service", data={"service": "voirie", "csrf_token": token})
    assert missing.status_code == 404


def test_page_still_shows_when_the_zones_file_disappears(make_config: Callable[..., Config], tmp_path: Any) -> None:
    import shutil

    from tests.test_routing import DEMO_ZONES

    zones = tmp_path / "zones.geojson"
    shutil.copy(DEMO_ZONES, zones)
    res = build_resources(make_config(routing={**ROUTED, "zones_file": str(zones)}), mailer=ConsoleMailer())
    number = ingest(res, citizen_email(subject="Lampadaire", body=ISSUE_EXAMPLE)).tracking_number
    c = signed_in(create_app(res.config, resources=res), "admin")
    zones.unlink()  # a broken deployment: the page shows the zone's code instead of failing
    page = c.get(f"/signalements/{number}")
    assert page.status_code == 200 and "zone : est" in page.get_data(as_text=True)
