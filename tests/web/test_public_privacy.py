"""What anonymous outputs show (issue 12, P2 and P3): the anonymous Open311 API and the citizen's /suivi page."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from intake.models import Outbox, Report
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import store_raw
from intake.reports.statuses import change_status
from intake.runtime.resources import Resources
from tests.support.web import signed_in
from tests.web.test_open311 import API, client, filed, res  # noqa: F401  (fixtures)

HOSTILE_ADDRESS = "12 avenue Victoria, chez Mme Josiane Roux, 06 11 22 33 44, digicode 4521B, josiane@example.fr"
SECRETS = ("Josiane", "Roux", "4521B", "josiane@", "06 11 22", "0611223344", "+33611223344")


def staff_entry(res: Resources, **fields: Any) -> Report:  # noqa: F811
    payload = {"text": "Nid-de-poule dangereux.", "category": "voirie", "location_source": "agent", **fields}
    raw_id, _ = store_raw(
        res.factory,
        channel="telephone",
        source="back-office",
        external_key=f"saisie:{uuid.uuid4().hex}",
        payload=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
    )
    outcome = process_raw(res, raw_id, worker="back-office")
    assert outcome.status == "processed", outcome.error
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        return report


def public_texts(client: FlaskClient, report: Report) -> list[str]:  # noqa: F811
    return [
        client.get(f"{API}/requests.json").get_data(as_text=True),
        client.get(f"{API}/requests.xml").get_data(as_text=True),
        client.get(f"{API}/requests/{report.public_id}.json").get_data(as_text=True),
        client.get(f"/suivi/{report.public_token}").get_data(as_text=True),
    ]


def test_staff_typed_address_is_never_published(client: FlaskClient, res: Resources) -> None:  # noqa: F811
    """P2: the address reception typed (with a name, a phone, a door code) stays in the back office."""
    report = staff_entry(res, address=HOSTILE_ADDRESS, lat="48.857876", lon="2.347579")
    assert "4521B" in (report.address_label or "")  # the agents keep what was typed
    for text in public_texts(client, report):
        assert not [s for s in SECRETS if s in text], text


def test_app_address_string_is_never_published(client: FlaskClient, res: Resources) -> None:  # noqa: F811
    """P2: an app's `address_string` is free text typed by a person; the API shows the reference street only."""
    report = filed(client, res, address_string=HOSTILE_ADDRESS, email=None)
    assert report.address_label and "Roux" in report.address_label
    for text in public_texts(client, report):
        assert not [s for s in SECRETS if s in text], text


def test_public_place_is_the_reference_street(client: FlaskClient, res: Resources) -> None:  # noqa: F811
    """P2: a report placed from its text shows the commune's street name, without the house number."""
    report = filed(client, res, lat=None, long=None, address_string="5 avenue de l'Opéra, Paris", email=None)
    assert report.address_voie
    item = client.get(f"{API}/requests/{report.public_id}.json").get_json()[0]
    assert item["address"] == report.address_voie and not re.search(r"\d", item["address"])
    assert str(escape(report.address_voie)) in client.get(f"/suivi/{report.public_token}").get_data(as_text=True)


def test_tracking_numbers_open_nothing_public(client: FlaskClient, res: Resources) -> None:  # noqa: F811
    """P2: sequential numbers cannot be counted through; the public id is unguessable."""
    first, second = filed(client, res), filed(client, res, device_id="autre")
    for report in (first, second):
        assert client.get(f"{API}/requests/{report.tracking_number}.json").status_code == 404
        assert client.get(f"{API}/requests.json?service_request_id={report.tracking_number}").get_json() == []
        assert client.get(f"/suivi/{report.tracking_number}").status_code == 404
        assert len(report.public_id) >= 16 and report.tracking_number not in report.public_id
    assert first.public_id != second.public_id
    listed = client.get(f"{API}/requests.json").get_data(as_text=True)
    assert first.tracking_number not in listed and second.tracking_number not in listed


def test_status_note_goes_to_the_reporters_message_only(client: FlaskClient, res: Resources) -> None:  # noqa: F811
    """P3: the agent's note goes into the message to the reporters, and the form says it is shown neither on
    their tracking page nor in the public API; both agree."""
    report = filed(client, res)
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        change_status(s, res.config, row, "en_cours", actor="agent", note="Rappeler Mme Martin au 06 11 22 33 44")
    with res.factory() as s:
        bodies = (
            s.execute(select(Outbox.body).where(Outbox.report_id == report.id, Outbox.kind == "status_en_cours"))
            .scalars()
            .all()
        )
    assert bodies and all("Rappeler Mme Martin" in b for b in bodies)  # the reporters get it
    page = client.get(f"/suivi/{report.public_token}").get_data(as_text=True)
    api = client.get(f"{API}/requests.json").get_data(as_text=True)
    for shown in (page, api):
        assert "Rappeler" not in shown and "06 11 22" not in shown
    assert "En cours" in page and res.config.statuses.label("en_cours") in api
    form = signed_in(client.application, "admin").get(f"/signalements/{report.tracking_number}")
    assert (
        "jointe au message qui leur est envoyé, elle n'apparaît ni sur leur page de suivi ni dans l'API"
        in form.get_data(as_text=True)
    )
